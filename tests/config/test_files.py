"""Tests of harness.config.files: regular files only, read with a limit, never hanging."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.config.files import Unreadable, check_regular, file_kind, read_limited, size_text


def reason(path: str | Path, limit: int = 100) -> str:
    with pytest.raises(Unreadable) as info:
        read_limited(path, limit)
    return info.value.reason


def test_a_regular_file_within_the_limit_is_read_whole() -> None:
    Path("f").write_bytes(b"x" * 100)
    assert read_limited("f", 100) == b"x" * 100
    Path("empty").write_bytes(b"")
    assert read_limited("empty", 100) == b""
    os.symlink("f", "link")
    assert read_limited("link", 100) == b"x" * 100


def test_one_byte_over_the_limit_is_refused() -> None:
    Path("f").write_bytes(b"x" * 101)
    assert reason("f") == "larger than 100 bytes"
    Path("k").write_bytes(b"x" * (64 << 10) + b"\n")
    assert reason("k", 64 << 10) == "larger than 64 KiB"


@pytest.mark.timeout(10)
def test_a_fifo_is_refused_at_once_without_waiting_for_a_writer() -> None:
    os.mkfifo("fifo")
    start = time.monotonic()
    assert reason("fifo") == "not a regular file (a FIFO)"
    assert time.monotonic() - start < 1
    with pytest.raises(Unreadable, match=r"^not a regular file \(a FIFO\)$"):
        check_regular("fifo")


def test_devices_and_directories_are_refused() -> None:
    assert reason("/dev/zero") == "not a regular file (a character device)"
    assert reason("/dev/null") == "not a regular file (a character device)"
    Path("d").mkdir()
    assert reason("d") == "Is a directory"


def test_a_missing_file_says_so_and_check_regular_lets_it_be() -> None:
    assert reason("missing") == "No such file or directory"
    check_regular("missing")  # read later, reported then
    Path("f").write_text("x")
    check_regular("f")


def test_kinds_and_sizes_for_messages() -> None:
    assert file_kind(os.stat("/dev/zero").st_mode) == "a character device"
    assert file_kind(os.stat("/").st_mode) == "a directory"
    assert (size_text(1 << 20), size_text(64 << 10), size_text(1000)) == (
        "1 MiB",
        "64 KiB",
        "1000 bytes",
    )
