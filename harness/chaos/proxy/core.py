"""What a proxied connection uses of its proxy: the upstream, the active toxics, the slots
under the connection cap, and a way to wait until any of that changes.

Both connection paths (:mod:`~harness.chaos.proxy.relay`, the fast one, and
:mod:`~harness.chaos.proxy.streams`, the toxic one) depend on this protocol only; the
proxy (:class:`harness.chaos.proxy.server.ChaosProxy`) implements it. So the paths never
import the proxy that creates them.
"""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

from harness.chaos.proxy.toxics import ActiveToxics


class Connection(Protocol):
    """What the proxy keeps of a connection, on either path."""

    admitted: bool  # holds a slot under the connection cap
    task: asyncio.Task[None] | None  # the task running it, if any

    def close(self, reset: bool = False) -> None: ...


class ProxyCore(Protocol):
    """The proxy as its connections see it."""

    #: random source of reset probabilities and jitter
    rng: random.Random
    #: the active toxics, folded; read per chunk
    state: ActiveToxics
    #: set (and replaced) whenever the toxics change or a slot frees
    changed: asyncio.Event
    #: connections holding a slot under the connection cap
    admitted: int

    @property
    def upstream(self) -> tuple[str, int]: ...

    async def wait_change(self, timeout: float | None) -> bool:
        """Sleep up to ``timeout`` s (None: no limit); True when woken by a change."""
        ...

    def hand_over(self, old: Connection, new: Connection) -> None:
        """``new`` carries on ``old`` (with its slot, if it held one)."""
        ...

    def release(self, conn: Connection) -> None:
        """``conn`` has ended: forget it and free its slot."""
        ...
