"""Configuration rules (pure): the scenario, not the service, is wrong: a path nothing serves,
another protocol than the scenario's, a plain client at a Socket.IO path, a session hook that
raised, the load generator's own faults; and which refusals such errors explain (they say
nothing about capacity)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pandas as pd

from harness.analysis.rules import Hit, Rule, RunView, percent, valid_section
from harness.analysis.summary import (
    Summary,
)
from harness.protocol.outcomes import Outcome, Verdict

#: The path part that names a Socket.IO endpoint (its default Engine.IO path).
SOCKETIO_PATH = "/socket.io"


REJECTED_PREFIX = "rejected_"


def plain_at_socketio_path(summary: Summary) -> bool:
    """A plain WebSocket run (no Socket.IO session) whose URL path is Socket.IO's."""
    path = urlsplit(summary.target_url or "").path
    return summary.socketio is None and SOCKETIO_PATH in path


def not_capacity(summary: Summary) -> frozenset[str]:
    """Refusals that say nothing about capacity: a wrong path, a dead upstream (502/504), and
    503 when no valid token was ever accepted (a proxy with nothing behind it, not a full
    service); every refused upgrade of a plain client at a Socket.IO path."""
    valid = valid_section(summary.token_kinds)
    never = valid is not None and valid.counted and not valid.outcomes.get(Outcome.ACCEPTED.value)
    explained = (
        UPSTREAM_DOWN_OUTCOMES | NOT_FOUND_OUTCOMES | (CAPACITY_REFUSED if never else frozenset())
    )
    if plain_at_socketio_path(summary):
        explained |= {o for o in summary.total.outcomes if o.startswith(REJECTED_PREFIX)}
    return explained


NOT_FOUND_OUTCOMES = frozenset({Outcome.REJECTED_NOT_FOUND.value})


UPSTREAM_DOWN_OUTCOMES = frozenset({Outcome.REJECTED_UPSTREAM.value})


CAPACITY_REFUSED = frozenset({Outcome.REJECTED_CAPACITY.value})


#: Share of the counted attempts refused as not found (0..1) from which the path is wrong.
WRONG_PATH_MIN_SHARE = 0.5


#: Fewest attempts of a kind of refusal before ``wrong-path`` or ``upstream-down`` speaks.
MIN_CONFIG_REFUSALS = 5


def statuses_of(view: RunView, outcomes: frozenset[str]) -> str:
    """The HTTP statuses of the attempts that ended in ``outcomes``, as ``404 x12, 410 x1``."""
    hit = view.column("outcome").isin(outcomes).fillna(False)
    status = pd.to_numeric(view.attempts["http_status"][hit], errors="coerce").dropna()
    counts = status.astype(int).astype(str).value_counts()
    return ", ".join(f"{k!s} x{int(v)}" for k, v in counts.items())


def check_wrong_path(view: RunView) -> Hit | None:
    """Most counted attempts (:data:`WRONG_PATH_MIN_SHARE`) answered 404/410 at the upgrade."""
    total = view.summary.total
    n = sum(total.outcomes.get(o, 0) for o in NOT_FOUND_OUTCOMES)
    if n < MIN_CONFIG_REFUSALS or n < WRONG_PATH_MIN_SHARE * total.counted:
        return None
    return Hit(
        f"{n} of {total.counted} attempts ({percent(n, total.counted)}) were answered "
        f"{statuses_of(view, NOT_FOUND_OUTCOMES)} at the upgrade (rejected_not_found)"
    )


WRONG_PATH = Rule(
    "wrong-path", "configuration", "critical",
    "The URL path has no WebSocket endpoint: check the URL path",
    "The service (or a proxy in front of it) answered the upgrade with 404/410 Not Found: "
    "the scenario points at a path nothing serves. This is the scenario's error, not the "
    "service's capacity; the other results say little until it is fixed.",
    "Check the path in target.url (e.g. /ws, /socket.io/?EIO=4&transport=websocket for "
    "Socket.IO, a prefix a proxy adds or strips) against the service's routes.",
    check_wrong_path,
)  # fmt: skip


def check_protocol_mismatch(view: RunView) -> Hit | None:
    """Attempts whose server spoke another protocol (``protocol_mismatch``: Engine.IO)."""
    total = view.summary.total
    n = total.outcomes.get(Outcome.PROTOCOL_MISMATCH.value, 0)
    if not n:
        return None
    return Hit(
        f"{n} of {total.attempts} attempts ({percent(n, total.attempts)}) met a server whose "
        'first message was an Engine.IO OPEN packet (0{"sid": ...}); they are left out of '
        "the rates and of the token findings"
    )


