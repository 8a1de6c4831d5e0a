"""The served shop's event log: append-only JSON lines, on disk before they are acknowledged.

One record per line, in the order the server received them::

    {"seq": 0, "received_at": 1718000000.123, "shopper": "s-42", "item": 17,
     "event": "click", "position": 0, "timestamp": null}

``seq`` counts records from the first line of the file, across restarts. The file is never
truncated or rewritten: a server started on an existing log appends to it (``seq`` carries
on), after checking that its first and last lines are records of this format, so a wrong
path (a results file, a CSV) is refused rather than appended to. Each request's records are
written with one ``write`` on an ``O_APPEND`` descriptor (locked: one server per log) and
then ``fsync``-ed, before the server answers: an acknowledged event survives a crash of the
process, and with ``fsync`` (the default) of the machine. A file that does not end with a
newline holds a record cut off before it was acknowledged; the server refuses to start on
it, naming the byte where it begins, so nothing half-written is ever appended to silently.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

EVENTS = ("impression", "click", "cart", "purchase")
FIELDS = ("seq", "received_at", "shopper", "item", "event", "position", "timestamp")


class EventLog:
    """An open, append-only events file; ``append`` returns once the records are on disk."""

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path, self.fsync = Path(path), fsync
        self.count, self._descriptor = 0, -1
        self._lock = threading.Lock()
        self.open()

    def open(self) -> None:
        """Open (or reopen, after ``close``) for appending: lock, check, count the records."""
        with self._lock:
            if self._descriptor >= 0:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                _lock_exclusively(descriptor, self.path)
                self.count = count_records(self.path)
            except BaseException:
                os.close(descriptor)
                raise
            if created and self.fsync:  # the new file's name must survive a crash too
                _fsync_directory(self.path.parent)
            self._descriptor = descriptor

    def append(self, events: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Write ``events`` (dicts of the request fields) as records; ``(first seq, count)``."""
        with self._lock:
            if self._descriptor < 0:
                raise RuntimeError(f"events log {self.path} is closed; open() it first")
            now = time.time()
            records = [
                {"seq": self.count + index, "received_at": now, **event}
                for index, event in enumerate(events)
            ]
            payload = "".join(json.dumps(record) + "\n" for record in records).encode()
            _write_all(self._descriptor, payload)
            if self.fsync:
                os.fsync(self._descriptor)
            first, self.count = self.count, self.count + len(records)
        return first, len(records)

    def close(self) -> None:
        with self._lock:
            if self._descriptor >= 0:
                os.close(self._descriptor)
                self._descriptor = -1


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every record of an events log, in order; ValueError naming the first bad line."""
    records = []
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            records.append(_record(line, path, number))
    return records


def count_records(path: Path) -> int:
    """The records of an existing log, after checking its first and last lines and its end."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb") as handle:
        first = handle.readline()
        _record(first, path, 1)
        handle.seek(0)
        count, last, offset, last_offset = 0, b"", 0, 0
        for line in handle:
            count, last, last_offset, offset = count + 1, line, offset, offset + len(line)
    if not last.endswith(b"\n"):
        raise ValueError(
            f"events log {path} ends in an incomplete record at byte {last_offset} (a write "
            "cut off before the server acknowledged it); move the file aside, or remove that "
            "last line, before serving on it"
        )
    _record(last, path, count)
    return count


def _record(line: bytes, path: str | Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict) or record.get("event") not in EVENTS or "seq" not in record:
        raise ValueError(
            f"{path} line {number} is not an events-log record ({line[:80]!r}); expected a JSON "
            f"object with the fields {list(FIELDS)}: choose another serve.events path"
        )
    return record


def _lock_exclusively(descriptor: int, path: Path) -> None:
    """One writer per log: two servers would interleave records and repeat ``seq``."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ValueError(
            f"events log {path} is open in another server; give each server its own "
            "serve.events path"
        ) from None


def _write_all(descriptor: int, payload: bytes) -> None:
    """``os.write`` until every byte is written (a write may be partial)."""
    view = memoryview(payload)
    while view:
        view = view[os.write(descriptor, view) :]


def _fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
