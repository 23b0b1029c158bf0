"""Reset: new connections through the chaos proxy get a TCP RST, at accept or later."""

from __future__ import annotations

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.proxy.toxics import Reset
from harness.config.faults import RESET, ResetParams


@register
class ResetFault(Fault):
    """Connection resets: with ``probability``, RST (SO_LINGER 0) after ``after_ms``."""

    spec = RESET

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
