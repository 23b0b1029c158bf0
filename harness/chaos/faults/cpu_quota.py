"""CPU quota on the target through a cgroup: it may use ``percent`` of one core per period.

The target process (all its threads, and what it forks afterwards) and every process it forked
before (the embedded target's server processes, with ``processes > 1``) move into a child group
``harness-<pid>-<random>`` (see :mod:`harness.chaos.cgroups`) with a CFS bandwidth limit:
cgroup v2 ``cpu.max = "<quota> <period>"``, cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``
(both in µs): the quota is the whole tree's, not each process's. The kernel's smallest quota
is 1 ms per period, so very small shares round up.
Revert moves the target back to the group it came from (if it still exists) and removes the group.
"""

from __future__ import annotations

from harness.chaos import cgroups
from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.cgroups import CgroupHandle
from harness.config.faults import CPU_QUOTA, CpuQuotaParams

MIN_QUOTA_US = 1_000  # the kernel refuses less CPU time per period (µs)


@register
class CpuQuota(Fault):
    """Throttle the target to ``percent`` of one CPU with a cgroup CFS quota."""

    spec = CPU_QUOTA

    def __init__(self, params: CpuQuotaParams | None = None) -> None:
        super().__init__(params)
        self._group: CgroupHandle | None = None

    @classmethod
    def unsupported(cls) -> str | None:
        return cgroups.unsupported("cpu")

    def apply(self, ctx: ChaosContext) -> None:
        pids = ctx.require_tree(self.name)
        pid = pids[0]
        self.revert(ctx)  # applying twice replaces the group, never leaks one
        p: CpuQuotaParams = self.params
        period_us = round(p.period_ms * 1000)
        quota_us = max(MIN_QUOTA_US, round(p.percent / 100 * period_us))
        self._group = group = CgroupHandle.create("cpu", for_pid=pid)
        if group.version == 2:
            group.write("cpu.max", f"{quota_us} {period_us}")
        else:
            group.write("cpu.cfs_period_us", str(period_us))
            group.write("cpu.cfs_quota_us", str(quota_us))
        for member in pids:
            group.add(member)

    def revert(self, ctx: ChaosContext) -> None:
        if self._group is not None:
            self._group.remove()  # moves the target back first
            self._group = None
