"""Reading ``attempts.jsonl`` into columns (Arrow) gives the frame the line reader gives.

The columnar reader is taken for a file the harness writes (whole records, a torn last line,
a last line without its line break); for any line Arrow would read otherwise than the line
reader (not an object, a value of another type, NaN, invalid UTF-8, a byte-order mark ...)
the run falls back to the line reader. Either way the frame must be the same, dtypes too.
"""

from __future__ import annotations

import gc
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.frames import ATTEMPT_SCHEMA, attempts_frame, paused_gc
from harness.analysis.run import chunked_attempts_frame, read_attempts
from harness.rundir.jsonl import read_jsonl, read_jsonl_table
from harness.rundir.records import AttemptRecord
from tests.analysis.builders import rec


def varied_records() -> list[dict[str, Any]]:
    """Records with every kind of value: nulls, lists, flags unknown, text beyond ASCII."""
    full = asdict(AttemptRecord("run-1", "worker-2", 7, 1, "valid", "query", "accept", 1.5))
    rows: list[dict[str, Any]] = [full]
    rows.append(rec("valid", "accepted", "ok", t=1.0, hs=3.25, chaos=("cpu_quota#1",)))
    rows.append(
        rec("expired", "closed_auth", "ok", t=2.0, code=4401, reason="jeton expiré ✓",
            chaos=("a#1", "b#2"), session="w-1-1", session_attempt=2, upgraded=None,
            token_refreshed=True, fallback=False, error='said "no"\nthen left')
    )  # fmt: skip
    rows.append(rec("empty", "rejected_auth", "ok", status=401, user=2**53 + 1, chaos=()))
    rows.append({"run_id": "run-1", "token_kind": "valid", "t_start": 3.0})  # keys missing
    rows.append(rec("valid", "refused", "abrupt", t=4.0, open_s=0, t_end=5) | {"chaos": None})
    return rows


def write_lines(path: Path, rows: list[dict[str, Any]], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows) + tail)
    return path


def assert_same_frame(path: Path) -> None:
    line_by_line = chunked_attempts_frame(read_jsonl(path))
    pd.testing.assert_frame_equal(read_attempts(path), line_by_line)


@pytest.mark.parametrize(
    "tail",
    [b"", b'{"run_id": "run-1", "worker": "w', b'{"run_id": "run-9"}', b"\n\n"],
    ids=["whole", "torn last line", "last line without its break", "blank lines"],
)
def test_the_columnar_reader_reads_what_the_line_reader_reads(tmp_path: Path, tail: bytes) -> None:
    path = write_lines(tmp_path / "attempts.jsonl", varied_records() * 3, tail)
    table = read_jsonl_table(path, ATTEMPT_SCHEMA)
    assert table is not None  # Arrow read it: the fast path is taken
    assert table.num_rows == sum(1 for _ in read_jsonl(path))
    assert_same_frame(path)


#: Lines Arrow refuses or could read differently; each file falls back to the line reader.
ODD_LINES: dict[str, bytes] = {
    "an array": b"[1, 2]",
    "a number": b"7",
    "NaN in a count": b'{"user": NaN, "token_kind": "valid"}',
    "NaN and Infinity in times": b'{"connect_ms": NaN, "open_s": Infinity}',
    "a count as text": b'{"user": "7"}',
    "a count with a fraction": b'{"user": 1.0, "close_code": 1000.4}',
    "text as a number": b'{"outcome": 7, "verdict": true}',
    "text as an object": b'{"error": {"why": "x"}}',
    "chaos as text": b'{"chaos": "cpu#1"}',
    "chaos of numbers": b'{"chaos": [1, 2]}',
    "a flag as text": b'{"fallback": "yes"}',
    "invalid UTF-8": b'{"close_reason": "\xff\xfe"}',
    "a lone surrogate": b'{"close_reason": "\\ud800"}',
    "a key twice": b'{"user": 1, "user": 2}',
    "a torn line in the middle": b'{"run_id": "run-1", "us',
}


@pytest.mark.parametrize("line", ODD_LINES.values(), ids=ODD_LINES.keys())
def test_a_file_arrow_would_read_otherwise_is_read_line_by_line(
    tmp_path: Path, line: bytes
) -> None:
    rows = varied_records()
    path = tmp_path / "attempts.jsonl"
    path.write_bytes(
        b"".join(json.dumps(r).encode() + b"\n" for r in rows[:3])
        + line
        + b"\n"
        + b"".join(json.dumps(r).encode() + b"\n" for r in rows[3:])
    )
    assert_same_frame(path)


def test_a_byte_order_mark_or_no_records_falls_back(tmp_path: Path) -> None:
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(varied_records()[1]).encode() + b"\n")
    assert read_jsonl_table(bom, ATTEMPT_SCHEMA) is None
    assert_same_frame(bom)  # the line reader refuses that first line: no records
    for name, text in (("empty.jsonl", b""), ("torn.jsonl", b'{"run_id": "r')):
        path = tmp_path / name
        path.write_bytes(text)
        assert read_jsonl_table(path, ATTEMPT_SCHEMA) is None
        pd.testing.assert_frame_equal(read_attempts(path), attempts_frame([]))
    missing = tmp_path / "missing.jsonl"
    pd.testing.assert_frame_equal(read_attempts(missing), attempts_frame([]))


def test_the_collector_pause_restores_the_collector_as_it_was() -> None:
    was = gc.isenabled()
    try:
        for before in (True, False):
            (gc.enable if before else gc.disable)()
            with paused_gc():
                assert not gc.isenabled()
            assert gc.isenabled() is before
    finally:
        (gc.enable if was else gc.disable)()
