"""Fit a scenario on real session logs (``python -m experiments.calibrate kind=sessions ...``).

    python -m experiments.calibrate kind=sessions data=../shared/data/taobao name=taobao
    python -m experiments.calibrate_sessions data=../shared/data/taobao name=taobao \\
        holdout=0.3 shoppers=300 evaluations=150 out=outputs/calibration

Fits on the shoppers of a training split (by user id; ``holdout`` of them are kept out for
``experiments.fidelity kind=sessions``) what the log identifies (see
``experiments.session_calibration``: the return model by likelihood, the browsing dynamics
by simulated method of moments under the shop-page policy) and writes the preset
``recenv/presets/env/<name>.yaml`` (or into ``out``) with every fitted value, its estimator, and the
parameters the log cannot identify, plus ``recenv/presets/calibrations/<name>_sessions.json`` (or in
``out``) with the targets, the
simulated moments, the fit's trace summary and the return model with 95% CIs.
An existing preset or report (shipped or earlier) is never overwritten unless
``overwrite=true``, and a name is one plain word (``experiments.preset_files``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from experiments import session_calibration as fitting
from experiments.preset_files import check_scenario_name, parse_flag, refuse_existing
from recenv.offline import returns
from recenv.offline.data.sessions import TAOBAO_WINDOW, load_taobao
from recenv.offline.stylized_facts import stylized_facts
from recenv.sim.calibrated import CALIBRATION_DIR
from recenv.sim.config import PRESET_DIR, available_presets, make_config

CATALOG = {"n_items": 20_000, "n_categories": 500}  # a shop far larger than one sample sees
PAGE = 10  # items per shop page (slate_size)
MAX_VISITS = 60  # enough for the busiest shoppers of a 9-day window
ALLOWED = {"kind", "data", "name", "holdout", "seed", "shoppers", "evaluations", "out", "overwrite"}


def base_world(model: returns.ReturnModel) -> dict[str, Any]:
    """Everything but the browsing parameters: the page, episodes, catalog, return model."""
    return {
        "preset": "default",
        "slate_size": PAGE,
        "episode": "shopper",
        "max_visits": MAX_VISITS,
        "catalog": dict(CATALOG),
        "shoppers": {
            "returning_fraction": 0.0,  # history comes from the earlier visits of the episode
            "return_bias": model.bias,
            "return_satisfaction": 0.0,
            "return_purchase": model.purchase,
            "return_gap_hours": model.gap_median_hours,
            "return_gap_log_std": model.gap_log_std,
        },
    }


def calibrate_sessions(
    data: str | Path,
    name: str,
    holdout: float = 0.3,
    seed: int = 0,
    shoppers: int = 300,
    evaluations: int = 150,
    out: Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit, write the preset and the report; returns the report."""
    check_scenario_name(name)
    preset_dir = Path(out) if out else PRESET_DIR
    report_dir = Path(out) if out else CALIBRATION_DIR
    target_preset = preset_dir / f"{name}.yaml"
    refuse_existing(name, (target_preset, report_dir / f"{name}_sessions.json"), overwrite)
    log = load_taobao(data, window=TAOBAO_WINDOW)
    held_out, training = log.split_by_user(holdout, seed)
    model = returns.fit_return_model(training, TAOBAO_WINDOW[1])
    intervals = returns.return_model_intervals(training, TAOBAO_WINDOW[1], n_resamples=100)
    real = stylized_facts(fitting.without_favourites(training), n_resamples=200)
    target = fitting.moments(real)
    base = base_world(model)
    days = (TAOBAO_WINDOW[1] - TAOBAO_WINDOW[0]) / fitting.DAY
    fit = fitting.fit_browsing(target, base, shoppers, days, seed, evaluations)
    values = fit["values"]
    preset_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "data": str(data),
        "name": name,
        "holdout": holdout,
        "seed": seed,
        "training_users": training.n_users,
        "held_out_users": held_out.n_users,
        "return_model": model.as_dict(),
        "return_model_ci": {key: estimate.as_dict() for key, estimate in intervals.items()},
        "browsing": fit,
        "not_identified": list(fitting.NOT_IDENTIFIED),
    }
    (report_dir / f"{name}_sessions.json").write_text(json.dumps(report, indent=2))
    target_preset.write_text(preset_text(name, base, values, model, fit, training.n_users))
    make_config(name if preset_dir.resolve() == PRESET_DIR.resolve() else "default")  # loads
    return report


def preset_text(
    name: str,
    base: dict[str, Any],
    values: dict[str, float],
    model: returns.ReturnModel,
    fit: dict[str, Any],
    n_users: int,
) -> str:
    """The preset YAML: fitted values with their estimators; what the log cannot identify."""
    body: dict[str, Any] = {key: value for key, value in base.items() if key != "preset"}
    for section, fields in fitting.overrides_for(values).items():
        body.setdefault(section, {}).update({k: round(v, 4) for k, v in fields.items()})
    body["shoppers"] = {
        k: (round(v, 4) if isinstance(v, float) else v) for k, v in body["shoppers"].items()
    }
    identified = (
        "fitted" if model.identified else "at its cap: the log cannot tell leaving from a long gap"
    )
    header = [
        f"# Fitted on {n_users} real shoppers' session logs by `python -m experiments.calibrate",
        f"# kind=sessions name={name}` (report: {name}_sessions.json).",
        "# A step is one shop page of slate_size items (the shop-page policy composes it when",
        "# simulating logs); a view is a click; a visit is a session; an episode is a shopper's",
        "# life of visits.",
        "# Fitted by likelihood (recenv/offline/returns.py): shoppers.return_bias (P(return) "
        f"{identified}),",
        "#   return_purchase, return_gap_hours, return_gap_log_std.",
        "# Fitted by simulated method of moments (experiments/session_calibration.py, loss "
        f"{fit['loss']:.3f}",
        f"#   after {fit['evaluations']} simulations): "
        + ", ".join(fitting.PARAMETERS[n].path for n in values)
        + ".",
        "# Not identified by the log (defaults kept):",
        *[f"#   {reason}" for reason in fitting.NOT_IDENTIFIED],
        "defaults:",
        "  - base_env",
        "  - _self_",
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    unknown = sorted(set(arguments) - ALLOWED)
    if unknown or "data" not in arguments or "name" not in arguments:
        raise SystemExit(
            f"unknown arguments {unknown}; usage: python -m experiments.calibrate_sessions "
            "data=DIR name=NAME [holdout=0.3 seed=0 shoppers=300 evaluations=150 out=DIR "
            f"overwrite=false]; existing presets: {available_presets()}"
        )
    report = calibrate_sessions(
        arguments["data"],
        arguments["name"],
        float(arguments.get("holdout", 0.3)),
        int(arguments.get("seed", 0)),
        int(arguments.get("shoppers", 300)),
        int(arguments.get("evaluations", 150)),
        Path(arguments["out"]) if "out" in arguments else None,
        parse_flag(arguments, "overwrite"),
    )
    fit = report["browsing"]
    for moment in fitting.MOMENTS:
        print(
            f"  {moment:<24} real {fit['target'][moment]:.4f}  "
            f"simulated {fit['moments'][moment]:.4f}"
        )
    print(f"return model: {report['return_model']}")
    return report


if __name__ == "__main__":
    main()
