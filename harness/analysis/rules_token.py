"""Token rules (pure): the service accepted what it must refuse (invalid or expired tokens),
or users lost their session and a front end would send them back to login."""

from __future__ import annotations

from collections.abc import Mapping

from harness.analysis.rules import Hit, Rule, RunView
from harness.analysis.stats import NOT_COUNTED
from harness.protocol.outcomes import Outcome, Verdict

#: What a service must do for each invalid token kind it accepted.
KIND_FIXES: Mapping[str, str] = {
    "empty": "refuse an empty token before the upgrade (401)",
    "missing": "refuse a request without a token (401)",
    "expired": "check exp on every connection (RFC 7519 section 4.1.4)",
    "not_yet_valid": "check nbf (RFC 7519 section 4.1.5)",
    "bad_signature": "verify the signature with the service's own key",
    "alg_none": "pin the accepted algorithms, never 'none' (RFC 8725 section 3.1)",
    "malformed": "refuse a token that does not parse as a JWT",
}


def check_invalid_token_accepted(view: RunView) -> Hit | None:
    """Kinds that expect a refusal and got sessions (``expired_reused`` has its own rule)."""
    parts, fixes = [], []
    for kind, sec in view.summary.token_kinds.items():
        if kind == "expired_reused" or sec.expected != "reject":
            continue
        n = sec.verdict(Verdict.INVALID_ACCEPTED)
        if n:
            parts.append(f"{kind}: {n} of {sec.counted} accepted")
            fixes.append(KIND_FIXES.get(kind, f"refuse {kind} tokens"))
    if not parts:
        return None
    fix = "; ".join(fixes)
    return Hit("; ".join(parts), fix=fix[0].upper() + fix[1:] + ".")


INVALID_TOKEN_ACCEPTED = Rule(
    "invalid-token-accepted", "token", "critical", "Invalid tokens were accepted",
    "The service opened sessions for tokens it must refuse: anyone can connect.",
    "Validate the token before completing the upgrade.",
    check_invalid_token_accepted,
)  # fmt: skip


def check_stale_token_accepted(view: RunView) -> Hit | None:
    """``expired_reused`` tokens accepted after their expiry, compared with their first use."""
    kinds = view.summary.token_kinds
    sec = kinds.get("expired_reused")
    stale = 0 if sec is None else sec.verdict(Verdict.INVALID_ACCEPTED)
    if sec is None or not stale:
        return None
    parts = [f"expired_reused: {stale} of {sec.counted} accepted after expiry"]
    a = view.attempts
    keys = ["worker", "user", "attempt"]
    kind, verdict = view.column("token_kind"), view.column("verdict")
    reused = a[((kind == "expired_reused") & ~verdict.isin(NOT_COUNTED)).fillna(False)]
    first = a[(kind == "valid").fillna(False)][[*keys, "outcome", "t_start"]]
    before = reused[[*keys, "outcome", "t_start"]].assign(attempt=reused["attempt"] - 1)
    pairs = before.merge(first, on=keys, suffixes=("_stale", "_valid"))
    if not pairs.empty:
        ok_valid = int((pairs["outcome_valid"] == Outcome.ACCEPTED.value).sum())
        ok_stale = int((pairs["outcome_stale"] == Outcome.ACCEPTED.value).sum())
        gap = float((pairs["t_start_stale"] - pairs["t_start_valid"]).median())
        parts.append(
            f"the same {len(pairs)} tokens: {ok_valid} accepted while valid, {ok_stale} "
            f"after expiry (reused a median {gap:.1f} s after first use)"
        )
    fresh = kinds.get("expired")
    if fresh is not None and fresh.counted:
        n = fresh.verdict(Verdict.INVALID_ACCEPTED)
        parts.append(f"fresh expired tokens: {n} of {fresh.counted} accepted")
    return Hit("; ".join(parts))


STALE_TOKEN_ACCEPTED = Rule(
    "stale-token-accepted", "token", "critical",
    "Tokens were accepted again after they expired",
    "Tokens accepted while valid were accepted again after their exp: a validity cache "
    "(or session store) outlives the tokens it holds, so expired credentials keep working.",
    "Cap every cache entry's TTL at the token's exp (min(ttl, exp - now)), or check exp "
    "again on every cache hit.",
    check_stale_token_accepted,
)  # fmt: skip


def check_login_breaks(view: RunView) -> Hit | None:
    """Valid-token sessions whose last attempt was an auth rejection, or that gave up."""
    sessions = view.summary.sessions
    if sessions is None or not (sessions.auth_failed or sessions.gave_up):
        return None
    parts = []
    if sessions.auth_failed:
        parts.append(
            f"{sessions.auth_failed} of {sessions.sessions} sessions with a valid token ended "
            "in an auth rejection"
        )
    if sessions.gave_up:
        parts.append(f"{sessions.gave_up} sessions gave up after their last reconnect failed")
    return Hit("; ".join(parts))


LOGIN_BREAKS = Rule(
    "sessions-lost", "token", "high",
    "Users lost their session: a front end would send them back to login",
    "A client that reconnects with the token it holds was refused it, or ran out of "
    "reconnect attempts: in a real front end its user sees a login screen or an error.",
    "Accept a still-valid token on reconnect (no validity state tied to the old "
    "connection), and keep the service reachable through restarts (graceful refusals, "
    "a shorter restart, enough reconnect attempts on the client).",
    check_login_breaks,
)  # fmt: skip


def check_session_outlives_token(view: RunView) -> Hit | None:
    """Connections kept open past their token's expiry, none closed at it."""
    s = view.summary.sessions
    if s is None or not s.expired_open or s.closed_at_expiry or s.kept_past_expiry_s is None:
        return None
    return Hit(
        f"{s.expired_open} connections were open when their token expired and the server "
        f"closed none of them at the expiry (one stayed open {s.kept_past_expiry_s:.1f} s "
        "past it)"
    )


SESSION_OUTLIVES_TOKEN = Rule(
    "session-outlives-token", "token", "low",
    "Sessions stay open after their token expired",
    "The service checks the token only at the handshake: a connection keeps its rights "
    "after the token's exp (a revoked or expired user stays connected). This may be by "
    "design; then it is worth knowing how long sessions live.",
    "Close connections at their token's exp (4401 or 1008 with a reason) or ask the client "
    "to refresh in-band; bound session length.",
    check_session_outlives_token,
)  # fmt: skip


def check_token_refresh_failed(view: RunView) -> Hit | None:
    """Reconnects with a freshly minted token that the service refused."""
    s = view.summary.sessions
    if s is None or not s.refreshed or s.refreshed_accepted == s.refreshed:
        return None
    refused = s.refreshed - s.refreshed_accepted
    return Hit(f"{refused} of {s.refreshed} reconnects with a refreshed token were not accepted")


TOKEN_REFRESH_FAILED = Rule(
    "token-refresh-failed", "token", "high",
    "A refreshed token did not get the session back",
    "After its token expired the client minted a new one and reconnected, and was still "
    "refused: users whose tokens are refreshed lose their session anyway.",
    "Check that the service accepts a new token for a user it knew (no stale per-user "
    "state, no cached rejection).",
    check_token_refresh_failed,
)  # fmt: skip
