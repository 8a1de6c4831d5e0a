"""Fidelity on held-out shoppers: a session-fitted scenario against shoppers it never saw.

    python -m experiments.fidelity kind=sessions env=taobao replay=../shared/data/taobao \\
        out=benchmarks/results/taobao_fidelity.json
    python -m experiments.fidelity_sessions env=taobao replay=../shared/data/taobao out=...

``env`` is a preset fitted by ``experiments.calibrate kind=sessions`` on a training split of
shoppers; ``replay`` is the log, whose held-out split (the same ``holdout`` and ``seed`` the
fit used, read from the preset's report when present) are shoppers the fit never used. The
scenario is simulated under the stated shop-page policy (``agents.shop_page``; random items
when a page holds fewer than 4) for as many
shoppers as were held out, over the log's window, and both logs get the same stylized facts
(``recenv.offline.stylized_facts``, ``fav`` rows dropped: the simulator has none). Per fact:
the real
value with its 95% CI (shoppers resampled), the simulated value, the relative error, and
whether the simulated value is inside the real CI; then the issue's targets (cart and
purchase per view within 15%, median events per session and category switch rate within
20%) and a summary line. A PNG of both distributions goes next to the JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agents.shop_page import ShopPagePolicy
from experiments.session_calibration import DAY, without_favourites
from recenv.offline.data.sessions import TAOBAO_WINDOW, load_taobao
from recenv.offline.data.simulated_sessions import simulate_session_log
from recenv.offline.stylized_facts import stylized_facts
from recenv.sim.calibrated import CALIBRATION_DIR
from recenv.sim.config import make_config

TARGETS = {  # fact -> largest allowed |relative error| (issue 10)
    "cart_per_view": 0.15,
    "purchase_per_view": 0.15,
    "events_per_session_median": 0.20,
    "category_switch_rate": 0.20,
}
ALLOWED = {"kind", "env", "replay", "out", "holdout", "seed", "shoppers"}


def compare(real: dict[str, Any], simulated: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every scalar fact (and the median events per session) of both logs, side by side."""
    rows: dict[str, dict[str, Any]] = {}
    pairs = dict(real["facts"].items())
    for name, fact in pairs.items():
        other = simulated["facts"].get(name)
        if fact is None or fact.get("value") is None or other is None or other["value"] is None:
            continue
        rows[name] = _row(fact, other["value"])
    quantiles = real["distributions"]["events_per_session_quantiles"]
    median = quantiles["q"].index(0.5)
    rows["events_per_session_median"] = _row(
        {key: quantiles[key][median] for key in ("value", "ci_low", "ci_high")},
        simulated["distributions"]["events_per_session_quantiles"]["value"][median],
    )
    return rows


def _row(real: dict[str, float], simulated: float) -> dict[str, Any]:
    value = real["value"]
    error = (simulated - value) / value if value else None
    return {
        "real": value,
        "real_ci": [real["ci_low"], real["ci_high"]],
        "simulated": simulated,
        "relative_error": error,
        "inside_real_ci": bool(real["ci_low"] <= simulated <= real["ci_high"]),
    }


def page_policy(config, seed: int) -> ShopPagePolicy:
    """The shop-page policy; a page too small for its parts (one item, as in ``default``) is
    random."""
    if config.slate_size >= 4:
        return ShopPagePolicy(config, seed=seed)
    return ShopPagePolicy(config, seed=seed, recent=0, similar=0)


def fidelity_sessions(
    env: str, replay: str | Path, holdout: float, seed: int, shoppers: int | None = None
) -> dict[str, Any]:
    """Facts of the held-out real shoppers beside the scenario's (see the module docstring)."""
    log = load_taobao(replay, window=TAOBAO_WINDOW)
    held_out, _ = log.split_by_user(holdout, seed)
    real = stylized_facts(without_favourites(held_out))
    config = make_config(env)
    n_shoppers = shoppers or held_out.n_users
    days = (TAOBAO_WINDOW[1] - TAOBAO_WINDOW[0]) / DAY
    simulated_log = simulate_session_log(config, page_policy(config, seed), n_shoppers, seed)
    simulated = stylized_facts(simulated_log, window=(0, days * DAY))
    rows = compare(real, simulated)
    targets = {
        name: {
            "allowed": allowed,
            "relative_error": rows[name]["relative_error"],
            "met": rows[name]["relative_error"] is not None
            and abs(rows[name]["relative_error"]) <= allowed,
        }
        for name, allowed in TARGETS.items()
    }
    inside = sum(row["inside_real_ci"] for row in rows.values())
    return {
        "env": env,
        "replay": str(replay),
        "holdout": holdout,
        "seed": seed,
        "held_out_users": held_out.n_users,
        "simulated_shoppers": n_shoppers,
        "policy": "shop_page (recently viewed + similar + random items; agents/shop_page.py)",
        "facts": rows,
        "targets": targets,
        "summary": f"{inside} of {len(rows)} facts inside the real 95% CI; "
        f"{sum(t['met'] for t in targets.values())} of {len(targets)} targets met",
        "real": real,
        "simulated": simulated,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    arguments = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    unknown = sorted(set(arguments) - ALLOWED)
    if unknown or "env" not in arguments or "replay" not in arguments:
        raise SystemExit(
            f"unknown arguments {unknown}; usage: python -m experiments.fidelity kind=sessions "
            "env=PRESET replay=LOG [out=FILE.json holdout=0.3 seed=0 shoppers=N]"
        )
    env = arguments["env"]
    fitted = CALIBRATION_DIR / f"{env}_sessions.json"
    defaults = json.loads(fitted.read_text()) if fitted.is_file() else {}
    report = fidelity_sessions(
        env,
        arguments["replay"],
        float(arguments.get("holdout", defaults.get("holdout", 0.3))),
        int(arguments.get("seed", defaults.get("seed", 0))),
        int(arguments["shoppers"]) if "shoppers" in arguments else None,
    )
    out = Path(arguments.get("out", f"outputs/fidelity_{env}.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    from experiments.stylized_facts import plot_comparison

    plot_comparison(report["real"], report["simulated"], out.with_suffix(".png"))
    for name, row in report["facts"].items():
        error = "" if row["relative_error"] is None else f"{row['relative_error']:+.0%}"
        print(
            f"  {name:<28} real {row['real']:.4g} [{row['real_ci'][0]:.4g}, "
            f"{row['real_ci'][1]:.4g}]  simulated {row['simulated']:.4g}  {error}"
        )
    print(report["summary"])
    return report


if __name__ == "__main__":
    main()
