"""Off-policy estimators against the truth on simulated logs (see recenv/offline/ope_validation.py).

python benchmarks/ope_validation.py --json benchmarks/results/ope_validation.json

The defaults (preset ``small``, 100 replicate logs of 30,000 impressions each) are the ones
the README's off-policy evaluation table was made with.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import write_results
from recenv import make_config
from recenv.offline.ope_validation import validate

# One item per step (no slate interaction: the estimators are unbiased); slates of 3 at a
# low CTR like the Open Bandit Dataset's (little interaction); slates of 3 at a high CTR,
# where items compete for the click and the position-wise estimators' assumption fails.
SETTINGS = {
    "single_item": {"slate_size": 1, "choice": {"no_click_utility": 4.0}},
    "slate_low_ctr": {"slate_size": 3, "choice": {"no_click_utility": 6.0}},
    "slate_high_ctr": {"slate_size": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--impressions", type=int, default=30_000)
    parser.add_argument("--replicates", type=int, default=100)
    args = parser.parse_args()
    results = {}
    for name, overrides in SETTINGS.items():
        config = make_config(args.preset, **overrides)
        summary = validate(config, args.impressions, args.replicates)
        results[name] = {"overrides": overrides, **summary}
        print(f"{name}: true values { {k: round(v, 4) for k, v in summary['truth'].items()} }")
        for policy in summary["truth"]:
            for estimator, figures in summary[policy].items():
                print(
                    f"  {policy:>18} {estimator:>5}: mean relative error "
                    f"{figures['mean_relative_error']:+.3f}, relative RMSE "
                    f"{figures['relative_rmse']:.3f}, CI coverage {figures['coverage']:.2f}"
                )
    if args.json:
        write_results(args.json, {"preset": args.preset, **results})


if __name__ == "__main__":
    main()
