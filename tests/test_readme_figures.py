"""Every figure in the README's result tables comes from a results file (benchmarks/results)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import readme_figures  # noqa: E402

README = (ROOT / "README.md").read_text()
RESULT_NUMBER = re.compile(r"\d[\d,]*\.\d|\d{1,3}(,\d{3})+")  # 12.3, 0.5, 48,594


def test_every_figures_block_equals_its_rendering_from_the_results_files() -> None:
    assert readme_figures.blocks(README), "the README has no figures blocks"
    assert set(readme_figures.blocks(README)) == set(readme_figures.RENDERERS)
    assert readme_figures.render(README) == README, (
        "README figures are stale: run python benchmarks/readme_figures.py"
    )


def test_no_result_table_lives_outside_a_figures_block() -> None:
    """Table rows with measured-looking numbers outside blocks are only the reference tables
    (configuration defaults, spaces, metric definitions), whose rows start with a `name`."""
    outside = readme_figures.BLOCK.sub("", README)
    for line in outside.splitlines():
        if line.startswith("|") and RESULT_NUMBER.search(line):
            assert line.startswith("| `"), f"a result row outside a figures block: {line}"
