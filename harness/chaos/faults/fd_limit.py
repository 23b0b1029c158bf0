"""A soft file-descriptor limit on the target, a few descriptors above those it has open.

Once the headroom is used, ``accept()`` in the target fails with EMFILE: new TCP
connections complete in the kernel backlog but are never served, so clients see their
handshake stall or time out; open connections keep working. Raising the limit again
(revert) lets the target accept the waiting connections. Only the soft RLIMIT_NOFILE
changes; the hard limit is kept (a lowered hard limit could never be raised again here).

RLIMIT_NOFILE bounds descriptor numbers, not their count: the new limit is
(descriptors open now + ``headroom``), so at least ``headroom`` more can be opened.
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
        self._saved: tuple[int, int] | None = None  # pid, old soft limit

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)
        p: FdLimitParams = self.params
        pid = ctx.require_pid(self.name)
        try:
            proc = psutil.Process(pid)
            soft, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
            new = proc.num_fds() + p.headroom
            if hard != psutil.RLIM_INFINITY:
                new = min(new, hard)
            self._saved = (pid, soft)
            proc.rlimit(psutil.RLIMIT_NOFILE, (new, hard))
        except (psutil.Error, OSError) as exc:
            raise ChaosError(f"{self.name}: cannot limit PID {pid}: {exc}") from None

    def revert(self, ctx: ChaosContext) -> None:
        if self._saved is None:
            return
        pid, old_soft = self._saved
        try:
            proc = psutil.Process(pid)
            _, hard = proc.rlimit(psutil.RLIMIT_NOFILE)
            if hard != psutil.RLIM_INFINITY and old_soft > hard:
                old_soft = hard  # someone lowered the hard limit meanwhile
            proc.rlimit(psutil.RLIMIT_NOFILE, (old_soft, hard))
        except psutil.NoSuchProcess:
            pass  # the target is gone: nothing left to restore
        except (psutil.Error, OSError) as exc:
            raise ChaosError(f"{self.name}: cannot restore the limit of PID {pid}: {exc}") from None
        self._saved = None