PROTOCOL_MISMATCH = Rule(
    "protocol-mismatch", "configuration", "critical",
    "Configuration error: the service speaks Engine.IO/Socket.IO, not plain WebSocket",
    "The upgrade succeeded, but the server talks Engine.IO (Socket.IO) over it: a plain "
    "WebSocket client's sessions there say nothing about its auth (an Engine.IO server may "
    "check the token only in the Socket.IO CONNECT packet), so they are not counted.",
    "Set target.protocol: socketio in the scenario (and the Socket.IO path, "
    "/socket.io/?EIO=4&transport=websocket), or point target.url at the plain WebSocket "
    "endpoint.",
    check_protocol_mismatch,
)  # fmt: skip


def check_socketio_path(view: RunView) -> Hit | None:
    """A plain WebSocket scenario whose URL path is Socket.IO's, refused at the upgrade on
    most counted attempts (python-engineio answers 400 to a request without ``EIO``)."""
    if not plain_at_socketio_path(view.summary):
        return None
    path = urlsplit(view.summary.target_url or "").path
    total = view.summary.total
    outcomes = frozenset(o for o in total.outcomes if o.startswith(REJECTED_PREFIX))
    n = sum(total.outcomes[o] for o in outcomes)
    if n < MIN_CONFIG_REFUSALS or n < WRONG_PATH_MIN_SHARE * total.counted:
        return None
    return Hit(
        f"{n} of {total.counted} attempts ({percent(n, total.counted)}) were refused at the "
        f"upgrade ({statuses_of(view, outcomes)}) at {path}, a Socket.IO path, "
        "by a plain WebSocket client"
    )


SOCKETIO_PATH_RULE = Rule(
    "socketio-path", "configuration", "critical",
    "Configuration error: a plain WebSocket client at a Socket.IO path",
    "The URL's path is Socket.IO's, and the service refused the plain WebSocket upgrade: a "
    "Socket.IO server wants Engine.IO's query (EIO, transport) and, for auth, the Socket.IO "
    "CONNECT packet. These refusals say nothing about the service's auth or capacity.",
    "Set target.protocol: socketio (the path is target.socketio.path) and put the token "
    "where the service reads it (auth.placement: socketio_auth for io(url, {auth: {token}})).",
    check_socketio_path,
)  # fmt: skip


def check_flow_error(view: RunView) -> Hit | None:
    """Attempts whose session hook raised (``flow_error``): the scenario's code failed."""
    total = view.summary.total
    n = total.outcomes.get(Outcome.FLOW_ERROR.value, 0)
    if not n:
        return None
    a = view.attempts
    errors = a.loc[a["outcome"] == Outcome.FLOW_ERROR.value, "error"].dropna()
    first = f"; the first: {errors.iloc[0]}" if len(errors) else ""
    return Hit(
        f"{n} of {total.attempts} attempts ({percent(n, total.attempts)}) ended with an "
        f"exception of the session hook{first}; they are left out of the rates"
    )


FLOW_ERROR = Rule(
    "flow-error", "configuration", "critical",
    "The scenario's session hook raised an exception",
    "The Python function of load.session.hook failed on open connections: those sessions "
    "say nothing about the service, so they are not counted (the service is not blamed).",
    "Fix the hook (the record's error gives the exception and its line), and try it with "
    "a short run: harness run SCENARIO --set load.duration=5.",
    check_flow_error,
)  # fmt: skip


def check_generator_fault(view: RunView) -> Hit | None:
    """Attempts that failed inside the load generator, with their most frequent errors."""
    total = view.summary.total
    n = total.verdict(Verdict.GENERATOR_FAULT)
    if not n:
        return None
    faulty = view.column("verdict") == Verdict.GENERATOR_FAULT.value
    errors = view.column("error")[faulty.fillna(False)].dropna().value_counts().head(3)
    seen = "; ".join(f"{e!s} x{c}" for e, c in errors.items())
    tail = f" (errors: {seen})" if seen else ""
    return Hit(
        f"{n} of {total.attempts} attempts ({percent(n, total.attempts)}) failed in the load "
        f"generator{tail}"
    )


GENERATOR_FAULT = Rule(
    "generator-fault", "configuration", "critical",
    "The load generator itself failed: results are not trustworthy",
    "The harness ran out of something (file descriptors, ports, memory): those attempts "
    "say nothing about the target, and the load was lower than planned.",
    "Raise the generator's ulimit -n, add Locust workers (or machines), or lower users.",
    check_generator_fault,
)  # fmt: skip
