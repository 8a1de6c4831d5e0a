"""Logged impressions: one canonical table, a generic loader, and strict validation.

Canonical columns (``LoggedImpressions.frame``): ``session`` (session or user id),
``timestamp``, ``item`` (0..n_items-1), ``position`` (0-based slate position), ``click``
(0/1), optional ``propensity`` (the logging policy's probability of this item at this
position, in (0, 1]) and any ``user_*`` feature columns. ``items`` holds one row per item
with its features.

Every check is vectorised (a million rows validate in about a second). A bad row either
raises ``LogValidationError`` naming the file, the first offending row and column and how
many rows share the problem, or, with ``on_error="skip"``, is dropped *and counted* in the
``LoadReport`` — nothing is dropped silently. A bad file (empty, header only, not UTF-8,
not parsable) always raises, naming the file and the line. Timestamps are Unix seconds
or dates; ids beyond the largest catalog the simulator builds (``MAX_ITEMS``), or beyond
an ``n_items`` given, are bad rows, so a stray id of 10**9 cannot size a table.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from recenv.sim.config import CatalogConfig, out_of_range

EVENT_COLUMNS = ("session", "timestamp", "item", "position", "click")
OPTIONAL_COLUMNS = ("propensity",)
# Names of an ``event`` column (standing in for ``click``): each is a click or not.
CLICK_EVENTS = {"click", "clicked", "1", "1.0", "true"}
NO_CLICK_EVENTS = {"view", "viewed", "impression", "shown", "no_click", "0", "0.0", "false"}
MAX_ITEMS = int(CatalogConfig.bounds["n_items"].high)  # type: ignore[arg-type]  # largest catalog
LATEST_SECONDS = 4_102_444_800  # 2100-01-01: a later Unix timestamp is a unit mistake
WHOLE_ROW = "(all)"  # the column of rules about a whole row
# A rule: (column, rows that break it, what is wrong, phrased after "column = value")
Rule = tuple[str, Any, str]


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
    position_base: int = 0,
    cut: NDArray[np.bool_] | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Check every rule; raise on the first broken one, or drop and count (``skip``).

    Positions are checked as the file counts them (from ``position_base``) and returned
    0-based; an ``event`` column stands in for ``click`` (``CLICK_EVENTS`` or
    ``NO_CLICK_EVENTS``); ``cut`` marks rows a truncated file cut short.
    """
    check_on_error(on_error)
    click_column = "event" if "click" not in frame.columns and "event" in frame.columns else "click"
    required = [column for column in EVENT_COLUMNS if column != "click"] + [click_column]
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise LogValidationError(
            f"{source}: missing column(s) {missing}; present: {list(frame.columns)}"
        )
    n_items, n_positions = _size("n_items", n_items), _size("n_positions", n_positions)
    item = pd.to_numeric(frame["item"], errors="coerce")
    position = pd.to_numeric(frame["position"], errors="coerce") - position_base
    timestamp = unix_seconds(frame["timestamp"], dates=True)
    first, last = position_base, position_base + n_positions - 1
    rules: list[Rule] = [
        *([(WHOLE_ROW, cut, CUT_RULE)] if cut is not None else []),
        ("item", not_integer(item), "is not an integer item id"),
        ("item", item >= MAX_ITEMS, f"is beyond the largest catalog (allowed: 0..{MAX_ITEMS - 1})"),
        ("item", (item < 0) | (item >= n_items), f"is an unknown item (allowed: 0..{n_items - 1})"),
        ("position", not_integer(position), "is not an integer position"),
        (
            "position",
            (position < 0) | (position >= n_positions),
            f"is out of range (allowed: {first}..{last})",
        ),
        _click_rule(frame, click_column),
        ("session", frame["session"].isna(), "is missing"),
        ("timestamp", frame["timestamp"].isna(), "is missing"),
        (
            "timestamp",
            timestamp.isna() | (timestamp < 0),
            "is not a date or a Unix timestamp (seconds >= 0)",
        ),
        ("timestamp", timestamp >= LATEST_SECONDS, "is after 2100: milliseconds, not seconds?"),
    ]
    if "propensity" in frame.columns:
        propensity = pd.to_numeric(frame["propensity"], errors="coerce")
        rules.append(("propensity", ~((propensity > 0) & (propensity <= 1)), "is outside (0, 1]"))
    user_columns = [column for column in frame.columns if str(column).startswith("user_")]
    rules += [(column, frame[column].isna(), "is missing") for column in user_columns]
    rules.append((WHOLE_ROW, frame.duplicated(keep="first"), "duplicates an earlier row"))
    bad, report = apply_rules(frame, rules, on_error, source)
    keep = ~bad
    kept = frame[keep].copy()
    kept["item"] = item[keep].astype(np.int64)
    kept["position"] = position[keep].astype(np.int64)
    kept["click"] = _clicks(frame, click_column)[keep].astype(np.int8)
    if click_column == "event":
        kept = kept.drop(columns="event")
    if not pd.api.types.is_numeric_dtype(frame["timestamp"]):  # dates: keep them parsed
        kept["timestamp"] = pd.to_datetime(timestamp[keep], unit="s", utc=True)
    if "propensity" in kept.columns:
        kept["propensity"] = kept["propensity"].astype(np.float64)
    kept = kept[[c for c in (*EVENT_COLUMNS, *OPTIONAL_COLUMNS, *user_columns) if c in kept]]
    report.rows_kept = len(kept)
    return kept.reset_index(drop=True), report


