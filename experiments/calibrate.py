"""Fit the click model on a log and write a scenario preset that runs like any other.

    python -m experiments.calibrate data=../shared/data/obd/random/all name=obd
    python -m experiments.calibrate data=../shared/data/obd/random/men name=obd_men
    python -m experiments.calibrate data=../shared/data/obd/random/women name=obd_women
    python -m experiments.calibrate data=my_log.parquet name=shop format=events

Writes ``recenv/presets/calibrations/<name>.json`` (the fitted model, with its estimated spreads
and the item spread's 95% profile-likelihood interval) and ``recenv/presets/env/<name>.yaml`` (sizes
from the fit: items, categories, one segment per user profile, slate positions; every
dynamics a log of single impressions cannot identify switched off, listed in its header),
after which ``env=<name>`` works everywhere (``experiments.train``, ``make_config``).
``out=DIR`` writes both into DIR instead (the preset then names its JSON by path), for
trying a calibration without touching the shipped scenarios. Existing files (a shipped
preset, an earlier calibration) are kept unless ``overwrite=true``; a name is one plain word
(``experiments.preset_files``), so nothing is written outside those folders.

``kind=`` names what the log holds and so what can be fitted: ``impressions`` (the
default: one row per shown item with its click, as the Open Bandit Dataset) fits the click
model; further kinds (session logs) add their own entry to ``KINDS``.
"""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import yaml

from experiments.preset_files import check_scenario_name, parse_flag, refuse_existing
from recenv.offline.calibration import encode_log, fit_click_model
from recenv.offline.data import LoggedImpressions, load_event_log, load_obd
from recenv.offline.random_effects import profile_interval
from recenv.sim.calibrated import CALIBRATION_DIR, ClickModel
from recenv.sim.config import PRESET_DIR

# What a log of single impressions (one click or none per shown item, the items of an
# impression not even regrouped) cannot identify: each is set to its neutral value, so a
# shopper's next step looks like this one and any policy's CTR in the env is the click
# model's, step after step. (section, field) -> (neutral value, what it would do).
UNIDENTIFIED: dict[tuple[str, str], tuple[float, str]] = {
    ("choice", "fatigue_weight"): (0.0, "fatigue lowering the clicks of repeated categories"),
    ("dynamics", "fatigue_per_exposure"): (0.0, "fatigue building up per shown item"),
    ("dynamics", "boredom"): (0.0, "patience lost to tiring categories"),
    ("dynamics", "patience_decay"): (0.0, "patience lost per step (visits last max_steps)"),
    ("dynamics", "patience_per_quality"): (0.0, "good clicks and clickbait moving patience"),
    ("dynamics", "purchase_patience"): (0.0, "purchases restoring patience"),
    ("dynamics", "taste_drift_click"): (0.0, "tastes drifting toward clicked items"),
    ("dynamics", "taste_drift_purchase"): (0.0, "tastes drifting toward bought items"),
    ("dynamics", "satiation"): (0.0, "purchases satiating a category's need"),
    ("dynamics", "complement_boost"): (0.0, "purchases raising the next category's need"),
    ("shoppers", "taste_noise"): (0.0, "individual tastes beyond the user profile"),
    ("shoppers", "intent_probability"): (0.0, "search queries"),
    ("shoppers", "returning_fraction"): (0.0, "arrival histories"),
}


def _unidentified(section: str) -> dict[str, float]:
    return {key: value for (part, key), (value, _) in UNIDENTIFIED.items() if part == section}


def load_log(data: str, log_format: str = "obd") -> LoggedImpressions:
    """An OBD campaign folder (``format=obd``) or a CSV/Parquet event log (``events``)."""
    if log_format == "obd":
        return load_obd(data)
    if log_format == "events":
        return load_event_log(data)
    raise ValueError(f"format = {log_format!r}; choose 'obd' or 'events'")


def preset_for(model: ClickModel, name: str) -> dict:
    """The env preset of a calibrated world: sizes from the fit, unidentified dynamics off."""
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
        "shoppers": {"n_segments": len(model.profiles), **_unidentified("shoppers")},
        "choice": {"no_click_utility": 0.0, **_unidentified("choice")},
        "funnel": {"reward_click": 1.0, "reward_cart": 0.0, "reward_purchase": 0.0},
        "dynamics": _unidentified("dynamics"),
    }


