"""Fidelity: replay a real log through the simulator fitted on it (or on another log).

    python -m experiments.fidelity fit=$OBD/men replay=$OBD/women out=outputs/fidelity.json
    python -m experiments.fidelity fit=$OBD/men replay=$OBD/men split=0.5 out=...  # halves
    python -m experiments.fidelity mode=env env=obd_men replay=$OBD/men out=...

(``OBD=../shared/data/obd/random``.)

``mode=rows`` (the default) fits the click model on log A (``fit``), builds the calibrated
world, and for every row of log B (``replay``: the items and positions it actually showed,
to the users it showed them) takes the simulator's click probability, item by item.
Reports predicted vs observed CTR overall, per position and per decile of item popularity
(impressions in B), each a ratio of sums over rows with a 95% bootstrap CI (rows
resampled, ``recenv.stats.bootstrap``) and the relative error, as JSON; and a calibration
plot (PNG, next to the JSON): observed CTR against predicted, in bins of predicted
probability. With ``split`` the one folder is cut into two disjoint halves by session (fit
on one, replay the other).

``mode=env`` runs the logging policy itself (uniform random slates of the preset's size,
as OBD's Random policy chose them) through the calibrated *environment*, the preset
``env`` in a ``ShoppingVectorEnv`` for whole visits, every dynamics of the step included,
and compares its CTR (overall, per position, per step) with the logged CTR of ``replay``
and its 95% CI (sessions resampled). It adds two policies the log cannot tell apart (its
policy was uniform): one that shows one category all visit long and one that rotates
categories, paired on the same shoppers; in a calibrated env their CTRs must not differ
beyond noise. The plot shows the CTR per step of the three policies against the log's CI.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from experiments import fidelity_env
from experiments.calibrate import load_log, preset_for
from recenv.offline.calibration import fit_click_model, replay_click_probability
from recenv.sim.config import config_from_dict, make_config
from recenv.stats import bootstrap

N_BOOTSTRAP = 1000


def group_figures(
    predicted: np.ndarray, observed: np.ndarray, seed: int | np.random.SeedSequence
) -> dict[str, float | list | None]:
    """Predicted and observed CTR of one group of rows, the relative error, and 95% CIs.

    Each row is one impression, so a CTR is a sum over rows / rows. The three bootstraps
    share one seed, hence the same resampled rows (a paired comparison). The relative
    error's interval is that of ``r = observed / predicted`` (finite on every resample:
    predictions are positive) mapped through the decreasing ``1 / r - 1``; when over 2.5%
    of the resamples have no click, ``r``'s lower bound is 0, the relative error has no
    upper bound and its interval is ``None``.
    """
    n = len(observed)

    def ctr(values: np.ndarray):
        return lambda index: values[index].sum(axis=-1) / n

    def observed_over_predicted(index: np.ndarray) -> np.ndarray:
        return observed[index].sum(axis=-1) / predicted[index].sum(axis=-1)

    predicted_ctr = bootstrap(ctr(predicted), n, seed, N_BOOTSTRAP)
    observed_ctr = bootstrap(ctr(observed), n, seed, N_BOOTSTRAP)
    ratio = bootstrap(observed_over_predicted, n, seed, N_BOOTSTRAP)
    has_clicks = observed_ctr.mean > 0
    return {
        "rows": int(n),
        "clicks": int(observed.sum()),
        "predicted_ctr": predicted_ctr.mean,
        "predicted_ci": [predicted_ctr.ci_low, predicted_ctr.ci_high],
        "observed_ctr": observed_ctr.mean,
        "observed_ci": [observed_ctr.ci_low, observed_ctr.ci_high],
        "relative_error": predicted_ctr.mean / observed_ctr.mean - 1.0 if has_clicks else None,
        "relative_error_ci": (
            [1.0 / ratio.ci_high - 1.0, 1.0 / ratio.ci_low - 1.0] if ratio.ci_low > 0 else None
        ),
    }


def fidelity_report(fit_log, replay_log, items_match: bool, seed: int = 0) -> dict:
    """Fit on ``fit_log``, replay ``replay_log`` through the calibrated simulator."""
    model = fit_click_model(fit_log)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "calibration.json"
        model.save(path)
        preset = preset_for(model, str(path))
        preset.pop("defaults")
        config = config_from_dict(preset)
        predicted = replay_click_probability(config, model, replay_log.frame, items_match)
    frame = replay_log.frame
    observed = frame["click"].to_numpy().astype(float)
    groups = np.random.SeedSequence(seed)  # each group's bootstrap gets the next child seed
    report: dict = {
        "fit": fit_log.name,
        "replay": replay_log.name,
        "items_match": items_match,
        "click_model": {
            "estimation": model.estimation,
            "spreads": dict(zip(model.factors, model.spreads, strict=True)),
            "position_effects": model.position.tolist(),
            "fit_rows": model.n_rows,
            "fit_clicks": model.n_clicks,
        },
        "overall": group_figures(predicted, observed, groups.spawn(1)[0]),
        "per_position": {},
        "per_popularity_decile": {},
    }
    report.update({key: report["overall"][key] for key in ("predicted_ctr", "observed_ctr")})
    report["relative_error"] = report["overall"]["relative_error"]
    for position in sorted(frame["position"].unique()):
        rows = (frame["position"] == position).to_numpy()
        report["per_position"][str(int(position))] = group_figures(
            predicted[rows], observed[rows], groups.spawn(1)[0]
        )
    impressions = frame["item"].map(frame["item"].value_counts())
    ranks = impressions.rank(method="first", pct=True).to_numpy()
    decile = np.minimum((ranks * 10).astype(int), 9)  # 9 = the most shown items
    for value in range(10):
        rows = decile == value
        if rows.any():
            report["per_popularity_decile"][str(value)] = group_figures(
                predicted[rows], observed[rows], groups.spawn(1)[0]
            )
    report["calibration_bins"] = calibration_bins(predicted, observed)
    return report


def calibration_bins(predicted: np.ndarray, observed: np.ndarray, n_bins: int = 5) -> list[dict]:
    """Rows in quantile bins of predicted probability: mean predicted vs observed CTR."""
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, n_bins + 1)))
    if len(edges) == 1:  # one prediction for every row (a constant model): one bin
        edges = np.repeat(edges, 2)
    index = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, len(edges) - 2)
    bins = []
    for value in range(len(edges) - 1):
        rows = index == value
        if rows.any():
            n, clicks = int(rows.sum()), float(observed[rows].sum())
            half_width = 1.96 * np.sqrt(max(clicks, 1.0) * (1 - clicks / n)) / n
            bins.append(
                {
                    "rows": n,
                    "predicted": float(predicted[rows].mean()),
                    "observed": clicks / n,
                    "observed_half_width": float(half_width),
                }
            )
    return bins


def plot_calibration(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = report["calibration_bins"]
    predicted = [b["predicted"] for b in bins]
    observed = [b["observed"] for b in bins]
    errors = [b["observed_half_width"] for b in bins]
    top = max([*predicted, *observed]) * 1.3
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect calibration")
    axis.errorbar(predicted, observed, yerr=errors, fmt="o", capsize=3, label="bins (95% CI)")
    axis.set_xlabel("simulator's predicted CTR")
    axis.set_ylabel("observed CTR in the replayed log")
    axis.set_title(f"fit {report['fit']}, replay {report['replay']}")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    arguments = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    if arguments.get("kind") == "sessions":  # session logs: experiments.fidelity_sessions
        from experiments.fidelity_sessions import main as fidelity_sessions

        return fidelity_sessions([f"{key}={value}" for key, value in arguments.items()])
    mode = arguments.pop("mode", "rows")
    if mode not in MODES:
        raise SystemExit(f"mode = {mode!r} is not allowed; choose one of {sorted(MODES)}")
    return MODES[mode](arguments)


def main_rows(arguments: dict[str, str]) -> dict:
    """``mode=rows``: fit on one log, replay another's rows item by item."""
    allowed = {"fit", "replay", "out", "split", "seed", "format"}
    if set(arguments) - allowed or not {"fit", "replay"} <= set(arguments):
        raise SystemExit(
            "usage: python -m experiments.fidelity fit=DIR replay=DIR out=FILE.json [split=0.5]"
        )
    log_format = arguments.get("format", "obd")
    seed = int(arguments.get("seed", 0))
    fit_log = load_log(arguments["fit"], log_format)
    same_folder = Path(arguments["fit"]).resolve() == Path(arguments["replay"]).resolve()
    if "split" in arguments or same_folder:
        if not same_folder:
            raise SystemExit("split= cuts one log in two: give the same folder to fit and replay")
        fit_log, replay_log = fit_log.split(float(arguments.get("split", 0.5)), seed)
        items_match = True
    else:
        replay_log = load_log(arguments["replay"], log_format)
        items_match = fit_log.items.equals(replay_log.items)
    report = fidelity_report(fit_log, replay_log, items_match, seed)
    out = _write(report, arguments.get("out", "outputs/fidelity.json"), plot_calibration)
    overall = report["overall"]
    print(
        f"fit {report['fit']} -> replay {report['replay']}: predicted CTR "
        f"{overall['predicted_ctr']:.4f}, observed {overall['observed_ctr']:.4f} "
        f"{[round(v, 4) for v in overall['observed_ci']]}, relative error "
        f"{overall['relative_error']:+.1%}"
    )
    for position, figures in report["per_position"].items():
        print(
            f"  position {position}: predicted {figures['predicted_ctr']:.4f}, "
            f"observed {figures['observed_ctr']:.4f}"
        )
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return report


