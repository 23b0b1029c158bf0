"""Random loss of packets sent to the target's TCP port on loopback, through nftables.

A private table (see :mod:`harness.chaos.nft`) drops each client-to-target packet with the
given probability: SYNs are lost (connects slow down by retransmission, or time out at
100 %), and so are data segments of open connections. Replies from the target are not
dropped. Only loopback addresses (127.0.0.0/8, ::1) and the one port are matched.

``port`` is required: the chaos driver fills it from the target URL (it is not in
:class:`~harness.chaos.base.ChaosContext`).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass

from harness.chaos.base import ChaosContext, Fault, param, register
from harness.chaos.nft import NftTable, nft_available, port_table

RESOLUTION = 10_000  # random draws per 100 %: percent is applied in steps of 0.01 %


@dataclass(frozen=True)
class PacketLossParams:
    port: int = param(MISSING, low=1, high=65535, doc="target TCP port (filled from the URL)")
    percent: float = param(
        10.0, unit="%", low=0, low_open=True, high=100, doc="share of packets dropped"
    )


@register
class PacketLoss(Fault):
    """Drop ``percent`` of loopback packets to ``port`` (client to target direction)."""

    name = "packet_loss"
    kind = "network"
    Params = PacketLossParams
    needs_pid = False
    summary = "nftables: drop a share of loopback packets to the target port"

    def __init__(self, params: PacketLossParams | None = None) -> None:
        super().__init__(params)
        self._table: NftTable | None = None

    @classmethod
    def unsupported(cls) -> str | None:
        return nft_available()

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)  # applying twice replaces the table, never leaks one
        p: PacketLossParams = self.params
        threshold = max(1, round(p.percent / 100.0 * RESOLUTION))  # > 0 % drops something
        if threshold >= RESOLUTION:
            action = "drop"  # nft refuses "< 10000" (the draw is 0-9999), and needs no draw
        else:
            action = f"numgen random mod {RESOLUTION} < {threshold} drop"
        self._table = port_table(p.port, action)

    def revert(self, ctx: ChaosContext) -> None:
        if self._table is not None:
            self._table.delete()
            self._table = None
