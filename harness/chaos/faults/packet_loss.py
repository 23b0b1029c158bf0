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

from harness.chaos.base import param, register
from harness.chaos.nft import PortRuleFault

RESOLUTION = 10_000  # random draws per 100 %: percent is applied in steps of 0.01 %


@dataclass(frozen=True)
class PacketLossParams:
    port: int = param(MISSING, low=1, high=65535, doc="target TCP port (filled from the URL)")
    percent: float = param(
        10.0, unit="%", low=0, low_open=True, high=100, doc="share of packets dropped"
    )


@register
class PacketLoss(PortRuleFault):
    """Drop ``percent`` of loopback packets to ``port`` (client to target direction)."""

    name = "packet_loss"
    disruptive = True
    Params = PacketLossParams
    summary = "nftables: drop a share of loopback packets to the target port"

    def action(self) -> str:
        p: PacketLossParams = self.params
        threshold = max(1, round(p.percent / 100.0 * RESOLUTION))  # > 0 % drops something
        if threshold >= RESOLUTION:
            return "drop"  # nft refuses "< 10000" (the draw is 0-9999), and needs no draw
        return f"numgen random mod {RESOLUTION} < {threshold} drop"
