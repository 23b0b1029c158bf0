"""Connection rules (pure): how connections were closed or lost: before they were
established, without a code, without a heartbeat, in a reconnect stampede, or pushed off the
WebSocket onto long-polling."""

from __future__ import annotations

import pandas as pd

from harness.analysis.rules import Hit, Rule, RunView, percent
from harness.protocol.outcomes import Outcome


def check_closed_before_established(view: RunView) -> Hit | None:
    """Connections dropped before the 101, outside disruptive faults, per phase."""
    dropped = (view.column("outcome") == Outcome.ABNORMAL_HANDSHAKE.value).fillna(False)
    mine = dropped.to_numpy(dtype=bool) & ~view.disrupted
    if not mine.any():
        return None
    n, attempts = int(mine.sum()), len(view.attempts)
    others = int((dropped.to_numpy(dtype=bool) & view.disrupted).sum())
    phase = view.attempts["phase"].astype(str)
    counts = phase[mine].value_counts()
    spread = ", ".join(f"{p} {int(counts[p])}" for p in view.run.phase_names if p in counts)
    tail = f" ({others} more under network or process faults, not counted)" if others else ""
    return Hit(
        f"{n} of {attempts} attempts ({percent(n, attempts)}) dropped before the 101: "
        f"{spread}{tail}"
    )


CLOSED_BEFORE_ESTABLISHED = Rule(
    "closed-before-established", "connection", "high",
    "Connections were closed before they were established",
    "TCP connections ended before the server answered the upgrade (the browser's 'closed "
    "before the connection is established'): a full accept backlog, a crash or restart, "
    "a proxy or handshake timeout, or a server that drops instead of refusing when full.",
    "Answer every upgrade (503 when full, never a drop), raise the listen backlog "
    "(net.core.somaxconn), and align proxy and handshake timeouts.",
    check_closed_before_established,
)  # fmt: skip


#: Close codes that need no reason (RFC 6455 section 7.4.1: normal closure, going away).
NORMAL_CLOSE_CODES: frozenset[int] = frozenset({1000, 1001})


def check_close_without_code(view: RunView) -> Hit | None:
    """Close frames without a code, 1006 endings, and error codes without a reason."""
    outcome, reason = view.column("outcome"), view.column("close_reason")
    code = pd.to_numeric(view.attempts["close_code"], errors="coerce")
    no_code = int(((outcome == Outcome.CLOSED_OTHER.value) & code.isna()).fillna(False).sum())
    gone_1006 = (outcome == Outcome.ABNORMAL_CLOSURE.value).fillna(False).to_numpy(dtype=bool)
    gone = int((gone_1006 & ~view.disrupted).sum())
    silent = (
        outcome.str.startswith("closed_").fillna(False)
        & code.notna()
        & ~code.isin(list(NORMAL_CLOSE_CODES))
        & (reason.isna() | (reason.str.strip() == "")).fillna(True)
    )
    parts = []
    if no_code:
        parts.append(f"{no_code} server close frames without a code")
    if gone:
        parts.append(f"{gone} connections ended after the 101 without a close frame (1006)")
    if silent.any():
        codes = code[silent].astype(int).value_counts().sort_index()
        listed = ", ".join(f"{c}: {n}" for c, n in codes.items())
        parts.append(f"{int(silent.sum())} closes with a code but no reason ({listed})")
    return Hit("; ".join(parts)) if parts else None


CLOSE_WITHOUT_CODE = Rule(
    "close-without-code", "connection", "medium",
    "Connections were closed without a code or reason",
    "Clients saw closes they cannot interpret (no close frame, no code, or an error code "
    "without a reason), so they cannot decide whether to retry.",
    "Always send a close frame with a code (RFC 6455 section 7.4.1; 4000-4999 for your "
    "own) and a short reason before dropping a connection.",
    check_close_without_code,
)  # fmt: skip


#: Seconds open after which a connection should have seen a server ping, when the scenario
#: does not say how often the service pings (``target.heartbeat_interval``): the longest
#: interval a service plausibly uses (Socket.IO 25 s, common proxies' idle cut 30-60 s, the
#: 20-30 s this rule recommends). A shorter session without a ping proves nothing: a 12 s
#: hold against a service pinging every 20 s would see none.
LONG_OPEN_S = 30.0


#: With a known interval, the sessions judged are those held longer than this many
#: intervals: a ping is due by then, whatever the phase of the service's timer at the open.
HEARTBEAT_INTERVAL_FACTOR = 1.5


#: Fewest such connections before a missing heartbeat is reported.
MIN_LONG_CONNECTIONS = 5


