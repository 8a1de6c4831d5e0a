"""Session logs: what shoppers opened, carted, favourited and bought, cut into sessions.

A ``SessionLog`` is one table with a row per event: ``user``, ``item``, ``category``,
``event`` (``view``, ``cart``, ``fav``, ``buy``), ``timestamp`` (Unix seconds) and
``session`` (0..S-1 in order of user and time). Unlike an impression log
(``recenv.offline.data.logs``) it holds no impressions: a ``view`` is an item the shopper opened,
as in Taobao's ``pv`` rows, so a shown item that nobody clicked leaves no row.

Sessions are not logged; ``sessionize`` cuts a shopper's events wherever more than
``gap_minutes`` (30 by default, the usual web-analytics convention) pass without one. A
gap of exactly ``gap_minutes`` stays inside the session.

Loading validates like ``load_event_log``: a bad row raises ``LogValidationError`` naming
the file, the row (and line) and the column, or with ``on_error="skip"`` is dropped and
counted in the ``LoadReport``. Rows outside an optional time ``window`` are dropped and
counted, never silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recenv.offline.data.logs import (
    CUT_RULE,
    LATEST_SECONDS,
    WHOLE_ROW,
    LoadReport,
    LogValidationError,
    Rule,
    apply_rules,
    check_on_error,
    cut_rows,
    not_integer,
    read_table,
    unix_seconds,
)
from recenv.sim.config import out_of_range

EVENTS = ("view", "cart", "fav", "buy")
EVENT_TYPE = pd.CategoricalDtype(EVENTS)
SESSION_COLUMNS = ("user", "item", "category", "event", "timestamp", "session")
DEFAULT_GAP_MINUTES = 30.0

TAOBAO_COLUMNS = ("user", "item", "category", "behavior", "timestamp")
TAOBAO_BEHAVIORS = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "buy"}
# The dataset's nine days, 2017-11-25 00:00 to 2017-12-04 00:00 China time (UTC+8).
TAOBAO_WINDOW = (1511539200, 1512316800)

# Names a generic event log may use; None drops the row (and counts it).
EVENT_ALIASES: dict[str, str | None] = {
    **{name: name for name in EVENTS},
    "pv": "view",
    "click": "view",
    "clicked": "view",
    "addtocart": "cart",
    "add_to_cart": "cart",
    "favorite": "fav",
    "favourite": "fav",
    "purchase": "buy",
    "transaction": "buy",
}

MAX_ID = 2**63 - 1  # ids are stored as int64
Window = tuple[int, int]  # [start, end) in Unix seconds


@dataclass
class SessionLog:
    """Events of shoppers cut into sessions (columns ``SESSION_COLUMNS``)."""

    frame: pd.DataFrame
    name: str = ""
    gap_minutes: float = DEFAULT_GAP_MINUTES
    report: LoadReport = field(default_factory=LoadReport)

    @classmethod
    def from_events(
        cls,
        events: pd.DataFrame,
        name: str = "",
        gap_minutes: float = DEFAULT_GAP_MINUTES,
        report: LoadReport | None = None,
    ) -> SessionLog:
        """Sessionize a validated event table (columns ``user .. timestamp``)."""
        frame = events.astype({"event": EVENT_TYPE})
        return cls(sessionize(frame, gap_minutes), name, gap_minutes, report or LoadReport())

    @property
    def n_users(self) -> int:
        return int(self.frame["user"].nunique())

    @property
    def n_sessions(self) -> int:
        return int(self.frame["session"].nunique())

    def split_by_user(self, share: float, seed: int = 0) -> tuple[SessionLog, SessionLog]:
        """Two disjoint logs by shopper, ``share`` of the users in the first (held-out) one.

        Deterministic: the users are sorted, then permuted by ``seed``, so the split does
        not depend on row order.
        """
        if not 0.0 < share < 1.0:
            raise out_of_range("share", share, "0 < share < 1")
        users = np.sort(self.frame["user"].unique())
        order = np.random.default_rng(seed).permutation(len(users))
        first = users[order[: round(share * len(users))]]
        mask = self.frame["user"].isin(first).to_numpy()
        return self._part(mask, "held-out"), self._part(~mask, "rest")

    def _part(self, mask: np.ndarray, label: str) -> SessionLog:
        frame = self.frame[mask].reset_index(drop=True)
        frame["session"] = pd.factorize(frame["session"])[0]
        return SessionLog(frame, f"{self.name}[{label}]", self.gap_minutes, self.report)


def sessionize(frame: pd.DataFrame, gap_minutes: float = DEFAULT_GAP_MINUTES) -> pd.DataFrame:
    """Sort by user and time (stably: ties keep their order) and number the sessions.

    A new session starts at a user's first event and after any gap of more than
    ``gap_minutes`` between consecutive events of that user.
    """
    if not gap_minutes > 0:
        raise out_of_range("gap_minutes", gap_minutes, "> 0")
    user = frame["user"].to_numpy()
    time = frame["timestamp"].to_numpy()
    ordered = frame.iloc[np.lexsort((time, user))].reset_index(drop=True)
    user, time = ordered["user"].to_numpy(), ordered["timestamp"].to_numpy()
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = (user[1:] != user[:-1]) | (np.diff(time) > gap_minutes * 60.0)
    ordered["session"] = np.cumsum(starts) - 1
    return ordered


def load_taobao(
    path: str | Path,
    window: Window | None = None,
    gap_minutes: float = DEFAULT_GAP_MINUTES,
    on_error: str = "raise",
) -> SessionLog:
    """Read a Taobao UserBehavior CSV (no header: user, item, category, behavior, timestamp).

    ``path`` is the file or a folder holding exactly one ``.csv``. Behaviors ``pv``,
    ``cart``, ``fav``, ``buy`` become ``view``, ``cart``, ``fav``, ``buy``. With
    ``window`` (e.g. ``TAOBAO_WINDOW``) rows outside ``[start, end)`` are dropped and
    counted.
    """
    path = _single_csv(Path(path))
    raw = read_table(path, header=None, dtype=str, keep_default_na=False)
    if raw.shape[1] != len(TAOBAO_COLUMNS):
        raise LogValidationError(
            f"{path}: not a 5-column Taobao log (line 1 has {raw.shape[1]} fields)"
        )
    raw.columns = [*TAOBAO_COLUMNS[:3], "event", TAOBAO_COLUMNS[4]]
    labels = {name: f"{name!r} (field {i + 1})" for i, name in enumerate(TAOBAO_COLUMNS)}
    labels["event"] = labels.pop("behavior")
    events, report = validate_events(
        raw,
        str(path),
        TAOBAO_BEHAVIORS,
        on_error,
        window,
        labels,
        first_line=1,
        dates=False,
        cut=cut_rows(path, len(raw)),
    )
    return SessionLog.from_events(events, path.stem, gap_minutes, report)


def load_session_events(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    events: Mapping[str, str | None] | None = None,
    window: Window | None = None,
    gap_minutes: float = DEFAULT_GAP_MINUTES,
    on_error: str = "raise",
) -> SessionLog:
    """A generic CSV/Parquet event log as a ``SessionLog``.

    Columns (renamed from the file's through ``columns``, canonical -> file name):
    ``user`` (or ``session`` when there is no user), ``item``, optional ``category``
    (-1 = unknown), ``timestamp`` (Unix seconds or dates) and either ``event`` (names of
    ``EVENT_ALIASES``, extended or overridden by ``events``; ``None`` drops a name) or
    ``click`` (an impression log: clicks become views, impressions without a click are
    dropped and counted). Note that an impression log's ``event = view`` means *shown*;
    load such a log with ``events={"view": None, "click": "view"}``.
    """
    path = Path(path)
    raw = read_table(path).rename(columns={file: name for name, file in (columns or {}).items()})
    if "user" not in raw.columns and "session" in raw.columns:
        raw = raw.rename(columns={"session": "user"})
    names = {**EVENT_ALIASES, **(events or {})}
    event_label = (columns or {}).get("event", "event")
    if "event" not in raw.columns and "click" in raw.columns:
        raw["event"] = raw["click"].astype(str)
        names = {
            **dict.fromkeys(("1", "1.0", "true"), "view"),
            "0": None,
            "0.0": None,
            "false": None,
        }
        event_label = (columns or {}).get("click", "click")
    if "category" not in raw.columns:
        raw["category"] = -1
    missing = [name for name in ("user", "item", "event", "timestamp") if name not in raw.columns]
    if missing:
        raise LogValidationError(
            f"{path}: missing column(s) {missing} (an event log needs user, item, timestamp and "
            f"event or click); present: {list(raw.columns)}"
        )
    labels = {name: repr((columns or {}).get(name, name)) for name in ("user", "item", "category")}
    labels |= {
        "event": repr(event_label),
        "timestamp": repr((columns or {}).get("timestamp", "timestamp")),
    }
    first_line = 2 if path.suffix in (".csv", ".gz", ".txt") else None  # after the header
    validated, report = validate_events(
        raw, str(path), names, on_error, window, labels, first_line, True, cut_rows(path, len(raw))
    )
    return SessionLog.from_events(validated, path.stem, gap_minutes, report)


def validate_events(
    raw: pd.DataFrame,
    source: str,
    event_names: Mapping[str, str | None],
    on_error: str = "raise",
    window: Window | None = None,
    labels: Mapping[str, str] | None = None,
    first_line: int | None = None,
    dates: bool = False,
    cut: np.ndarray | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Check ids, event names and timestamps of every row; raise on the first bad one or
    drop and count (``skip``). Returns the clean table (``user .. timestamp``) and report.

    ``first_line`` is the file line of row 0 (for the message); ``dates`` also accepts
    date strings as timestamps; ``cut`` marks rows a truncated file cut short.
    """
    check_on_error(on_error)
    labels = {name: repr(name) for name in SESSION_COLUMNS} | dict(labels or {})
    ids = {name: pd.to_numeric(raw[name], errors="coerce") for name in ("user", "item", "category")}
    timestamp = unix_seconds(raw["timestamp"], dates)
    if dates:
        timestamp = np.floor(timestamp)
    event_key = raw["event"].astype(str).str.strip().str.lower()
    known = event_key.isin(list(event_names))
    event = event_key.map(event_names)
    allowed = ", ".join(sorted(name for name, value in event_names.items() if value))
    rules: list[Rule] = [
        *([(WHOLE_ROW, cut, CUT_RULE)] if cut is not None else []),
        *[
            rule
            for name, values in ids.items()
            for rule in (
                (name, not_integer(values), f"is not an integer {name} id"),
                (name, values.abs() > MAX_ID, f"is not a 64-bit {name} id (|id| > 2**63 - 1)"),
            )
        ],
        ("event", ~known, f"is not a known event (allowed: {allowed})"),
        (
            "timestamp",
            not_integer(timestamp) | (timestamp < 0),
            "is not a Unix timestamp (integer seconds >= 0" + (", or a date)" if dates else ")"),
        ),
        ("timestamp", timestamp >= LATEST_SECONDS, "is after 2100: milliseconds, not seconds?"),
    ]
    bad, report = apply_rules(raw, rules, on_error, source, labels, first_line)
    _drop_and_count(
        report,
        bad,
        known.to_numpy() & event.isna().to_numpy(),
        "event: a name mapped to None (not kept)",
    )
    if window is not None:
        start, end = window
        outside = ~((timestamp >= start) & (timestamp < end)).to_numpy()
        _drop_and_count(report, bad, outside, f"timestamp: outside the window [{start}, {end})")
    keep = ~bad
    clean = pd.DataFrame(
        {
            "user": ids["user"][keep].astype(np.int64),
            "item": ids["item"][keep].astype(np.int64),
            "category": ids["category"][keep].astype(np.int64),
            "event": event[keep].astype(EVENT_TYPE),
            "timestamp": timestamp[keep].astype(np.int64),
        }
    ).reset_index(drop=True)
    report.rows_kept = len(clean)
    return clean, report


def _drop_and_count(report: LoadReport, bad: np.ndarray, drop: np.ndarray, reason: str) -> None:
    count = int((drop & ~bad).sum())
    if count:
        report.skipped[reason] = count
        bad |= drop


def _single_csv(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no Taobao log at {path}")
    found = sorted(path.glob("*.csv"))
    if len(found) != 1:
        raise FileNotFoundError(
            f"{path}: expected exactly one .csv file, found {[p.name for p in found]}"
        )
    return found[0]
