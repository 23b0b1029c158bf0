"""A soft address-space or data-segment limit on the target, a little above what it uses now.

Further allocations beyond ``headroom_mb`` fail: in a Python target they raise
``MemoryError``, which the target can catch and recover from (unlike an OOM kill).
Only the soft limit changes; the hard limit is kept, because a lowered hard limit could
never be raised again here. Revert restores the soft value found at apply.

An rlimit belongs to one process: with a process tree (the embedded target's server
processes, with ``processes > 1``) each process gets its own limit, at its own use +
``headroom_mb``.
"""

from __future__ import annotations

import psutil

from harness.chaos.base import ChaosContext, ChaosError, Fault, register
from harness.chaos.soft_limits import SoftLimits
from harness.config.faults import MEMORY_RLIMIT, MemoryRlimitParams

MIB = 1024 * 1024  # bytes
#: rlimit resource per parameter value
RESOURCES = {"as": psutil.RLIMIT_AS, "data": psutil.RLIMIT_DATA}


def current_usage(pid: int, resource: str) -> int:
    """Bytes the target uses now in the sense of ``resource`` (VMS, or VmData)."""
    if resource == "as":
        return int(psutil.Process(pid).memory_info().vms)
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    raise ChaosError(f"memory_rlimit: no VmData in /proc/{pid}/status")


@register
class MemoryRlimit(Fault):
    """Soft RLIMIT_AS / RLIMIT_DATA at current use + ``headroom_mb``."""

    spec = MEMORY_RLIMIT

    def __init__(self, params: MemoryRlimitParams | None = None) -> None:
        super().__init__(params)
        self._limits = SoftLimits(self.name)

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)
        p: MemoryRlimitParams = self.params
        pids = ctx.require_tree(self.name)
        if p.resource not in RESOURCES:
            raise ChaosError(f"{self.name}: resource must be one of {', '.join(RESOURCES)}")
        headroom = int(p.headroom_mb * MIB)
        for pid in pids:
            self._limits.lower(
                pid,
                RESOURCES[p.resource],
                lambda proc: current_usage(proc.pid, p.resource) + headroom,
            )

    def revert(self, ctx: ChaosContext) -> None:
        self._limits.restore()
