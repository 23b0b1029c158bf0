"""Random loss of packets sent to the target's TCP port on loopback, through nftables.

A private table (see :mod:`harness.chaos.nft`) drops each client-to-target packet with the
given probability: SYNs are lost (connects slow down by retransmission, or time out at
100 %), and so are data segments of open connections. Replies from the target are not
dropped. Only loopback addresses (127.0.0.0/8, ::1) and the one port are matched.

``port`` is required: the chaos driver fills it from the target URL (it is not in
:class:`~harness.chaos.base.ChaosContext`).
"""

from __future__ import annotations

from harness.chaos.base import register
from harness.chaos.nft import PortRuleFault
from harness.config.faults import PACKET_LOSS, PacketLossParams

RESOLUTION = 10_000  # random draws per 100 %: percent is applied in steps of 0.01 %


@register
class PacketLoss(PortRuleFault):
    """Drop ``percent`` of loopback packets to ``port`` (client to target direction)."""

    spec = PACKET_LOSS

    def action(self) -> str:
        p: PacketLossParams = self.params
        threshold = max(1, round(p.percent / 100.0 * RESOLUTION))  # > 0 % drops something
        if threshold >= RESOLUTION:
            return "drop"  # nft refuses "< 10000" (the draw is 0-9999), and needs no draw
        return f"numgen random mod {RESOLUTION} < {threshold} drop"
