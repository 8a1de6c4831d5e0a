"""Logged impressions: one canonical table, a generic loader, and strict validation.

Canonical columns (``LoggedImpressions.frame``): ``session`` (session or user id),
``timestamp``, ``item`` (0..n_items-1), ``position`` (0-based slate position), ``click``
(0/1), optional ``propensity`` (the logging policy's probability of this item at this
position, in (0, 1]) and any ``user_*`` feature columns. ``items`` holds one row per item
with its features.

Every check is vectorised (a million rows validate in about a second). A bad row either
raises ``LogValidationError`` naming the first offending row and column and how many rows
share the problem, or, with ``on_error="skip"``, is dropped *and counted* in the
``LoadReport`` — nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

EVENT_COLUMNS = ("session", "timestamp", "item", "position", "click")
OPTIONAL_COLUMNS = ("propensity",)
CLICK_EVENTS = {"click", "clicked", "1", "true"}


class LogValidationError(ValueError):
    """A malformed log: the message names the row, the column and the rule broken."""


@dataclass
class LoadReport:
    """What loading did: rows read, rows kept, and rows skipped per reason."""

    rows_read: int = 0
    rows_kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.skipped.items())
        return f"read {self.rows_read} rows, kept {self.rows_kept}" + (
            f", skipped {reasons}" if reasons else ""
        )


@dataclass
class LoggedImpressions:
    """A validated log of impressions and the item table it refers to."""

    frame: pd.DataFrame
    items: pd.DataFrame  # indexed by item id 0..n_items-1
    n_positions: int
    name: str = ""
    report: LoadReport = field(default_factory=LoadReport)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def user_columns(self) -> list[str]:
        return [column for column in self.frame.columns if column.startswith("user_")]

    def split(self, share: float, seed: int = 0) -> tuple[LoggedImpressions, LoggedImpressions]:
        """Two disjoint parts by session (``share`` of sessions in the first)."""
        sessions = self.frame["session"].unique()
        rng = np.random.default_rng(seed)
        first = set(rng.choice(sessions, round(share * len(sessions)), replace=False))
        mask = self.frame["session"].isin(first).to_numpy()
        return (
            LoggedImpressions(self.frame[mask], self.items, self.n_positions, f"{self.name}[a]"),
            LoggedImpressions(self.frame[~mask], self.items, self.n_positions, f"{self.name}[b]"),
        )


def validate_impressions(
    frame: pd.DataFrame,
    n_items: int,
    n_positions: int,
    on_error: str = "raise",
    source: str = "log",
) -> tuple[pd.DataFrame, LoadReport]:
    """Check every rule; raise on the first broken one, or drop and count (``skip``)."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error = {on_error!r}; choose 'raise' or 'skip'")
    missing = [column for column in EVENT_COLUMNS if column not in frame.columns]
    if missing:
        raise LogValidationError(
            f"{source}: missing column(s) {missing}; present: {list(frame.columns)}"
        )
    report = LoadReport(rows_read=len(frame))
    bad = pd.Series(False, index=frame.index)
    item = pd.to_numeric(frame["item"], errors="coerce")
    position = pd.to_numeric(frame["position"], errors="coerce")
    click = pd.to_numeric(frame["click"], errors="coerce")
    rules = [
        ("item", item.isna() | (item % 1 != 0), "is not an integer item id"),
        ("item", (item < 0) | (item >= n_items), f"is an unknown item (allowed: 0..{n_items - 1})"),
        ("position", position.isna() | (position % 1 != 0), "is not an integer position"),
        (
            "position",
            (position < 0) | (position >= n_positions),
            f"is out of range (allowed: 0..{n_positions - 1})",
        ),
        ("click", ~click.isin([0, 1]), "is not 0 or 1"),
        ("session", frame["session"].isna(), "is missing"),
        ("timestamp", frame["timestamp"].isna(), "is missing"),
    ]
    if "propensity" in frame.columns:
        propensity = pd.to_numeric(frame["propensity"], errors="coerce")
        rules.append(
            (
                "propensity",
                ~((propensity > 0) & (propensity <= 1)),
                "is outside (0, 1]",
            )
        )
    duplicated = frame.duplicated(keep="first")
    for column, broken, rule in [*rules, ("(all)", duplicated, "duplicates an earlier row")]:
        broken = broken & ~bad
        count = int(broken.sum())
        if not count:
            continue
        if on_error == "raise":
            row = broken.to_numpy().nonzero()[0][0]
            cell = None if column == "(all)" else frame[column].iloc[row]
            cell = cell.item() if isinstance(cell, np.generic) else cell
            value = "" if column == "(all)" else f" = {cell!r}"
            raise LogValidationError(
                f"{source}: row {row}, column {column!r}{value} {rule}"
                f" ({count} row(s) in all; pass on_error='skip' to drop and count them)"
            )
        report.skipped[f"{column}: {rule}"] = count
        bad |= broken
    kept = frame[~bad.to_numpy()].copy()
    kept["item"] = kept["item"].astype(np.int64)
    kept["position"] = kept["position"].astype(np.int64)
    kept["click"] = kept["click"].astype(np.int8)
    if "propensity" in kept.columns:
        kept["propensity"] = kept["propensity"].astype(np.float64)
    report.rows_kept = len(kept)
    return kept.reset_index(drop=True), report


