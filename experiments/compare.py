"""Build a comparison report from any set of finished runs (custom agents included).

    python -m experiments.compare outputs/sweeps/2026-11-29_10-00-00 [more dirs] --out report

Reads every ``results.json`` / ``eval_sessions.npz`` / TensorBoard event file under the
given folders and writes ``report.md`` (mean and IQM per metric and agent with 95%
stratified-bootstrap CIs, paired differences to ``--reference``), ``summary.csv``,
``paired.csv``, ``learning_curves.png`` and ``returns.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.report import write_report


def run(argv: list[str] | None = None) -> Path:
    """Build the report; returns the path of ``report.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run or sweep folders")
    parser.add_argument("--out", type=Path, default=Path("outputs/report"))
    parser.add_argument("--reference", default="dqn", help="agent of the paired differences")
    args = parser.parse_args(argv)
    report = write_report(args.runs, args.out, args.reference)
    print(report.read_text())
    print(f"report written to {report}")
    return report


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``recenv-compare``)."""
    run(argv)


if __name__ == "__main__":
    main()
