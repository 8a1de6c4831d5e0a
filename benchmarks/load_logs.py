"""Loading speed of a large event log: one million rows, CSV and Parquet, fully validated.

python benchmarks/load_logs.py --json benchmarks/results/load_logs.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.timing import write_results
from recenv.offline.data import load_event_log


def synthetic_log(rows: int, n_items: int = 10_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "session": np.repeat(np.arange(rows // 3 + 1), 3)[:rows],
            "timestamp": np.arange(rows),
            "item": rng.integers(0, n_items, rows),
            "position": np.tile(np.arange(3), rows // 3 + 1)[:rows],
            "click": (rng.random(rows) < 0.01).astype(int),
            "propensity": np.full(rows, 1.0 / n_items),
            "user_feature_0": rng.choice(["a", "b", "c"], rows),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = synthetic_log(args.rows)
    figures: dict[str, float | int] = {"rows": args.rows}
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".csv", ".parquet"):
            path = Path(folder) / f"log{suffix}"
            frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
            start = time.perf_counter()
            log = load_event_log(path, n_items=10_000, n_positions=3)
            seconds = time.perf_counter() - start
            assert len(log.frame) == args.rows
            figures[f"{suffix[1:]}_seconds"] = seconds
            print(f"{suffix[1:]:>8}: {args.rows:,} rows loaded and validated in {seconds:.2f} s")
    if args.json:
        write_results(args.json, figures)


if __name__ == "__main__":
    main()
