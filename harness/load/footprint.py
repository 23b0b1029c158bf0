"""The load generator's own footprint: how many WebSockets it holds open, its memory and
file descriptors, sampled once a second into ``generator.jsonl``; its peak goes into
``meta.json`` (``generator``), so the report can say what one held connection costs the
generator.

:data:`OPEN` counts the sessions this process holds open right now (the plain WebSocket
and Socket.IO clients count a session from its accepted upgrade to its socket's close).
A process's figures are :func:`own_footprint`; a master's are the sum of its workers' last
reports (:meth:`harness.load.master.MasterSide.footprint`, every 3 s, Locust's interval).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import GENERATOR
from harness.rundir.meta import GeneratorFootprint


class OpenCount:
    """Sessions open now in this process (greenlets of one thread: no lock needed)."""

    def __init__(self) -> None:
        self.now = 0

    def opened(self) -> None:
        self.now += 1

    def closed(self) -> None:
        self.now -= 1


#: The sessions this process holds open.
OPEN = OpenCount()

_SELF = psutil.Process()


def own_footprint() -> dict[str, Any]:
    """This process now: ``open`` sessions, ``rss`` bytes, ``fds``, ``cpu_s`` (user and
    system CPU seconds so far), ``processes`` (1)."""
    with _SELF.oneshot():
        rss, fds, cpu = _SELF.memory_info().rss, _SELF.num_fds(), _SELF.cpu_times()
    return {
        "open": OPEN.now,
        "rss": rss,
        "fds": fds,
        "cpu_s": cpu.user + cpu.system,
        "processes": 1,
    }


Source = Callable[[], dict[str, Any] | None]

#: Sessions open at the peak below which no memory per connection is given: with a handful,
#: the RSS growth is the process's own (imports, buffers), not the connections'.
MIN_OPEN_FOR_PER = 100


class FootprintProbe:
    """Samples ``source`` (a footprint dict, or None: nothing known yet) every ``interval``
    seconds into ``generator.jsonl`` and keeps the figures :meth:`result` reports.

    Runs in a thread (a greenlet under gevent's monkey-patching) until :meth:`stop`.
    """

    def __init__(
        self,
        source: Source,
        run_dir: Path,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.clock = clock
        self.interval = interval
        self.writer = JsonlWriter(run_dir / GENERATOR)
        self.peak: dict[str, Any] | None = None  # the sample with the most sessions open
        self.rss_idle: int | None = None  # the first sample's: before the first user
        self.rss_max = 0
        self.processes = 0
        #: share of one core per process over each interval with sessions open
        self.cpu_shares: list[float] = []
        self._last_cpu: tuple[float, float] | None = None  # (monotonic s, CPU s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="footprint", daemon=True)

    def start(self) -> FootprintProbe:
        self.take()  # the idle size, before the first user
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()

    def take(self) -> None:
        got = self.source()
        if got is None:
            return
        rss, opened = int(got["rss"]), int(got["open"])
        if self.rss_idle is None:
            self.rss_idle = rss
        self.rss_max = max(self.rss_max, rss)
        self.processes = max(self.processes, int(got.get("processes", 1)))
        if self.peak is None or opened > int(self.peak["open"]):
            self.peak = got
        share = self._cpu_share(got)
        if share is not None and opened > 0:
            self.cpu_shares.append(share)
        self.writer.write(
            {
                "t": round(time.time(), 3),
                "open": opened,
                "rss_mb": round(rss / 2**20, 2),
                "fds": int(got["fds"]),
                "processes": int(got.get("processes", 1)),
                "cpu": None if share is None else round(share, 3),
            }
        )

    def _cpu_share(self, got: dict[str, Any]) -> float | None:
        """The share of one core each generating process used since the last sample."""
        if got.get("cpu_s") is None:
            return None
        now, cpu = self.clock(), float(got["cpu_s"])
        last, self._last_cpu = self._last_cpu, (now, cpu)
        if last is None or now - last[0] <= 0 or cpu < last[1]:
            return None
        return (cpu - last[1]) / (now - last[0]) / max(1, int(got.get("processes", 1)))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.writer.close()

    def result(self) -> GeneratorFootprint | None:
        """The peak and the memory per held session (None: no sample at all)."""
        if self.peak is None or self.rss_idle is None:
            return None
        peak_open, rss_at_peak = int(self.peak["open"]), int(self.peak["rss"])
        per = None
        if peak_open >= MIN_OPEN_FOR_PER:
            per = (rss_at_peak - self.rss_idle) / peak_open / 1024
        return GeneratorFootprint(
            processes=self.processes,
            peak_open=peak_open,
            rss_mb_at_peak=round(rss_at_peak / 2**20, 1),
            rss_mb_idle=round(self.rss_idle / 2**20, 1),
            rss_mb_max=round(self.rss_max / 2**20, 1),
            kb_per_open=None if per is None else round(per, 1),
            cpu_share_median=_median(self.cpu_shares),
            cpu_share_max=round(max(self.cpu_shares), 3) if self.cpu_shares else None,
        )


def _median(values: list[float]) -> float | None:
    """The median, rounded; None for fewer than 3 values (too few to say it was busy)."""
    if len(values) < 3:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    m = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(m, 3)
