"""What a uniform-random policy meets in every preset, beside the real logs' figures.

    python benchmarks/preset_rates.py --json benchmarks/results/preset_rates.json
    python benchmarks/preset_rates.py --presets shops --merge --json ...  # add one preset

Per preset, on the same 2,000 evaluation shoppers, under uniform-random recommendations:
CTR (clicks per impression), carts and purchases per click, the share of episodes that buy,
steps per episode and clicks per visit, each with its 95% CI (``recenv.metrics`` and
``recenv.stats``). Real figures beside them: the Open Bandit Dataset's uniform-random CTR
per campaign (``../shared/data/obd/random``: clicks / impressions) and the Taobao shoppers'
cart and purchase per view, sessions with a purchase and events per session
(``recenv.offline.stylized_facts``; Taobao logs hold views, not impressions, so they have no CTR).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.evaluation import evaluate
from agents.random import RandomAgent
from benchmarks.merge import merge_presets
from recenv import make_config
from recenv.offline.data import load_obd
from recenv.offline.data.sessions import TAOBAO_WINDOW, load_taobao
from recenv.offline.stylized_facts import stylized_facts
from recenv.sim.config import available_presets
from recenv.stats import mean_estimate, ratio_estimate

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SKIP = ("large",)  # 100,000 items: the same rates as default, far slower to simulate


def preset_rates(preset: str, shoppers: int, seed: int) -> dict[str, dict[str, float]]:
    config = make_config(preset)
    sessions = evaluate(RandomAgent(config, seed=seed), config, shoppers, seed).sessions
    clicks = sessions["clicks"]
    figures = {
        "ctr": ratio_estimate(clicks, sessions["impressions"]),
        "carts_per_click": ratio_estimate(sessions["carts"], clicks),
        "purchases_per_click": ratio_estimate(sessions["purchases"], clicks),
        "episodes_that_buy": mean_estimate(sessions["converted"]),
        "steps_per_episode": mean_estimate(sessions["steps"]),
        "clicks_per_episode": mean_estimate(clicks),
    }
    return {name: estimate.as_dict() for name, estimate in figures.items()}


def real_rates() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for campaign in ("all", "men", "women"):
        folder = SHARED / "obd" / "random" / campaign
        if folder.is_dir():
            log = load_obd(folder)
            clicks = log.frame["click"].to_numpy(dtype=float)
            out[f"obd_{campaign}"] = {"ctr": mean_estimate(clicks).as_dict()}
    taobao = SHARED / "taobao"
    if taobao.is_dir():
        facts = stylized_facts(load_taobao(taobao, window=TAOBAO_WINDOW))["facts"]
        out["taobao"] = {
            "carts_per_view": _fact(facts["cart_per_view"]),
            "purchases_per_view": _fact(facts["purchase_per_view"]),
            "sessions_that_buy": _fact(facts["sessions_with_purchase"]),
            "events_per_session": _fact(facts["events_per_session"]),
        }
    return out


def _fact(fact: dict) -> dict[str, float]:
    return {"mean": fact["value"], "ci_low": fact["ci_low"], "ci_high": fact["ci_high"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--shoppers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=123_456)
    parser.add_argument("--presets", nargs="+", help="these presets only (default: all)")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other presets already in --json"
    )
    args = parser.parse_args()
    presets = args.presets or [
        p for p in available_presets() if p not in SKIP and not p.startswith("obd")
    ]
    report = {
        "shoppers": args.shoppers,
        "presets": {preset: preset_rates(preset, args.shoppers, args.seed) for preset in presets},
    }
    if not args.merge:  # a merge keeps the file's real rates
        report["real"] = real_rates()
    for preset, figures in report["presets"].items():
        print(f"{preset:>12}: " + "  ".join(f"{k} {v['mean']:.4f}" for k, v in figures.items()))
    print(json.dumps(report.get("real", {}), indent=1)[:800])
    if args.json:
        if args.merge and args.json.exists():
            report = merge_presets(args.json, report, ("shoppers",))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
