"""CPU quota on the target through a cgroup: it may use ``percent`` of one core per period.

The target process (all its threads, and what it forks afterwards) moves into a child group
``harness-<pid>-<random>`` (see :mod:`harness.chaos.cgroups`) with a CFS bandwidth limit:
cgroup v2 ``cpu.max = "<quota> <period>"``, cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``
(both in µs). The kernel's smallest quota is 1 ms per period, so very small shares round up.
Revert moves the target back to the group it came from (if it still exists) and removes the group.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.chaos import cgroups
from harness.chaos.base import ChaosContext, Fault, param, register
from harness.chaos.cgroups import CgroupHandle

MIN_QUOTA_US = 1_000  # the kernel refuses less CPU time per period (µs)


@dataclass(frozen=True)
class CpuQuotaParams:
    percent: float = param(
        20.0, unit="%", low=0, low_open=True, high=800, doc="CPU the target may use, 100 = one core"
    )
    period_ms: float = param(100.0, unit="ms", low=1, high=1000, doc="CFS enforcement period")


@register
class CpuQuota(Fault):
    """Throttle the target to ``percent`` of one CPU with a cgroup CFS quota."""

    name = "cpu_quota"
    kind = "cpu"
    Params = CpuQuotaParams
    summary = "cgroup CPU quota on the target (v2 cpu.max, v1 cpu.cfs_quota_us)"

    def __init__(self, params: CpuQuotaParams | None = None) -> None:
        super().__init__(params)
        self._group: CgroupHandle | None = None

    @classmethod
    def unsupported(cls) -> str | None:
        return cgroups.unsupported("cpu")

    def apply(self, ctx: ChaosContext) -> None:
        pid = ctx.require_pid(self.name)
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
        group.add(pid)

    def revert(self, ctx: ChaosContext) -> None:
        if self._group is not None:
            self._group.remove()  # moves the target back first
            self._group = None
