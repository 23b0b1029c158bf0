"""Reject connections to the target's TCP port on loopback, through nftables.

A private table (see :mod:`harness.chaos.nft`) answers every client-to-target packet with
a TCP reset (mode ``reset``) or an ICMP port-unreachable (mode ``icmp``): a new connect
fails with ECONNREFUSED at once, and open connections are reset on their next segment.
Only loopback addresses (127.0.0.0/8, ::1) and the one port are matched.

``port`` is required: the chaos driver fills it from the target URL (it is not in
:class:`~harness.chaos.base.ChaosContext`).
"""

from __future__ import annotations

from harness.chaos.base import ChaosError, register
from harness.chaos.nft import PortRuleFault
from harness.config.faults import REJECT, RejectParams

#: nftables verdict per mode; plain ``reject`` in an inet table sends ICMP(v6) port-unreachable
ACTIONS = {"reset": "reject with tcp reset", "icmp": "reject"}


@register
class Reject(PortRuleFault):
    """Refuse every loopback connection to ``port`` with a reset or an ICMP error."""

    spec = REJECT

    def action(self) -> str:
        p: RejectParams = self.params
        if p.mode not in ACTIONS:
            raise ChaosError(f"reject: mode must be one of {', '.join(ACTIONS)}, got {p.mode!r}")
        return ACTIONS[p.mode]
