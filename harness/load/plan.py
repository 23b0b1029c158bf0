"""The session plan of a scenario: what a user does once its connection is open.

Kept apart from :mod:`harness.load.user` (which imports Locust, and with it gevent's
monkey-patching) so that anything may build a plan, the tests included, without patching
the process.
"""

from __future__ import annotations

from harness.config.scenario import Scenario
from harness.load.client import SessionPlan
from harness.load.flow import session_flow


def session_plan(scenario: Scenario, user: int = 0) -> SessionPlan:
    """What a user does once open, with every deadline and limit of the scenario: the
    session's hold and messages, ``load.timeouts`` (send, close; a message once begun must
    be finished within the reply timeout) and ``load.limits``; the flow or hook of user
    number ``user``, if the session has one (:mod:`harness.load.flow`)."""
    load = scenario.load
    s, t, lim = load.session, load.timeouts, load.limits
    return SessionPlan(
        hold=s.hold,
        messages=s.messages,
        message_bytes=s.message_bytes,
        expect_reply=s.expect_reply,
        reply_timeout=s.reply_timeout,
        send_timeout=t.send,
        message_timeout=s.reply_timeout,
        close_timeout=t.close,
        max_frame_bytes=lim.max_frame_bytes,
        max_message_bytes=lim.max_message_bytes,
        max_fragments=lim.max_fragments,
        ping_interval=s.ping_interval,
        ping_timeout=s.ping_timeout,
        closed_loop=s.pace == "closed_loop",
        flow=session_flow(s, user),
    )
