"""An example session hook (``load.session.hook``; see docs/flows.md).

A client of a small JSON protocol: it subscribes to a channel, then sends three numbered
pings, each a round trip awaiting the reply with the same number, with a pause between
them. Against the embedded target, which echoes every message, each message's reply is its
own echo; against a real service, match what it answers (``"subscribed"``, ``"pong"``).

The harness calls ``session(conn)`` once per accepted connection: returning ends the session
normally (the client closes with 1000, the attempt is ``accepted``); a reply that does not
come in time ends it ``timeout_reply``; an exception of this code ends it ``flow_error``,
the scenario's fault, never the target's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.load.flow import FlowConnection

PINGS = 3
THINK_S = 0.2  # seconds between two pings


def is_type(reply: Any, kind: str) -> bool:
    """Whether a reply (parsed JSON) is an object of type ``kind``."""
    return isinstance(reply, dict) and reply.get("type") == kind


def ping_reply(n: int) -> Callable[[Any], bool]:
    """A match for the reply to ping number ``n`` (a real service: type "pong")."""
    return lambda reply: is_type(reply, "ping") and reply.get("n") == n


def session(conn: FlowConnection) -> None:
    """Subscribe, then ping ``PINGS`` times (three round trips after the subscription's)."""
    conn.request(
        {"type": "subscribe", "channel": "prices", "user": conn.user},
        match=lambda reply: is_type(reply, "subscribe"),  # a real service: "subscribed"
        timeout=5,
    )
    for n in range(1, PINGS + 1):
        reply = conn.request({"type": "ping", "n": n}, match=ping_reply(n))
        if reply["n"] != n:  # cannot happen: match checked it; an exception is a flow_error
            raise ValueError(f"reply {reply!r} to ping {n}")
        conn.sleep(THINK_S)
