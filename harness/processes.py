"""Which processes the harness may act on (signal, throttle, limit): one rule, checked when a
scenario loads and again when a fault applies.

Never: PID 1 and below; the harness's own processes; its ancestors (the shell or CI job
that started it); anything in its own session (the terminal's other processes: the
embedded target runs in a session of its own); processes of another user. Pure Python on
``os`` and Linux's ``/proc`` (no psutil), so the configuration can use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def parent_of(pid: int) -> int | None:
    """The parent PID of ``pid`` from ``/proc/<pid>/stat`` (None: unknown or gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def ancestors(pid: int) -> list[int]:
    """The parent chain of ``pid`` up to PID 1 (nearest first; [] where /proc is missing)."""
    out: list[int] = []
    cur = parent_of(pid)
    while cur is not None and cur > 0 and cur not in out:
        out.append(cur)
        if cur == 1:
            break
        cur = parent_of(cur)
    return out


def real_uid(pid: int) -> int | None:
    """The real user id of ``pid`` (None: unknown or gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def refusal(pid: int, *, protected: Iterable[int] = ()) -> str | None:
    """Why the harness must not act on ``pid``; None when it may.

    Args:
        pid: the process a scenario or fault names.
        protected: more PIDs of the harness's own (e.g. the run process, seen from the
            chaos driver).
    """
    if pid <= 1:
        return f"PID {pid} is never touched (init and the kernel's)"
    me = os.getpid()
    if pid == me or pid in set(protected):
        return f"PID {pid} is one of the harness's own processes"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"PID {pid} does not exist"
    except PermissionError:
        return f"not allowed to signal PID {pid}"
    if pid in ancestors(me):
        return f"PID {pid} is an ancestor of the harness (the shell or job that started it)"
    try:
        if os.getsid(pid) == os.getsid(0):
            return (
                f"PID {pid} is in the harness's own session (a process of its terminal); "
                "start the target in a session of its own (setsid)"
            )
    except OSError:
        pass
    uid = real_uid(pid)
    if uid is not None and uid != os.getuid():
        return f"PID {pid} belongs to another user (uid {uid})"
    return None
