"""Samples the target's CPU, memory, file descriptors and connections once a second.

The target is a process tree: the embedded target with ``processes > 1`` is a parent and its
server processes (:mod:`harness.target.pool`), an external one may fork workers. A sample
sums every figure over the process and its descendants, and says how many there were.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import SAMPLES


def sample(proc: psutil.Process, *descendants: psutil.Process) -> dict[str, Any]:
    """One sample of ``proc`` and ``descendants``, summed: CPU % since the previous call on each
    process (100 = one core), RSS MB, FDs, TCP connections (-1: not visible), threads, and
    ``processes`` (how many were sampled); ``t`` in epoch seconds.

    Raises:
        psutil.Error: ``proc`` itself is gone (a descendant that is gone is left out).
    """
    cpu = rss = 0.0
    fds = threads = conns = processes = 0
    for p in (proc, *descendants):
        try:
            with p.oneshot():
                cpu += p.cpu_percent(None)
                rss += p.memory_info().rss
                fds += p.num_fds()
                threads += p.num_threads()
            try:
                conns = -1 if conns < 0 else conns + len(p.net_connections(kind="tcp"))
            except psutil.AccessDenied:
                conns = -1
        except psutil.Error:
            if p is proc:
                raise
            continue  # a descendant that ended meanwhile
        processes += 1
    return {
        "t": round(time.time(), 3),
        "cpu_percent": round(cpu, 1),
        "rss_mb": round(rss / (1024 * 1024), 2),
        "fds": fds,
        "connections": conns,
        "threads": threads,
        "processes": processes,
    }


class Tree:
    """A process and its descendants, followed from sample to sample: each process is one
    :class:`psutil.Process` for as long as it lives, so its CPU % counts from its last sample
    (a process seen for the first time is primed and counts 0 % once)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.root.cpu_percent(None)  # prime: the first call always returns 0.0
        self._known: dict[int, psutil.Process] = {}

    def descendants(self) -> list[psutil.Process]:
        """The root's descendants now (raises psutil.Error when the root is gone)."""
        now: dict[int, psutil.Process] = {}
        for child in self.root.children(recursive=True):
            known = self._known.get(child.pid)
            if known is None or known != child:  # new, or a recycled PID
                known = child
                with contextlib.suppress(psutil.Error):
                    known.cpu_percent(None)
            now[child.pid] = known
        self._known = now
        return list(now.values())

    def sample(self) -> dict[str, Any]:
        """One :func:`sample` of the whole tree."""
        return sample(self.root, *self.descendants())


class Probe:
    """Background sampler of one PID and its descendants (:class:`Tree`), writing
    ``samples.jsonl`` in the run directory.

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
        tree: Tree | None = None
        while not self._stop.wait(self.interval):
            try:
                if tree is None or tree.root.pid != self.pid:
                    tree = Tree(self.pid)
                    tree.descendants()  # primes them too
                    continue
                s = tree.sample()
            except psutil.Error:
                tree = None  # gone (killed by chaos?): try again, it may be restarted
                continue
            self.last = s
            self.writer.write(s)
            if self._on_sample is not None:
                self._on_sample(s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.writer.close()
