"""Samples the target process's CPU, memory, file descriptors and connections once a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import SAMPLES


def sample(proc: psutil.Process) -> dict[str, Any]:
    """One sample of ``proc``: CPU % since the previous call (100 = one core), RSS MB, FDs,
    TCP connections, threads; ``t`` in epoch seconds."""
    with proc.oneshot():
        cpu = proc.cpu_percent(None)
        rss_mb = proc.memory_info().rss / (1024 * 1024)
        fds = proc.num_fds()
        threads = proc.num_threads()
    try:
        conns = len(proc.net_connections(kind="tcp"))
    except (psutil.AccessDenied, psutil.NoSuchProcess):
        conns = -1
    return {
        "t": round(time.time(), 3),
        "cpu_percent": round(cpu, 1),
        "rss_mb": round(rss_mb, 2),
        "fds": fds,
        "connections": conns,
        "threads": threads,
    }


class Probe:
    """Background sampler of one PID, writing ``samples.jsonl`` in the run directory.

    Runs in a thread (a greenlet under gevent's monkey-patching) until :meth:`stop`.
    While the process is gone (killed by chaos) no samples are written.
    """

    def __init__(
        self,
        pid: int,
        run_dir: Path,
        interval: float = 1.0,
        on_sample: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.pid = pid
        self.interval = interval
        self.writer = JsonlWriter(run_dir / SAMPLES)
        self.last: dict[str, Any] | None = None
        self._on_sample = on_sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="probe", daemon=True)

    def start(self) -> Probe:
        self._thread.start()
        return self

    def retarget(self, pid: int) -> None:
        """Follow a new process from the next sample on (the target was restarted)."""
        self.pid = pid

    def _loop(self) -> None:
        proc: psutil.Process | None = None
        while not self._stop.wait(self.interval):
            try:
                if proc is None or proc.pid != self.pid:
                    proc = psutil.Process(self.pid)
                    proc.cpu_percent(None)  # prime: the first call always returns 0.0
                    continue
                s = sample(proc)
            except psutil.Error:
                proc = None  # gone (killed by chaos?): try again, it may be restarted
                continue
            self.last = s
            self.writer.write(s)
            if self._on_sample is not None:
                self._on_sample(s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.writer.close()
