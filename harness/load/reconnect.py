"""Reconnect policies: whether a session tries again after an attempt, and after how long.

A session is a user's logical connection (:class:`harness.config.scenario.Reconnect`): its
first attempt and every reconnect, with the same token. After each attempt
:meth:`Backoff.next_delay` decides from the attempt's record, as a real client would from what
it saw:

- a session that ran its plan (``accepted``) is over, and so is one the harness interrupted;
- an auth rejection is retried only with ``after_auth_failure`` (a front end goes back to
  login), a server's deliberate disconnect (a close frame with 1000 from the server, or a
  Socket.IO DISCONNECT; a Socket.IO transport closed by a shutdown is not one) only with
  ``after_server_close``;
- anything else (refused, dropped, closed by a restart with 1001, timed out) is retried after
  the policy's delay, at most ``max_attempts`` times in a row; an attempt that opened before it
  was lost starts the count again, as socket.io-client resets its backoff on connect.

Delays: ``fixed`` waits ``delay``; ``exponential`` waits ``delay * factor**(n - 1)`` for the
n-th reconnect in a row, at most ``cap``; then the jitter spreads it (``full``: uniform in
[0, d]; ``equal``: in [d/2, d]; ``randomized``: d moved up or down by up to ``randomization``
* d, then capped, as socket.io-client's backoff does).
"""

from __future__ import annotations

import random

from harness.config.scenario import Reconnect
from harness.protocol.outcomes import AUTH_REJECTIONS, SESSION_ENDING, Outcome
from harness.rundir.records import AttemptRecord

#: The close code of a server that ends a session on purpose (RFC 6455 section 7.4.1): a
#: disconnect, not a failure. 1001 ("going away": a restart, a shutdown) is retried.
SERVER_DISCONNECT_CODE = 1000


def is_server_disconnect(rec: AttemptRecord) -> bool:
    """True when the server ended the session on purpose: a close frame with 1000 on a plain
    WebSocket; on Socket.IO only its DISCONNECT ("io server disconnect"), never a closed
    transport (socket.io-client reconnects after "transport close")."""
    if rec.transport is not None:  # Socket.IO: only its DISCONNECT is deliberate
        return rec.outcome == Outcome.SERVER_DISCONNECT
    return rec.closed_by == "server" and rec.close_code == SERVER_DISCONNECT_CODE


def is_auth_failure(rec: AttemptRecord) -> bool:
    """True when the attempt was refused for its token, in any way a service says so."""
    return rec.outcome in AUTH_REJECTIONS  # StrEnum members equal their text


#: The jitter's random source of every session that is not given one.
SHARED_RNG = random.Random()


class Backoff:
    """One session's reconnect state under ``policy``.

    Args:
        policy: the scenario's ``load.reconnect``.
        rng: the random source of the jitter (default: one shared by every session of
            the process: a generator of its own per session cost 2.5 KB of each held
            connection, the Mersenne Twister's state).
    """

    def __init__(self, policy: Reconnect, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.rng = rng or SHARED_RNG
        self.in_a_row = 0  # reconnects since the session last opened
        self.gave_up = False  # max_attempts reached with the connection still lost

    def next_delay(self, rec: AttemptRecord) -> float | None:
        """Seconds to wait before the next attempt of the session, or None: the session ends.

        Args:
            rec: the record of the attempt that just ended.
        """
        p = self.policy
        if not p.enabled or rec.outcome in SESSION_ENDING:
            return None
        if is_auth_failure(rec) and not p.after_auth_failure:
            return None
        if is_server_disconnect(rec) and not p.after_server_close:
            return None
        if rec.stage == "open":  # it was connected, then lost: the count starts again
            self.in_a_row = 0
        if p.max_attempts and self.in_a_row >= p.max_attempts:
            self.gave_up = True
            return None
        self.in_a_row += 1
        return self.delay(self.in_a_row)

    def delay(self, n: int) -> float:
        """The delay before the ``n``-th reconnect in a row (from 1), jitter applied."""
        p = self.policy
        if p.policy == "fixed":
            d = p.delay
        else:
            try:
                d = min(p.cap, p.delay * p.factor ** (n - 1))
            except OverflowError:  # factor ** n beyond a float: long past the cap
                d = p.cap
        if p.jitter == "full":
            return self.rng.uniform(0.0, d)
        if p.jitter == "equal":
            return d / 2 + self.rng.uniform(0.0, d / 2)
        if p.jitter == "randomized":
            moved = d + self.rng.uniform(-1.0, 1.0) * p.randomization * d
            return max(0.0, min(p.cap, moved) if p.policy == "exponential" else moved)
        return d
