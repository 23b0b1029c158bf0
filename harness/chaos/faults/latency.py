"""Latency: delay every chunk through the chaos proxy, both directions, by ms +- jitter."""

from __future__ import annotations

from dataclasses import dataclass

from harness.chaos.base import ChaosContext, Fault, param, register
from harness.chaos.proxy.toxics import Latency


@dataclass(frozen=True)
class LatencyParams:
    ms: float = param(200.0, unit="ms", low=0, high=60_000, doc="delay added to every chunk")
    jitter_ms: float = param(
        0.0, unit="ms", low=0, high=60_000, doc="uniform +- around ms; order is kept"
    )


@register
class LatencyFault(Fault):
    """Slow network: each chunk waits ``ms`` +- ``jitter_ms`` in each direction."""

    name = "latency"
    disruptive = True
    kind = "network"
    Params = LatencyParams
    needs_proxy = True
    needs_pid = False
    summary = "delay every chunk both ways by ms +- jitter_ms (chaos proxy)"

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
