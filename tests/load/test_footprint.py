"""The load generator's footprint (harness.load.footprint): what a held connection costs,
from samples of a source; this process's own figures from /proc."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from harness.load.footprint import OPEN, FootprintProbe, own_footprint


def scripted(samples: list[dict[str, Any]]) -> Any:
    it = iter(samples)
    return lambda: next(it, None)


def test_the_peak_and_the_memory_per_held_connection(tmp_path: Path) -> None:
    mb = 2**20
    probe = FootprintProbe(
        scripted(
            [
                {"open": 0, "rss": 100 * mb, "fds": 10, "processes": 2},  # before any user
                {"open": 500, "rss": 105 * mb, "fds": 510, "processes": 2},
                {"open": 1000, "rss": 110 * mb, "fds": 1010, "processes": 2},
                {"open": 400, "rss": 120 * mb, "fds": 410, "processes": 2},  # freed late
            ]
        ),
        tmp_path,
        interval=3600,
    )
    for _ in range(4):
        probe.take()
    probe.writer.close()
    got = probe.result()
    assert got is not None
    assert (got.peak_open, got.processes) == (1000, 2)
    assert (got.rss_mb_idle, got.rss_mb_at_peak, got.rss_mb_max) == (100.0, 110.0, 120.0)
    assert got.kb_per_open == 10.2  # 10 MB over 1,000 sessions: 10.24 KB
    lines = [json.loads(line) for line in (tmp_path / "generator.jsonl").open()]
    assert [s["open"] for s in lines] == [0, 500, 1000, 400]


def test_no_figure_per_connection_from_a_handful(tmp_path: Path) -> None:
    probe = FootprintProbe(
        scripted([{"open": 0, "rss": 2**20, "fds": 5}, {"open": 3, "rss": 2**22, "fds": 8}]),
        tmp_path,
    )
    probe.take()
    probe.take()
    got = probe.result()
    assert got is not None and got.peak_open == 3 and got.kb_per_open is None


def test_own_footprint_counts_real_descriptors_and_open_sessions() -> None:
    before = own_footprint()
    with socket.socket() as s1, socket.socket() as s2:
        assert s1 and s2
        OPEN.opened()
        try:
            now = own_footprint()
        finally:
            OPEN.closed()
    assert now["fds"] >= before["fds"] + 2
    assert now["open"] == before["open"] + 1
    assert now["rss"] > 0 and now["processes"] == 1


def test_the_cpu_share_of_a_core_per_process_while_sessions_are_open(tmp_path: Path) -> None:
    samples = [
        {"open": 0, "rss": 2**20, "fds": 5, "cpu_s": 10.0, "processes": 2},
        {"open": 50, "rss": 2**20, "fds": 5, "cpu_s": 11.8, "processes": 2},
        {"open": 60, "rss": 2**20, "fds": 5, "cpu_s": 13.6, "processes": 2},
        {"open": 60, "rss": 2**20, "fds": 5, "cpu_s": 14.0, "processes": 2},
        {"open": 0, "rss": 2**20, "fds": 5, "cpu_s": 14.0, "processes": 2},  # users gone
    ]
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0])
    probe = FootprintProbe(scripted(samples), tmp_path, clock=lambda: next(clock))
    for _ in samples:
        probe.take()
    probe.writer.close()
    got = probe.result()
    assert got is not None
    # 1.8 CPU s a second over 2 processes: 90 % of a core each; idle samples left out
    assert (got.cpu_share_median, got.cpu_share_max) == (0.9, 0.9)
    lines = [json.loads(line) for line in (tmp_path / "generator.jsonl").open()]
    assert [s["cpu"] for s in lines] == [None, 0.9, 0.9, 0.2, 0.0]


def test_own_footprint_counts_this_process_cpu_time() -> None:
    before = own_footprint()["cpu_s"]
    sum(i * i for i in range(2_000_000))  # real work on this process's CPU clock
    assert own_footprint()["cpu_s"] > before
