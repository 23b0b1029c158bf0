"""The attempt record (one row per connection attempt) and the append-only JSONL files of a run.

Files in a run directory written through this module:

- ``attempts.jsonl``: one :class:`AttemptRecord` per line, written exactly once per attempt.
- ``samples.jsonl``: one target resource sample per line (see :mod:`harness.load.probe`).

Writers flush at least every second (and on close), so a killed run loses at most
the last second; readers tolerate a torn last line.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, Any

ATTEMPTS_FILE = "attempts.jsonl"
SAMPLES_FILE = "samples.jsonl"


@dataclass
class AttemptRecord:
    """One connection attempt, whatever happened to it.

    Times are wall-clock seconds since the epoch (``t_start``) or durations in
    milliseconds (``*_ms``) / seconds (``open_s``). ``None`` means "not reached".
    """

    run_id: str
    worker: str  # load-generator process, e.g. "local" or a Locust worker id
    user: int  # Locust user number within the worker
    attempt: int  # attempt number of this user, from 1
    token_kind: str  # valid, empty, missing, expired, ...
    placement: str  # query, header, none
    expected: str  # "accept" or "reject"
    t_start: float  # epoch seconds when the attempt began
    connect_ms: float | None = None  # TCP connect time
    handshake_ms: float | None = None  # upgrade request sent -> response read
    outcome: str = ""  # harness.protocol.outcomes.Outcome value
    verdict: str = ""  # harness.protocol.outcomes.Verdict value
    manner: str | None = None  # graceful / abrupt for refusals
    stage: str = ""  # connect, handshake, open: where the attempt ended
    http_status: int | None = None  # status of the upgrade response
    close_code: int | None = None  # from the close frame
    close_reason: str | None = None  # from the close frame (UTF-8)
    closed_by: str | None = None  # server, client, or None (connection just ended)
    open_s: float | None = None  # how long the WebSocket stayed open
    msgs_sent: int = 0
    msgs_recv: int = 0
    rtt_ms_avg: float | None = None  # round trip of messages that got a reply
    rtt_ms_max: float | None = None
    pings: int = 0  # server pings seen while open
    error: str | None = None  # short error text, secrets redacted
    chaos: list[str] = field(default_factory=list)  # chaos window labels the attempt lived through
    load_stage: str = ""  # label of the load stage at t_start

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AttemptRecord))


class JsonlWriter:
    """Append-only JSON-lines file, safe to use from several greenlets or threads.

    Lines are buffered and flushed when ``flush_every`` seconds have passed since
    the last flush, and on :meth:`close`. Each ``write`` appends one whole line.
    """

    def __init__(self, path: Path, flush_every: float = 1.0) -> None:
        self.path = path
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._last_flush = time.monotonic()
        self.count = 0

    def write_line(self, line: str) -> None:
        with self._lock:
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
    """Yield the objects of a JSON-lines file, skipping a torn (partially written) line."""
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue  # torn last line of a killed run
            if isinstance(obj, dict):
                yield obj
