"""Connection cap: the chaos proxy admits at most N concurrent client connections.

The excess is ``reset`` (TCP RST), ``hold`` (accepted, nothing forwarded until a
slot frees or the fault ends; then it proceeds) or ``refuse`` (HTTP 503 with
``Retry-After: 1``). Connections open when the cap starts are kept and count.
"""

from __future__ import annotations

from harness.chaos.base import ChaosContext, Fault, register
from harness.chaos.proxy.toxics import ConnectionCap
from harness.config.faults import CONNECTION_CAP, ConnectionCapParams


@register
class ConnectionCapFault(Fault):
    """Too many connections: beyond ``max_connections`` new ones are reset, held or refused."""

    spec = CONNECTION_CAP

    @property
    def key(self) -> str:
        """The proxy toxic key of this fault instance."""
        return f"{self.name}-{id(self)}"

    def apply(self, ctx: ChaosContext) -> None:
        p: ConnectionCapParams = self.params
        ctx.require_proxy(self.name).set_toxic(self.key, ConnectionCap(p.max_connections, p.mode))

    def revert(self, ctx: ChaosContext) -> None:
        if ctx.proxy is not None:
            ctx.proxy.clear_toxic(self.key)