def main_env(arguments: dict[str, str]) -> dict:
    """``mode=env``: the logging policy and two category policies through the whole env."""
    allowed = {"env", "replay", "out", "seed", "format", "shoppers"}
    if set(arguments) - allowed or not {"env", "replay"} <= set(arguments):
        raise SystemExit(
            "usage: python -m experiments.fidelity mode=env env=PRESET replay=DIR "
            "out=FILE.json [shoppers=20000] [seed=0]"
        )
    config = make_config(arguments["env"])
    log = load_log(arguments["replay"], arguments.get("format", "obd"))
    shoppers = int(arguments.get("shoppers", fidelity_env.N_SHOPPERS))
    report = fidelity_env.env_fidelity_report(config, log, shoppers, int(arguments.get("seed", 0)))
    report["env"] = arguments["env"]
    out = _write(
        report, arguments.get("out", "outputs/fidelity_env.json"), fidelity_env.plot_env_fidelity
    )
    logging, policies = report["logging_policy"], report["category_policies"]
    print(
        f"env {arguments['env']} under uniform random slates: CTR "
        f"{_interval(logging['simulated_ctr'])} vs logged {_interval(logging['logged_ctr'])} "
        f"(inside the log's CI: {logging['inside_logged_ci']})"
    )
    print(
        f"  repeat one category {_interval(policies['repeat_one_category'])}, rotate "
        f"{_interval(policies['rotate_categories'])}, paired difference "
        f"{_interval(policies['difference'])}"
    )
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return report


MODES = {"rows": main_rows, "env": main_env}


def _write(report: dict, out: str, plot) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    plot(report, path.with_suffix(".png"))
    return path


def _interval(estimate: dict) -> str:
    return f"{estimate['mean']:.4%} [{estimate['ci_low']:.4%}, {estimate['ci_high']:.4%}]"


if __name__ == "__main__":
    main()