def load_event_log(
    path: str | Path,
    columns: dict[str, str] | None = None,
    n_items: int | None = None,
    n_positions: int | None = None,
    position_base: int = 0,
    on_error: str = "raise",
    items: pd.DataFrame | None = None,
) -> LoggedImpressions:
    """Read a CSV or Parquet event log into validated impressions.

    ``columns`` maps canonical names (``session``, ``timestamp``, ``item``, ``position``,
    ``click`` or ``event``, ``propensity``) to the file's names; other columns whose
    name starts with ``user_`` are kept as user features. An ``event`` column (view /
    click ...) stands in for ``click``. ``n_items`` and ``n_positions`` default to what
    the log shows (then only negative ids and positions are errors).
    """
    path = Path(path)
    frame = read_table(path)
    rename = {source: target for target, source in (columns or {}).items()}
    frame = frame.rename(columns=rename)
    if "click" not in frame.columns and "event" in frame.columns:
        frame["click"] = frame["event"].astype(str).str.lower().isin(CLICK_EVENTS).astype(int)
        frame = frame.drop(columns="event")
    if "position" in frame.columns and position_base:
        frame["position"] = pd.to_numeric(frame["position"], errors="coerce") - position_base
    keep = [c for c in (*EVENT_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]
    keep += [c for c in frame.columns if c.startswith("user_")]
    frame = frame[keep]
    if n_items is None:
        n_items = len(items) if items is not None else _observed_count(frame, "item")
    if n_positions is None:
        n_positions = _observed_count(frame, "position")
    frame, report = validate_impressions(frame, n_items, n_positions, on_error, str(path))
    if items is None:
        items = pd.DataFrame(index=pd.RangeIndex(n_items, name="item"))
    return LoggedImpressions(frame, items, n_positions, path.stem, report)


def read_table(path: str | Path, **read_csv: Any) -> pd.DataFrame:
    """A CSV or Parquet log as a frame (shared by the impression and session loaders)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no event log at {path}")
    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".gz", ".txt"):
        return pd.read_csv(path, **read_csv)
    raise ValueError(f"{path}: unknown log format {path.suffix!r}; use .csv or .parquet")


def _observed_count(frame: pd.DataFrame, column: str) -> int:
    if column not in frame.columns:
        return 0
    values = pd.to_numeric(frame[column], errors="coerce")
    return int(values.max()) + 1 if values.notna().any() and values.max() >= 0 else 1
