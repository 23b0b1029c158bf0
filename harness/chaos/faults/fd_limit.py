"""A soft file-descriptor limit on the target, a few descriptors above those it has open.

Once the headroom is used, ``accept()`` in the target fails with EMFILE: new TCP
connections complete in the kernel backlog but are never served, so clients see their
handshake stall or time out; open connections keep working. Raising the limit again
(revert) lets the target accept the waiting connections. Only the soft RLIMIT_NOFILE
changes; the hard limit is kept (a lowered hard limit could never be raised again here).

RLIMIT_NOFILE bounds descriptor numbers, not their count: the new limit is
(descriptors open now + ``headroom``), so at least ``headroom`` more can be opened.

An rlimit belongs to one process: with a process tree (the embedded target's server
processes, with ``processes > 1``) each process gets its own limit, at its own open
descriptors + ``headroom``.
"""

from __future__ import annotations

import psutil

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.config.faults import FD_LIMIT, FdLimitParams


@register
class FdLimit(Fault):
    """Soft RLIMIT_NOFILE at open descriptors + ``headroom``."""

    spec = FD_LIMIT

    def __init__(self, params: FdLimitParams | None = None) -> None:
        super().__init__(params)
        self._saved: list[tuple[int, int]] = []  # (pid, old soft limit) of each process

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)
        p: FdLimitParams = self.params
        for pid in ctx.require_tree(self.name):
            try:
                proc = psutil.Process(pid)
                soft, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
                new = proc.num_fds() + p.headroom
                if hard != psutil.RLIM_INFINITY:
                    new = min(new, hard)
                self._saved.append((pid, soft))
                proc.rlimit(psutil.RLIMIT_NOFILE, (new, hard))
            except (psutil.Error, OSError) as exc:
                raise ChaosError(f"{self.name}: cannot limit PID {pid}: {exc}") from None

    def revert(self, ctx: ChaosContext) -> None:
        while self._saved:
            pid, old_soft = self._saved[-1]
            try:
                proc = psutil.Process(pid)
                _, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
                if hard != psutil.RLIM_INFINITY and old_soft > hard:
                    old_soft = hard  # someone lowered the hard limit meanwhile
                proc.rlimit(psutil.RLIMIT_NOFILE, (old_soft, hard))
            except psutil.NoSuchProcess:
                pass  # the process is gone: nothing left to restore
            except (psutil.Error, OSError) as exc:
                raise ChaosError(
                    f"{self.name}: cannot restore the limit of PID {pid}: {exc}"
                ) from None
            self._saved.pop()