def preset_header(model: ClickModel, calibration: Path) -> str:
    """The preset's comment: what was fitted (with the spreads), what was switched off, why."""
    spreads = ", ".join(
        f"{factor} {spread:.3f}"
        for factor, spread in zip(model.factors, model.spreads, strict=True)
    )
    ci = model.item_spread_ci
    lines = [
        f"Calibrated on {model.source} ({model.n_rows} rows, {model.n_clicks} clicks) by "
        f"`python -m experiments.calibrate`; the click model is in {calibration.name}.",
        "Fitted (empirical Bayes: logistic model, crossed random effects, Laplace marginal "
        "likelihood): item appeal, position utilities, one segment per user profile (its share "
        "and taste offset).",
        f"Estimated spreads (SD of the effects, logit): {spreads}"
        + (f"; the item spread's 95% profile CI is [{ci[0]:.2f}, {ci[1]:.2f}]." if ci else "."),
        "Switched off, because one click or none per shown item (impressions not regrouped into "
        "visits) cannot identify how a shopper changes within a visit:",
    ]
    lines += [
        f"  {part}.{key} = {value:g}: no {why}"
        for (part, key), (value, why) in UNIDENTIFIED.items()
    ]
    lines += [
        "So every step clicks as the click model says, and visits last max_steps (session "
        "length is not in the log either). Not in the world, as the fit has none of them: "
        "quality, prices, clickbait, the popularity prior. The funnel (cart, checkout) keeps "
        "the default values but is not fitted, earns no reward and feeds nothing back into "
        "clicks (a budget, median 20 items, could end a visit only once spent). Reward = clicks.",
    ]
    wrapped = []
    for line in lines:  # listed fields keep their indent, continued lines indent further
        wrapped += textwrap.wrap(line, 92, subsequent_indent="    " if line[0] == " " else "")
    return "".join(f"# {line}\n" for line in wrapped)


def scenario_paths(name: str, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Where the calibration JSON and the env preset of ``name`` go.

    By default where ``env=<name>`` finds them (``recenv/presets/calibrations``,
    ``recenv/presets/env``);
    with ``out_dir`` both go there.
    """
    check_scenario_name(name)
    if out_dir is None:
        return CALIBRATION_DIR / f"{name}.json", PRESET_DIR / f"{name}.yaml"
    folder = Path(out_dir).resolve()
    return folder / f"{name}.json", folder / f"{name}.yaml"


def write_scenario(
    model: ClickModel, name: str, out_dir: str | Path | None = None, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write the calibration JSON and the env preset; return their paths.

    With ``out_dir`` the preset names its JSON by path. Existing files are kept (ValueError)
    unless ``overwrite``.
    """
    calibration, preset = scenario_paths(name, out_dir)
    refuse_existing(name, (calibration, preset), overwrite)
    reference = name if out_dir is None else str(calibration)
    model.save(calibration)
    body = yaml.safe_dump(preset_for(model, reference), sort_keys=False)
    preset.write_text(preset_header(model, calibration) + body)
    return calibration, preset


def calibrate_impressions(
    data: str | Path,
    name: str | None,
    log_format: str,
    out_dir: str | Path | None,
    overwrite: bool = False,
) -> tuple[ClickModel, Path, Path]:
    """Fit the click model (with the item spread's profile interval); write its scenario.

    The name and its targets are checked before the fit, which takes the longest.
    """
    log = load_log(str(data), log_format)
    name = name or log.name
    refuse_existing(name, scenario_paths(name, out_dir), overwrite)
    model = fit_click_model(log)
    interval = profile_interval(encode_log(log).cells(), factor=0)
    model = dataclasses.replace(model, item_spread_ci=interval)
    calibration, preset = write_scenario(model, name, out_dir, overwrite)
    return model, calibration, preset


# kind -> fit and write: (data, name, format, out, overwrite) -> (model, its JSON, its preset)
KINDS: dict[str, Callable[..., tuple[ClickModel, Path, Path]]] = {
    "impressions": calibrate_impressions,
}


def calibrate(
    data: str | Path,
    name: str | None = None,
    log_format: str = "obd",
    out_dir: str | Path | None = None,
    kind: str = "impressions",
    overwrite: bool = False,
) -> tuple[ClickModel, Path, Path]:
    """Fit the model of ``kind`` on the log at ``data`` and write its scenario."""
    if kind not in KINDS:
        raise ValueError(f"kind = {kind!r} is not allowed; choose one of {sorted(KINDS)}")
    if name is not None:
        check_scenario_name(name)
    return KINDS[kind](data, name, log_format, out_dir, overwrite)


def main(argv: list[str] | None = None) -> None:
    arguments = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    if arguments.get("kind") == "sessions":  # session logs: experiments.calibrate_sessions
        from experiments.calibrate_sessions import main as calibrate_sessions

        calibrate_sessions([f"{key}={value}" for key, value in arguments.items()])
        return
    unknown = set(arguments) - {"data", "name", "format", "out", "kind", "overwrite"}
    if unknown or "data" not in arguments:
        raise SystemExit(
            "usage: python -m experiments.calibrate data=PATH name=NAME [format=obd|events] "
            f"[out=DIR] [kind={'|'.join([*KINDS, 'sessions'])}] [overwrite=false]"
        )
    model, calibration, preset = calibrate(
        arguments["data"],
        arguments.get("name"),
        arguments.get("format", "obd"),
        arguments.get("out"),
        arguments.get("kind", "impressions"),
        parse_flag(arguments, "overwrite"),
    )
    spreads = dict(zip(model.factors, [round(s, 3) for s in model.spreads], strict=True))
    print(f"fitted on {model.n_rows} rows ({model.n_clicks} clicks); spreads {spreads}")
    print(f"item spread {model.item_spread:.3f}, 95% CI {model.item_spread_ci}")
    print(f"position effects {model.position.round(3).tolist()}")
    print(f"wrote {calibration} and {preset}")


if __name__ == "__main__":
    main()
