"""Blackhole: the chaos proxy reads and discards everything, both ways; nothing arrives."""

from __future__ import annotations

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.proxy.toxics import Blackhole
from harness.config.faults import BLACKHOLE


@register
class BlackholeFault(Fault):
    """A silent network: connections are accepted, then nothing is forwarded either way.

    Existing connections go silent too; a close by the target is held back until the
    fault ends. Clients see handshake or reply timeouts.
    """

    spec = BLACKHOLE

    @property
    def key(self) -> str:
        """The proxy toxic key of this fault instance."""
        return f"{self.name}-{id(self)}"

    def apply(self, ctx: ChaosContext) -> None:
        ctx.require_proxy(self.name).set_toxic(self.key, Blackhole())

    def revert(self, ctx: ChaosContext) -> None:
        if ctx.proxy is not None:
            ctx.proxy.clear_toxic(self.key)
