"""What the Open Bandit Dataset samples can tell: estimated spreads, held-out fit, power.

    python benchmarks/obd_click_models.py --json benchmarks/results/obd_click_models.json
    python benchmarks/obd_click_models.py --replicates 20 --json /tmp/quick.json  # a quick look

(about 25 minutes, on one core of a busy 2-core machine, with the default 100 replicates.)

Per campaign of ``--data`` (all, men, women):

1. **Spreads.** The empirical-Bayes click model (``recenv.offline.calibration``): every factor's
   estimated spread (SD of its effects, logit), the item spread's 95% profile-likelihood
   interval and the likelihood-ratio statistic against no item effects; beside it the
   L2 penalty the former 5-fold cross-validation picks on its grid (at the grid's edge).
2. **Held-out log-likelihood** per row, 5 folds by session (spreads re-estimated in every
   fold; averaged over 5 draws of the folds), of the fitted model and of the constant CTR,
   and their difference with a 95% CI (sessions resampled, ``recenv.stats``).
3. **Power** by parametric bootstrap: logs simulated from the fitted model (its position
   and user effects, user profiles and shares; uniform random slates) with item effects
   drawn ``N(0, s^2)`` and the intercept set so the expected CTR is the logged one; each is
   refitted and ``s = 0`` rejected when the likelihood ratio exceeds the 5% critical
   value of its boundary null (``chi2_0 / 2 + chi2_1 / 2``: 2.71). Sizes: the 10,000 rows
   of the sample (with ``s = 0``, the test's actual size), more rows, the Random-policy
   rows of the full dataset (Table 1 of Saito et al., as quoted in the data README) and,
   were all ~26M rows of both policies usable, 26M split over the campaigns in the
   Random rows' proportions (an assumption: the BTS rows per campaign are not quoted).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import optimize

from recenv.offline.calibration import (
    N_FOLDS,
    EncodedLog,
    encode_log,
    fit_click_model,
    held_out_log_likelihood,
)
from recenv.offline.data import load_obd
from recenv.offline.random_effects import (
    BinomialCells,
    boundary_critical_value,
    fit_random_effects,
    likelihood_ratio,
    profile_interval,
)
from recenv.sim.calibrated import ClickModel
from recenv.stats import mean_estimate, ratio_estimate

CAMPAIGNS = ("all", "men", "women")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "obd" / "random"
FORMER_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)  # the former CV grid of C
FULL_RANDOM_ROWS = {"all": 1_374_327, "men": 452_949, "women": 864_585}
ALL_ROWS = 26_000_000  # "about 26M rows": all campaigns, both logging policies
POWER_SPREADS = (0.0, 0.25, 0.5, 1.0)  # item spreads tried on 10,000 rows
POWER_ROWS = (30_000, 100_000, 300_000)  # more rows at the spread of interest
SPREAD_OF_INTEREST = 0.5
HELD_OUT_REPEATS = 5  # draws of the 5 folds


def campaign_figures(folder: Path, replicates: int, seed: int) -> dict:
    """Spreads, held-out log-likelihood and power of one campaign (the module docstring)."""
    log = load_obd(folder)
    encoded = encode_log(log)
    cells = encoded.cells()
    fit = fit_random_effects(cells)
    low, high = profile_interval(cells, 0, fit)
    model = fit_click_model(log)
    former = fit_click_model(log, cs=FORMER_GRID, seed=seed)
    chosen_c = former.item_spread**2
    return {
        "rows": len(encoded.clicks),
        "clicks": int(encoded.clicks.sum()),
        "ctr": float(encoded.clicks.mean()),
        "spreads": dict(zip(model.factors, model.spreads, strict=True)),
        "item_spread": {"estimate": model.item_spread, "ci_low": low, "ci_high": high},
        "item_likelihood_ratio": likelihood_ratio(cells, 0, fit),
        "position_effects": model.position.tolist(),
        "former_cross_validated_l2": {
            "grid_c": list(FORMER_GRID),
            "chosen_c": chosen_c,
            "at_grid_edge": bool(
                np.isclose(chosen_c, min(FORMER_GRID)) or np.isclose(chosen_c, max(FORMER_GRID))
            ),
        },
        "held_out": held_out_figures(encoded, seed),
        "power": power_figures(model, log.name, replicates, seed),
    }


def held_out_figures(encoded: EncodedLog, seed: int, repeats: int = HELD_OUT_REPEATS) -> dict:
    """Per-row out-of-fold log-likelihood of model and constant, and the paired difference.

    Averaged over ``repeats`` draws of the 5 folds (a fold's few clicks make one draw
    noisy), then sessions resampled for the CIs.
    """
    draws = [held_out_log_likelihood(encoded, seed + repeat) for repeat in range(repeats)]
    model = np.mean([draw[0] for draw in draws], axis=0)
    constant = np.mean([draw[1] for draw in draws], axis=0)
    _, session = np.unique(encoded.sessions, return_inverse=True)
    session = session.ravel()

    def per_session(values: np.ndarray) -> np.ndarray:
        return np.bincount(session, weights=values)

    rows = per_session(np.ones(len(model)))
    difference = ratio_estimate(per_session(model - constant), rows, seed)
    return {
        "folds": N_FOLDS,
        "fold_draws": repeats,
        "model_per_row": ratio_estimate(per_session(model), rows, seed).as_dict(),
        "constant_per_row": ratio_estimate(per_session(constant), rows, seed).as_dict(),
        "difference_per_row": difference.as_dict(),
        "difference_total": float((model - constant).sum()),
    }


def simulate_cells(
    model: ClickModel, item_spread: float, n_rows: int, ctr: float, rng: np.random.Generator
) -> BinomialCells:
    """A uniform-random log of ``n_rows`` from ``model`` with item effects ``N(0, s^2)``.

    Rows are (profile, item, position) cells with multinomial counts (profile shares x
    uniform items x uniform positions); the intercept makes the expected CTR ``ctr``.
    """
    n_profiles, n_items, n_positions = len(model.profiles), model.n_items, model.n_positions
    share = model.profile_share[:, None, None] * np.full((1, n_items, n_positions), 1.0)
    share = (share / share.sum()).ravel()
    item_effect = rng.normal(0.0, item_spread, n_items) if item_spread > 0 else np.zeros(n_items)
    offset = model.user_offset(model.profiles)
    logit = (
        item_effect[None, :, None] + model.position[None, None, :] + offset[:, None, None]
    ).ravel()

    def ctr_gap(intercept: float) -> float:
        return share @ (1.0 / (1.0 + np.exp(-(intercept + logit)))) - ctr

    intercept = optimize.brentq(ctr_gap, -30.0, 30.0)
    counts = rng.multinomial(n_rows, share)
    clicks = rng.binomial(counts, 1.0 / (1.0 + np.exp(-(intercept + logit))))
    profile, item, position = np.meshgrid(
        np.arange(n_profiles), np.arange(n_items), np.arange(n_positions), indexing="ij"
    )
    levels = np.column_stack([item.ravel(), position.ravel(), model.profiles[profile.ravel()]])
    sizes = (n_items, n_positions, *(len(values) for values in model.user_levels))
    keep = counts > 0
    return BinomialCells(
        levels[keep], counts[keep].astype(float), clicks[keep].astype(float), sizes
    )


def detection(
    model: ClickModel, item_spread: float, n_rows: int, ctr: float, replicates: int, seed: int
) -> dict:
    """Share of simulated logs in which the likelihood-ratio test finds item effects."""
    rng = np.random.default_rng([seed, n_rows, round(item_spread * 1000)])
    critical = boundary_critical_value(0.05)
    ratios = np.array(
        [
            likelihood_ratio(simulate_cells(model, item_spread, n_rows, ctr, rng), factor=0)
            for _ in range(replicates)
        ]
    )
    detected = mean_estimate((ratios > critical).astype(float), seed)
    return {
        "rows": n_rows,
        "item_spread": item_spread,
        "replicates": replicates,
        "detection_rate": detected.as_dict(),
        "median_likelihood_ratio": float(np.median(ratios)),
    }


def power_figures(model: ClickModel, campaign: str, replicates: int, seed: int) -> dict:
    """Detection rates at 10,000 rows (several spreads) and at more rows (spread 0.5)."""
    ctr = model.n_clicks / model.n_rows
    random_share = FULL_RANDOM_ROWS[campaign] / sum(FULL_RANDOM_ROWS.values())
    sizes = {
        "sample": [detection(model, s, model.n_rows, ctr, replicates, seed) for s in POWER_SPREADS],
        "more_rows": [
            detection(model, SPREAD_OF_INTEREST, n, ctr, max(replicates // 2, 1), seed)
            for n in POWER_ROWS
        ],
        "full_random_policy": detection(
            model,
            SPREAD_OF_INTEREST,
            FULL_RANDOM_ROWS[campaign],
            ctr,
            max(replicates // 20, 1),
            seed,
        ),
        "all_26m_rows_share": detection(
            model,
            SPREAD_OF_INTEREST,
            round(ALL_ROWS * random_share),
            ctr,
            max(replicates // 50, 1),
            seed,
        ),
    }
    return {"ctr": ctr, "critical_value": boundary_critical_value(0.05), **sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the campaign folders")
    parser.add_argument(
        "--json", type=Path, default=Path("benchmarks/results/obd_click_models.json")
    )
    parser.add_argument("--replicates", type=int, default=100, help="simulated logs per size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    report = {
        "command": "python benchmarks/obd_click_models.py "
        + f"--replicates {args.replicates} --seed {args.seed}",
        "assumptions": {
            "full_random_policy_rows": FULL_RANDOM_ROWS,
            "all_rows": ALL_ROWS,
            "all_rows_split": "26M over the campaigns in the Random-policy rows' proportions",
            "ctr": "the sample's logged CTR at every size",
            "test": "likelihood ratio of item spread 0 vs free, 5% level, boundary null",
        },
        "campaigns": {},
    }
    for campaign in CAMPAIGNS:
        figures = campaign_figures(args.data / campaign, args.replicates, args.seed)
        report["campaigns"][campaign] = figures
        spread, held = figures["item_spread"], figures["held_out"]["difference_per_row"]
        power = figures["power"]["sample"][POWER_SPREADS.index(SPREAD_OF_INTEREST)]
        print(
            f"{campaign}: item spread {spread['estimate']:.3f} [{spread['ci_low']:.3f}, "
            f"{spread['ci_high']:.3f}], held-out model - constant {held['mean']:+.2e} "
            f"[{held['ci_low']:+.2e}, {held['ci_high']:+.2e}] per row, spread 0.5 detected "
            f"{power['detection_rate']['mean']:.0%} of the time on {power['rows']:,} rows"
        )
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json} in {report['seconds']} s")


if __name__ == "__main__":
    main()
