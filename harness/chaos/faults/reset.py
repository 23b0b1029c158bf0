"""Reset: new connections through the chaos proxy get a TCP RST, at accept or later."""

from __future__ import annotations

from dataclasses import dataclass

from harness.chaos.base import ChaosContext, Fault, param, register
from harness.chaos.proxy.toxics import Reset


@dataclass(frozen=True)
class ResetParams:
    probability: float = param(
        1.0, unit="fraction", low=0, high=1, doc="share of new connections reset (0..1)"
    )
    after_ms: float = param(
        0.0, unit="ms", low=0, high=3_600_000, doc="forwarding before the RST; 0 = at accept"
    )


@register
class ResetFault(Fault):
    """Connection resets: with ``probability``, RST (SO_LINGER 0) after ``after_ms``."""

    name = "reset"
    disruptive = True
    kind = "network"
    Params = ResetParams
    needs_proxy = True
    needs_pid = False
    summary = "reset new connections (RST) at accept or after after_ms (chaos proxy)"

    @property
    def key(self) -> str:
        """The proxy toxic key of this fault instance."""
        return f"{self.name}-{id(self)}"

    def apply(self, ctx: ChaosContext) -> None:
        p: ResetParams = self.params
        ctx.require_proxy(self.name).set_toxic(self.key, Reset(p.probability, p.after_ms))

    def revert(self, ctx: ChaosContext) -> None:
        if ctx.proxy is not None:
            ctx.proxy.clear_toxic(self.key)
