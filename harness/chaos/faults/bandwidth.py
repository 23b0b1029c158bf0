"""Bandwidth: cap each direction of each connection through the chaos proxy to a rate."""

from __future__ import annotations

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.proxy.toxics import Bandwidth
from harness.config.faults import BANDWIDTH, BandwidthParams


@register
class BandwidthFault(Fault):
    """Thin pipe: every connection is paced to ``kib_per_s`` each way."""

    spec = BANDWIDTH

    @property
    def key(self) -> str:
        """The proxy toxic key of this fault instance."""
        return f"{self.name}-{id(self)}"

    def apply(self, ctx: ChaosContext) -> None:
        p: BandwidthParams = self.params
        ctx.require_proxy(self.name).set_toxic(self.key, Bandwidth(p.kib_per_s))

    def revert(self, ctx: ChaosContext) -> None:
        if ctx.proxy is not None:
            ctx.proxy.clear_toxic(self.key)
