"""``benchmarks/env_throughput.py --baseline TREE`` really times TREE's recenv, in a worker
process, with this tree's measuring code; and the README renders its before/after figures."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import env_throughput, readme_figures  # noqa: E402


def test_the_worker_imports_recenv_from_the_baseline_tree_and_times_its_measures(
    tmp_path: Path,
) -> None:
    package = tmp_path / "recenv"
    package.mkdir()
    # a stand-in recenv whose "env" is a counter: enough to prove which tree is imported
    (package / "__init__.py").write_text(
        "import gymnasium\n"
        "class ShoppingVectorEnv:\n"
        "    def __init__(self, n, preset):\n"
        "        from types import SimpleNamespace\n"
        "        self.config = SimpleNamespace(slate_size=1, catalog=SimpleNamespace(n_items=5))\n"
        "        self.steps = 0\n"
        "    def reset(self, seed):\n"
        "        pass\n"
        "    def step(self, action):\n"
        "        self.steps += 1\n"
    )
    worker = env_throughput.BaselineWorker(tmp_path)
    try:
        assert worker.describe()["tree"] == str(tmp_path.resolve())
        measure = worker.measure(("vector", "default", 4, 20))
        assert measure() > 0  # shopper-steps per second of the stand-in's 20 steps
    finally:
        worker.close()


def test_the_speed_table_shows_before_and_speedup_when_the_results_have_a_baseline() -> None:
    row = {
        "env_steps_per_s": {"median": 90.0},
        "baseline_env_steps_per_s": {"median": 30.0},
        "speedup_over_baseline": {"of_medians": 3.0, "min": 2.5, "max": 3.5},
    }
    assert readme_figures.before_cell(row, "baseline_env_steps_per_s") == (
        "; before 30, 3.00x (2.50-3.50)"
    )
    assert readme_figures.before_cell({"env_steps_per_s": {}}, "baseline_env_steps_per_s") == ""
