"""Where calibrations write their scenarios: new names only, never outside their folders.

``experiments.calibrate``, ``experiments.calibrate_sessions`` and ``experiments.realistic``
write ``recenv/presets/env/<name>.yaml`` (and a report beside the calibrations) so that
``env=<name>``
works everywhere. A name is one plain word, so it cannot leave those folders; an existing
file (a shipped preset, an earlier calibration) is kept unless ``overwrite=true``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def check_scenario_name(name: object) -> str:
    """``name`` when it is a plain word (letters, digits, ``_``, ``-``); else ValueError."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"name = {name!r} is not allowed; use letters, digits, '_' and '-' only (no path "
            "separators, no '.' or '..'): the scenario is written as recenv/presets/env/<name>.yaml"
        )
    return name


def refuse_existing(name: str, targets: Iterable[Path], overwrite: bool) -> None:
    """Refuse, before any fitting, to write over files that exist, unless ``overwrite``."""
    existing = [str(path) for path in targets if path.exists()]
    if existing and not overwrite:
        raise ValueError(
            f"name = {name!r}: {', '.join(existing)} exists already (a shipped or earlier "
            "scenario); choose another name, write elsewhere with out=DIR, or pass overwrite=true"
        )


def parse_flag(arguments: dict[str, str], key: str) -> bool:
    """A ``key=true|false`` command-line flag (false when absent)."""
    value = arguments.get(key, "false").lower()
    if value not in ("true", "false"):
        raise ValueError(f"{key} = {arguments[key]!r} is not allowed; choose true or false")
    return value == "true"
