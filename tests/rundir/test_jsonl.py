"""JSON-lines files: whole lines, torn last lines skipped, nothing raised after close."""

from __future__ import annotations

from pathlib import Path

from harness.rundir.jsonl import JsonlTail, JsonlWriter, read_jsonl


def test_write_after_close_is_counted_not_raised(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "a.jsonl")
    writer.write({"n": 1})
    writer.close()
    writer.write({"n": 2})  # a late record: no "I/O operation on closed file"
    assert (writer.count, writer.dropped, writer.closed) == (1, 1, True)
    assert list(read_jsonl(tmp_path / "a.jsonl")) == [{"n": 1}]


def test_reader_skips_torn_and_non_object_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"n": 1}\n[1]\n\n{"n": 2}\n{"n": ')
    assert list(read_jsonl(path)) == [{"n": 1}, {"n": 2}]
    assert list(read_jsonl(tmp_path / "missing.jsonl")) == []


def test_tail_reads_only_new_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    tail = JsonlTail(path)
    path.write_text('{"n": 1}\n{"n"')
    assert tail.read() == [{"n": 1}]
    with open(path, "a") as fh:
        fh.write(": 2}\n")
    assert tail.read() == [{"n": 2}] and tail.read() == []
