"""Latency: delay every chunk through the chaos proxy, both directions, by ms +- jitter."""

from __future__ import annotations

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.proxy.toxics import Latency
from harness.config.faults import LATENCY, LatencyParams


@register
class LatencyFault(Fault):
    """Slow network: each chunk waits ``ms`` +- ``jitter_ms`` in each direction."""

    spec = LATENCY

    @property
    def key(self) -> str:
        """The proxy toxic key of this fault instance."""
        return f"{self.name}-{id(self)}"

    def apply(self, ctx: ChaosContext) -> None:
        p: LatencyParams = self.params
        ctx.require_proxy(self.name).set_toxic(self.key, Latency(p.ms, p.jitter_ms))

    def revert(self, ctx: ChaosContext) -> None:
        if ctx.proxy is not None:
            ctx.proxy.clear_toxic(self.key)
