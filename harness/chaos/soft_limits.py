"""Soft resource limits lowered on processes for a fault, and restored at its revert.

Only the soft limit changes; the hard limit is kept (a lowered hard limit could never be
raised again here). Each process gets its own limit (an rlimit belongs to one process),
at its own use plus the fault's headroom; a process gone by the revert is skipped.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil

from harness.chaos.base import ChaosError


class SoftLimits:
    """The soft limits one fault lowered, in order, until :meth:`restore`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._saved: list[tuple[int, int, int]] = []  # (pid, resource, old soft limit)

    def lower(self, pid: int, resource: int, limit: Callable[[psutil.Process], int]) -> None:
        """Set ``resource``'s soft limit of ``pid`` to ``limit(process)`` (at most the hard
        limit), keeping the old one to restore.

        Raises:
            ChaosError: the process cannot be limited.
        """
        try:
            proc = psutil.Process(pid)
            soft, hard = proc.rlimit(resource)
            new = limit(proc)
            if hard != psutil.RLIM_INFINITY:
                new = min(new, hard)
            self._saved.append((pid, resource, soft))
            proc.rlimit(resource, (new, hard))
        except (psutil.Error, OSError) as exc:
            raise ChaosError(f"{self.name}: cannot limit PID {pid}: {exc}") from None

    def restore(self) -> None:
        """Every saved soft limit back, last first (idempotent).

        Raises:
            ChaosError: a process still running could not be restored (the rest are kept
                to retry).
        """
        while self._saved:
            pid, resource, old_soft = self._saved[-1]
            try:
                proc = psutil.Process(pid)
                _, hard = proc.rlimit(resource)
                if hard != psutil.RLIM_INFINITY and old_soft > hard:
                    old_soft = hard  # someone lowered the hard limit meanwhile
                proc.rlimit(resource, (old_soft, hard))
            except psutil.NoSuchProcess:
                pass  # the process is gone: nothing left to restore
            except (psutil.Error, OSError) as exc:
                raise ChaosError(
                    f"{self.name}: cannot restore the limit of PID {pid}: {exc}"
                ) from None
            self._saved.pop()
