"""Cut handshake: the upgrade reaches the target, its answer never reaches the client.

The browser's "closed before the connection is established": the chaos proxy
forwards the client's HTTP upgrade request, then closes the client connection the
moment the target's first response bytes arrive, without forwarding them.
"""

from __future__ import annotations

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.proxy.toxics import CutHandshake
from harness.config.faults import CUT_HANDSHAKE


@register
class CutHandshakeFault(Fault):
    """Connections whose response starts while active are closed before the 101."""

    spec = CUT_HANDSHAKE

    @property
    def key(self) -> str:
        """The proxy toxic key of this fault instance."""
        return f"{self.name}-{id(self)}"

    def apply(self, ctx: ChaosContext) -> None:
        ctx.require_proxy(self.name).set_toxic(self.key, CutHandshake())

    def revert(self, ctx: ChaosContext) -> None:
        if ctx.proxy is not None:
            ctx.proxy.clear_toxic(self.key)