def check_no_heartbeat(view: RunView) -> Hit | None:
    """At least :data:`MIN_LONG_CONNECTIONS` sessions held long enough to see a ping, none
    seen: longer than :data:`HEARTBEAT_INTERVAL_FACTOR` times the scenario's
    ``target.heartbeat_interval``, or, when it is unknown, :data:`LONG_OPEN_S` s or more."""
    open_s = pd.to_numeric(view.attempts["open_s"], errors="coerce")
    accepted = (view.column("outcome") == Outcome.ACCEPTED.value).fillna(False)
    interval = view.run.heartbeat_interval_s
    if interval is None:
        held = open_s >= LONG_OPEN_S
        judged = f">= {LONG_OPEN_S:g} s"
        rule = (
            f"only sessions held longer than the {LONG_OPEN_S:g} s a service could plausibly "
            "wait between pings are judged"
        )
    else:
        cutoff = HEARTBEAT_INTERVAL_FACTOR * interval
        held = open_s > cutoff
        judged = f"> {cutoff:g} s"
        rule = (
            f"target.heartbeat_interval says the service pings every {interval:g} s: only "
            f"sessions held longer than {HEARTBEAT_INTERVAL_FACTOR:g} times that are judged"
        )
    long = view.attempts[(accepted & held).to_numpy(dtype=bool)]
    if len(long) < MIN_LONG_CONNECTIONS:
        return None  # too few long connections to expect a ping: say nothing
    if int(pd.to_numeric(long["pings"], errors="coerce").fillna(0).sum()) > 0:
        return None
    longest = float(pd.to_numeric(long["open_s"], errors="coerce").max())
    return Hit(
        f"{len(long)} accepted connections stayed open {judged} (longest {longest:.1f} s); "
        f"none saw a server ping ({rule})"
    )


NO_HEARTBEAT = Rule(
    "no-heartbeat", "connection", "low", "Long-lived connections saw no server pings",
    "Without pings (RFC 6455 section 5.5.2) half-open connections are only found when "
    "a write fails, and idle proxies may cut quiet ones.",
    "Send a ping every 20-30 s and close connections whose pong does not come back.",
    check_no_heartbeat,
)  # fmt: skip


#: Fewest Socket.IO sessions a proxy pushed off the WebSocket before ``websocket-blocked``.
MIN_BLOCKED = 5


#: ... and their share of the sessions opened (0..1).
BLOCKED_MIN_SHARE = 0.5


def check_websocket_blocked(view: RunView) -> Hit | None:
    """Socket.IO sessions whose WebSocket failed: fallbacks to polling, failed upgrades."""
    sio = view.summary.socketio
    if sio is None:
        return None
    blocked = sio.fallbacks + sio.upgrades_failed
    opened = sum(sio.attempts_by_transport.values())
    if blocked < MIN_BLOCKED or blocked < BLOCKED_MIN_SHARE * opened:
        return None
    return Hit(
        f"{sio.fallbacks} sessions fell back to long-polling after their WebSocket failed and "
        f"{sio.upgrades_failed} of {sio.upgrades_tried} polling sessions failed to upgrade; "
        f"by transport: {', '.join(f'{k} {v}' for k, v in sio.attempts_by_transport.items())}"
    )


WEBSOCKET_BLOCKED = Rule(
    "websocket-blocked", "connection", "medium",
    "Socket.IO sessions could not use a WebSocket and ran over long-polling",
    "The WebSocket transport failed (refused, reset or timed out) while polling worked: a "
    "proxy or load balancer in front of the service blocks the upgrade, or the server allows "
    "only polling. Clients still connect, but every message costs an HTTP request, latency "
    "grows, and sticky sessions become mandatory behind a load balancer.",
    "Let the proxy pass WebSocket upgrades on the Socket.IO path (Upgrade and Connection "
    "headers, HTTP/1.1, a read timeout above the ping interval) and allow the websocket "
    "transport on the server.",
    check_websocket_blocked,
)  # fmt: skip


#: Reconnects after a restart bunched beyond this peak-to-mean ratio (see
#: :func:`harness.analysis.sessions.peak_to_mean`) are a stampede: after a restart, full
#: jitter read 3.5-4.4 on this machine, clients retrying in step 11-15.
STAMPEDE_PEAK_TO_MEAN = 6.0


def check_reconnect_stampede(view: RunView) -> Hit | None:
    """Restarts after which the reconnects bunched beyond :data:`STAMPEDE_PEAK_TO_MEAN`."""
    sessions = view.summary.sessions
    if sessions is None:
        return None
    parts = [
        f"after {r.label} {r.reconnect_attempts} reconnects of {r.lost} sessions came in bursts "
        f"{r.peak_to_mean:.1f}x their mean rate (the busiest bin over the mean, stated limit "
        f"{STAMPEDE_PEAK_TO_MEAN:g})"
        for r in sessions.restarts.values()
        if r.peak_to_mean is not None and r.peak_to_mean > STAMPEDE_PEAK_TO_MEAN
    ]
    return Hit("; ".join(parts)) if parts else None


RECONNECT_STAMPEDE = Rule(
    "reconnect-stampede", "connection", "medium",
    "Clients reconnect in a stampede after a restart",
    "Every client retries after the same delay, so a restarted service meets all of them in "
    "the same instant: the burst can push it back over its capacity, and again at each retry.",
    "Add jitter to the clients' reconnect delay (full or equal jitter, or socket.io-client's "
    "randomizationFactor), and have the service refuse gracefully (503 with Retry-After, "
    "1013) while it warms up.",
    check_reconnect_stampede,
)  # fmt: skip
