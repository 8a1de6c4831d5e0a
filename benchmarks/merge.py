"""Adding presets to a per-preset results file without rerunning the others."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path


def merge_presets(path: Path, report: dict, same: Sequence[str]) -> dict:
    """``report`` with the presets already in ``path`` kept (those run now replace theirs);
    the settings named in ``same`` must match the file's, or the rows would not compare.
    ``added`` lists the presets each merge brought in, in order."""
    previous = json.loads(path.read_text())
    for name in same:
        if previous.get(name) != report.get(name):
            raise ValueError(
                f"--merge into {path}: {name} = {report.get(name)!r} differs from the file's "
                f"{previous.get(name)!r}; allowed: the file's settings"
            )
    return {
        **previous,
        **report,
        "presets": {**previous["presets"], **report["presets"]},
        "added": [*previous.get("added", []), *report["presets"]],
    }