def _click_rule(frame: pd.DataFrame, click_column: str) -> Rule:
    if click_column == "click":
        return (
            "click",
            ~pd.to_numeric(frame["click"], errors="coerce").isin([0, 1]),
            "is not 0 or 1",
        )
    accepted = ", ".join(sorted(CLICK_EVENTS | NO_CLICK_EVENTS))
    return ("event", _clicks(frame, "event").isna(), f"is not a known event (accepted: {accepted})")


def _clicks(frame: pd.DataFrame, click_column: str) -> pd.Series:
    """1/0 per row (NaN where unreadable), from a ``click`` or an ``event`` column."""
    if click_column == "click":
        return pd.to_numeric(frame["click"], errors="coerce")
    names = frame["event"].astype(str).str.strip().str.lower()
    return names.map({**dict.fromkeys(CLICK_EVENTS, 1), **dict.fromkeys(NO_CLICK_EVENTS, 0)})


CUT_RULE = "is cut short: fewer fields than the first line (a truncated file?)"


def apply_rules(
    frame: pd.DataFrame,
    rules: Sequence[Rule],
    on_error: str,
    source: str,
    labels: Mapping[str, str] | None = None,
    first_line: int | None = None,
) -> tuple[NDArray[np.bool_], LoadReport]:
    """Raise on the first row that breaks a rule (in rule order), or mark and count them.

    The message names ``source``, the row (and its file line when ``first_line``, the line
    of row 0, is known), the column (as ``labels`` spells it) and its value.
    """
    report = LoadReport(rows_read=len(frame))
    bad = np.zeros(len(frame), dtype=bool)
    for column, broken_rows, rule in rules:
        broken = np.asarray(broken_rows, dtype=bool) & ~bad
        count = int(broken.sum())
        if not count:
            continue
        if on_error == "raise":
            row = int(broken.nonzero()[0][0])
            line = "" if first_line is None else f" (line {row + first_line})"
            label = (labels or {}).get(column, repr(column))
            value = "" if column == WHOLE_ROW else f" = {cell_value(frame[column].iloc[row])!r}"
            raise LogValidationError(
                f"{source}: row {row}{line}, column {label}{value} {rule} ({count} row(s) in "
                "all; pass on_error='skip' to drop and count them)"
            )
        report.skipped[f"{column}: {rule}"] = count
        bad |= broken
    return bad, report


def check_on_error(on_error: str) -> None:
    """``on_error`` is ``"raise"`` or ``"skip"``."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error = {on_error!r}; choose 'raise' or 'skip'")


def not_integer(values: pd.Series) -> pd.Series:
    """Rows that are not a (finite) integer."""
    return values.isna() | (values % 1 != 0)


def unix_seconds(values: pd.Series, dates: bool) -> pd.Series:
    """Timestamps as float Unix seconds (NaN where unreadable); dates parsed as UTC if
    ``dates`` (ISO 8601 first, any other format after)."""
    epoch = pd.Timestamp(0, tz="UTC")
    if pd.api.types.is_datetime64_any_dtype(values):
        return (pd.to_datetime(values, utc=True) - epoch).dt.total_seconds()
    seconds = pd.to_numeric(values, errors="coerce").astype(float)
    text = seconds.isna() & values.notna()
    if dates and text.any():
        parsed = pd.to_datetime(values[text], errors="coerce", utc=True, format="ISO8601")
        retry = parsed.isna()
        if retry.any():
            parsed[retry] = pd.to_datetime(
                values[text][retry], errors="coerce", utc=True, format="mixed"
            )
        seconds[text] = (parsed - epoch).dt.total_seconds()
    return seconds


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
    name starts with ``user_`` are kept as user features. An ``event`` column (names in
    ``CLICK_EVENTS`` or ``NO_CLICK_EVENTS``) stands in for ``click``. ``n_items`` and
    ``n_positions`` default to what the log shows below ``MAX_ITEMS`` (then only negative
    and larger ids and positions are errors).
    """
    path = Path(path)
    frame = read_table(path)
    rename = {source: target for target, source in (columns or {}).items()}
    frame = frame.rename(columns=rename)
    cut = cut_rows(path, len(frame))
    keep = [c for c in (*EVENT_COLUMNS, "event", *OPTIONAL_COLUMNS) if c in frame.columns]
    if "click" in keep and "event" in keep:
        keep.remove("event")
    keep += [c for c in frame.columns if str(c).startswith("user_")]
    frame = frame[keep]
    if n_items is None:
        n_items = len(items) if items is not None else _observed_count(frame, "item", 0)
    if n_positions is None:
        n_positions = _observed_count(frame, "position", position_base)
    frame, report = validate_impressions(
        frame, n_items, n_positions, on_error, str(path), position_base, cut
    )
    if items is None:
        items = pd.DataFrame(index=pd.RangeIndex(n_items, name="item"))
    return LoggedImpressions(frame, items, n_positions, path.stem, report)


