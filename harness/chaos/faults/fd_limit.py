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

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.soft_limits import SoftLimits
from harness.config.faults import FD_LIMIT, FdLimitParams


@register
class FdLimit(Fault):
    """Soft RLIMIT_NOFILE at open descriptors + ``headroom``."""

    spec = FD_LIMIT

    def __init__(self, params: FdLimitParams | None = None) -> None:
        super().__init__(params)
        self._limits = SoftLimits(self.name)

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)
        headroom = self.params.headroom
        for pid in ctx.require_tree(self.name):
            self._limits.lower(pid, psutil.RLIMIT_NOFILE, lambda p: p.num_fds() + headroom)

    def revert(self, ctx: ChaosContext) -> None:
        self._limits.restore()
