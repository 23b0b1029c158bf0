"""Append-only JSON-lines files: a writer safe across greenlets and threads, a tolerant reader,
and a tail that reads what was appended since the last look.

Writers flush at least every ``flush_every`` seconds (and on close), so a killed run loses at
most the last second; readers skip a torn last line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger("harness.rundir")


class JsonlWriter:
    """Append-only JSON-lines file, safe to use from several greenlets or threads.

    Each ``write`` appends one whole line. A line written after :meth:`close` is not
    written: it is counted in :attr:`dropped` (and logged once), never an exception in
    the caller, because a writer is closed only when its run has ended.
    """

    def __init__(self, path: Path, flush_every: float = 1.0) -> None:
        self.path = path
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._last_flush = time.monotonic()
        self.count = 0
        self.dropped = 0

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def write_line(self, line: str) -> None:
        with self._lock:
            if self._fh.closed:
                self.dropped += 1
                if self.dropped == 1:
                    log.warning(
                        "%s: a line arrived after the file was closed; not written", self.path
                    )
                return
            self._fh.write(line + "\n")
            self.count += 1
            now = time.monotonic()
            if now - self._last_flush >= self._flush_every:
                self._fh.flush()
                self._last_flush = now

    def write(self, obj: dict[str, Any]) -> None:
        self.write_line(json.dumps(obj, separators=(",", ":"), allow_nan=False))

    def flush(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                self._last_flush = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.flush()
                self._fh.close()


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSON-lines file, skipping a torn (partially written) line.

    A missing file yields nothing.
    """
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            obj = _parse(line)
            if obj is not None:
                yield obj


def _parse(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        obj = orjson.loads(line)  # about 4x faster than json on a record
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and json reads (NaN, integers beyond 64 bits)
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None  # torn last line of a killed run
    return obj if isinstance(obj, dict) else None


class JsonlTail:
    """Reads the whole lines appended to a JSON-lines file since the previous :meth:`read`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read(self) -> list[dict[str, Any]]:
        """The objects of the complete lines added since the last call (none if no file)."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        out = []
        for line in complete.decode("utf-8", errors="replace").splitlines():
            obj = _parse(line)
            if obj is not None:
                out.append(obj)
        return out
