"""Fit the click model on a log and write a scenario preset that runs like any other.

    python -m experiments.calibrate data=../shared/data/obd/random/all name=obd
    python -m experiments.calibrate data=my_log.parquet name=shop format=events

Writes ``recenv/calibrations/<name>.json`` (the fitted model) and ``conf/env/<name>.yaml``
(sizes from the fit: items, categories, one segment per user profile, slate positions),
after which ``env=<name>`` works everywhere (``experiments.train``, ``make_config``).
``out=DIR`` writes both into DIR instead (the preset then names its JSON by path), for
trying a calibration without touching the shipped scenarios.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from recenv.calibration import CALIBRATION_DIR, ClickModel, fit_click_model
from recenv.data import LoggedImpressions, load_event_log, load_obd

PRESET_DIR = Path(__file__).resolve().parent.parent / "conf" / "env"


def load_log(data: str, log_format: str = "obd") -> LoggedImpressions:
    """An OBD campaign folder (``format=obd``) or a CSV/Parquet event log (``events``)."""
    if log_format == "obd":
        return load_obd(data)
    if log_format == "events":
        return load_event_log(data)
    raise ValueError(f"format = {log_format!r}; choose 'obd' or 'events'")


def preset_for(model: ClickModel, name: str) -> dict:
    """The env preset of a calibrated world (the sizes must match the fit)."""
    return {
        "defaults": ["base_env", "_self_"],
        "calibration": name,
        "slate_size": model.n_positions,
        "catalog": {
            "n_items": model.n_items,
            "n_categories": model.n_categories,
            "embedding_dim": 1,
            "clickbait_fraction": 0.0,
        },
        # A shopper's taste is its profile's offset exactly: no individual noise around it.
        "shoppers": {
            "n_segments": len(model.profiles),
            "returning_fraction": 0.0,
            "taste_noise": 0.0,
        },
        "choice": {"no_click_utility": 0.0},
        "funnel": {"reward_click": 1.0, "reward_cart": 0.0, "reward_purchase": 0.0},
        "dynamics": {"taste_drift_click": 0.0, "taste_drift_purchase": 0.0},
    }


def write_scenario(
    model: ClickModel, name: str, out_dir: str | Path | None = None
) -> tuple[Path, Path]:
    """Write the calibration JSON and the env preset; return their paths.

    By default they go where ``env=<name>`` finds them (``recenv/calibrations``,
    ``conf/env``); with ``out_dir`` both go there and the preset names its JSON by path.
    """
    if out_dir is None:
        calibration_dir, preset_dir = CALIBRATION_DIR, PRESET_DIR
    else:
        calibration_dir = preset_dir = Path(out_dir).resolve()
    calibration, preset = calibration_dir / f"{name}.json", preset_dir / f"{name}.yaml"
    reference = name if out_dir is None else str(calibration)
    model.save(calibration)
    header = (
        f"# Calibrated on {model.source} ({model.n_rows} rows, {model.n_clicks} clicks) by\n"
        f"# `python -m experiments.calibrate`: the click model is in {calibration.name};\n"
        "# sessions' long-term dynamics (fatigue, patience) keep the default scenario's values:\n"
        "# single logged impressions cannot identify them. Reward = clicks.\n"
    )
    preset.write_text(header + yaml.safe_dump(preset_for(model, reference), sort_keys=False))
    return calibration, preset


def calibrate(
    data: str | Path,
    name: str | None = None,
    log_format: str = "obd",
    out_dir: str | Path | None = None,
) -> tuple[ClickModel, Path, Path]:
    """Fit the click model on the log at ``data`` and write its scenario (``write_scenario``)."""
    log = load_log(str(data), log_format)
    model = fit_click_model(log)
    calibration, preset = write_scenario(model, name or log.name, out_dir)
    return model, calibration, preset


def main(argv: list[str] | None = None) -> None:
    arguments = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    unknown = set(arguments) - {"data", "name", "format", "out"}
    if unknown or "data" not in arguments:
        raise SystemExit(
            "usage: python -m experiments.calibrate data=PATH name=NAME [format=obd] [out=DIR]"
        )
    model, calibration, preset = calibrate(
        arguments["data"],
        arguments.get("name"),
        arguments.get("format", "obd"),
        arguments.get("out"),
    )
    print(f"fitted on {model.n_rows} rows ({model.n_clicks} clicks), C = {model.regularisation}")
    print(f"position effects {model.position.round(3).tolist()}")
    print(f"wrote {calibration} and {preset}")


if __name__ == "__main__":
    main()
