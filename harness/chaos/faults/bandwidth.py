"""Bandwidth: cap each direction of each connection through the chaos proxy to a rate."""

from __future__ import annotations

from dataclasses import dataclass

from harness.chaos.base import ChaosContext, Fault, param, register
from harness.chaos.proxy.toxics import Bandwidth


@dataclass(frozen=True)
class BandwidthParams:
    kib_per_s: float = param(
        64.0,
        unit="KiB/s",
        low=0,
        low_open=True,
        high=1_048_576,
        doc="rate per direction per connection (1 KiB = 1024 bytes)",
    )


@register
class BandwidthFault(Fault):
    """Thin pipe: every connection is paced to ``kib_per_s`` each way."""

    name = "bandwidth"
    disruptive = True
    kind = "network"
    Params = BandwidthParams
    needs_proxy = True
    needs_pid = False
    summary = "cap each direction of each connection to kib_per_s (chaos proxy)"

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