def read_table(path: str | Path, **read_csv: Any) -> pd.DataFrame:
    """A CSV or Parquet log as a frame (shared by every loader); a file that is empty,
    holds a header only, is not UTF-8 or does not parse raises ``LogValidationError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no event log at {path}")
    if path.suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as error:
            raise LogValidationError(f"{path}: not a readable Parquet file ({error})") from None
    elif path.suffix in (".csv", ".gz", ".txt"):
        frame = _read_csv(path, read_csv)
    else:
        raise ValueError(f"{path}: unknown log format {path.suffix!r}; use .csv or .parquet")
    if frame.empty:
        raise LogValidationError(f"{path}: no rows (the file holds a header only)")
    return frame


def _read_csv(path: Path, read_csv: dict[str, Any]) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise LogValidationError(f"{path}: the file is empty (expected a header and rows)")
    try:
        return pd.read_csv(path, **read_csv)
    except UnicodeDecodeError:
        header = read_csv.get("header", "infer") is not None
        raise LogValidationError(f"{path}: {_not_utf8(path, header)}") from None
    except pd.errors.EmptyDataError:
        raise LogValidationError(f"{path}: no data (the file holds blank lines only)") from None
    except pd.errors.ParserError as error:
        raise LogValidationError(f"{path}: not a well-formed CSV file ({error})") from None


def _not_utf8(path: Path, header: bool) -> str:
    """Where the first byte that is not UTF-8 sits: line and field (with a ``header``, also
    the row and the column's name)."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, error.start) + 1
        field = data.count(b",", line_start, error.start) + 1
        where = f"line {line}, field {field}"
        names = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().split(",")
        if header and line > 1 and field <= len(names):
            where += f" (row {line - 2}, column {names[field - 1]!r})"
        return (
            f"{where} is not UTF-8 text (byte {data[error.start]:#04x} at offset "
            f"{error.start}); save the file as UTF-8"
        )
    return "not UTF-8 text"


def cut_rows(path: Path, n_rows: int) -> NDArray[np.bool_]:
    """Rows cut short by a truncated file: the last one, when the file ends mid-line with
    fewer fields than its first line (a file cut while it was written)."""
    cut = np.zeros(n_rows, dtype=bool)
    if path.suffix not in (".csv", ".txt") or n_rows == 0:
        return cut
    with path.open("rb") as file:
        first = file.readline()
        size = file.seek(0, 2)
        file.seek(max(0, size - 65_536))
        tail = file.read()
    last = tail.rsplit(b"\n", 1)[-1]
    if last.strip() and b'"' not in first + last:  # quoted commas: field counts unreliable
        cut[-1] = last.count(b",") < first.count(b",")
    return cut


def _size(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if not 1 <= value <= MAX_ITEMS:
        raise out_of_range(name, value, f"[1, {MAX_ITEMS}]")
    return int(value)


def _observed_count(frame: pd.DataFrame, column: str, base: int) -> int:
    """1 + the largest valid value (from ``base``, below ``MAX_ITEMS``), at least 1."""
    if column not in frame.columns:
        return 1
    values = pd.to_numeric(frame[column], errors="coerce") - base
    values = values[(values >= 0) & (values < MAX_ITEMS)]
    return int(values.max()) + 1 if len(values) else 1


def cell_value(value: object) -> object:
    """A cell as a plain Python value (for messages)."""
    return value.item() if isinstance(value, np.generic) else value
