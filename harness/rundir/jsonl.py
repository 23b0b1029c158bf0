"""Append-only JSON-lines files: a writer safe across greenlets and threads, a tolerant reader,
a columnar reader for large files, and a tail that reads what was appended since the last look.

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
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # imported when a table is read: the load generator writes, never reads
    import pyarrow as pa

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


#: Bytes of whole lines handed to Arrow at a time: each piece is parsed by Arrow's threads
#: while Python holds only it (not the whole file), and no Arrow thread ever reads a Python
#: file object (a streaming reader's read-ahead thread can hang the interpreter's exit).
ARROW_PIECE_BYTES = 32 << 20
#: Bytes Arrow's parser takes per thread within a piece.
ARROW_BLOCK_BYTES = 4 << 20
#: How far back from the end of a file its last line break is looked for: past it (a torn
#: line longer than this) the file is left to :func:`read_jsonl`.
TAIL_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


def _pieces(fh: IO[bytes], size: int) -> Iterator[memoryview]:
    """The first ``size`` bytes of ``fh`` in pieces of whole lines (about
    :data:`ARROW_PIECE_BYTES` each; a longer line makes a longer piece)."""
    carry = b""
    left = size
    while left > 0:
        data = carry + fh.read(min(ARROW_PIECE_BYTES, left))
        read = len(data) - len(carry)
        if read <= 0:
            break  # the file shrank
        left -= read
        cut = len(data) if left <= 0 else data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield memoryview(data)[:cut]
    if carry:
        yield memoryview(carry)


def whole_lines_size(path: Path) -> int | None:
    """How many bytes of ``path`` :func:`read_jsonl` would read as objects: the whole file,
    or the file up to its last line break when what follows is a torn line (not an object).

    None when no line break is found in the last :data:`TAIL_BYTES` bytes of a file that does
    not end in a whole object.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        tail = fh.read()
    cut = tail.rfind(b"\n")
    last = tail[cut + 1 :]
    if not last.strip() or _parse(last.decode("utf-8", errors="replace")) is not None:
        return size  # ends with a line break, blanks, or a whole last line
    if cut < 0:
        return 0 if size <= TAIL_BYTES else None
    return size - len(tail) + cut + 1


def read_jsonl_table(path: Path, schema: pa.Schema) -> pa.Table | None:
    """The objects of a JSON-lines file as an Arrow table of ``schema``, or None.

    Arrow's C++ reader parses the file a piece of whole lines at a time
    (:data:`ARROW_PIECE_BYTES`, so the raw text never sits in memory whole); fields the
    schema does not name are ignored, missing ones are null, and a torn last line is left
    out, as :func:`read_jsonl` does. It reads a value
    only when it has the schema's type (an integer for ``int64``, a number for ``float64``,
    a string for ``string``), so it returns a table only when every line is one JSON object
    that it reads as :func:`read_jsonl` would; otherwise (any line that is not an object,
    a value of another type, invalid UTF-8, a byte-order mark, a missing or empty file) it
    returns None, and the caller reads the file with :func:`read_jsonl`, which skips or
    coerces what Arrow refuses.
    """
    import pyarrow as pa
    import pyarrow.json as pa_json

    try:
        size = whole_lines_size(path)
        if not size:
            return None
        read_options = pa_json.ReadOptions(block_size=ARROW_BLOCK_BYTES)
        parse_options = pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        )
        with open(path, "rb") as fh:
            if fh.read(len(_BOM)) == _BOM:
                return None  # read_jsonl refuses the first line
            fh.seek(0)
            tables = [
                pa_json.read_json(
                    pa.BufferReader(pa.py_buffer(piece)),
                    read_options=read_options,
                    parse_options=parse_options,
                )
                for piece in _pieces(fh, size)
            ]
        table = pa.concat_tables(tables)
        table.validate(full=True)  # UTF-8 of every string
    except (OSError, ValueError, pa.ArrowException) as exc:
        log.debug("%s: read line by line (%s)", path, exc)
        return None
    return table


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
