"""Token kinds: mint a JWT (or a deliberately broken one) for each connection attempt.

Every kind but ``valid`` must be refused by a correct service. The kinds:

=============== ==========================================================
valid           signed with the scenario's secret and algorithm, iat now, exp now + lifetime
empty           the token parameter/header is present with an empty value
missing         no token at all
expired         correctly signed, exp 60 s in the past
not_yet_valid   correctly signed, nbf one hour in the future
bad_signature   right shape and claims, signed with another secret
alg_none        header ``{"alg": "none"}``, no signature (RFC 7519 section 6)
malformed       not a JWT at all (three parts that are not base64url JSON)
expired_reused  a valid token living REUSE_LIFETIME_S, used once while valid (recorded as
                ``valid``) and again after it expired (recorded as ``expired_reused``): a
                client reconnecting with a stale token; catches validity caches that
                outlive the token
=============== ==========================================================
"""

from __future__ import annotations

import base64
import json
import math
import secrets as _secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt

from harness.config.scenario import TOKEN_KINDS, Auth

EXPIRED_AGO_S = 60.0  # seconds in the past an expired token's exp lies
NOT_YET_VALID_IN_S = 3600.0  # seconds in the future a not-yet-valid token's nbf lies
REUSE_LIFETIME_S = 1.5  # seconds an expired_reused token lives before its reuse (at least)


def new_secret() -> str:
    """A random signing secret (256 bits, URL-safe text) for a run with no configured secret."""
    return _secrets.token_urlsafe(32)


def render_claims(template: Mapping[str, Any], user: int, attempt: int) -> dict[str, Any]:
    """Substitute ``{user}`` and ``{attempt}`` in the string values of a claims template."""

    def sub(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{user}", str(user)).replace("{attempt}", str(attempt))
        if isinstance(value, Mapping):
            return {k: sub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [sub(v) for v in value]
        return value

    return {k: sub(v) for k, v in template.items()}


def token_exp(token: str | None) -> float | None:
    """The ``exp`` claim of a JWT (epoch s), read without checking it; None: none or no JWT."""
    if not token:
        return None
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return None
    return float(exp) if isinstance(exp, int | float) and math.isfinite(exp) else None


def _b64(obj: Mapping[str, Any]) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(
    kind: str,
    auth: Auth,
    secret: str,
    *,
    user: int = 0,
    attempt: int = 0,
    now: float | None = None,
    lifetime: float | None = None,
) -> str | None:
    """Mint the token of ``kind`` for one attempt.

    Args:
        kind: one of :data:`harness.protocol.outcomes.TOKEN_KINDS`.
        auth: the scenario's auth settings (algorithm, claims template, lifetime).
        secret: the signing secret.
        user: user number, substituted for ``{user}`` in claims.
        attempt: attempt number, substituted for ``{attempt}``.
        now: the current time in epoch seconds (default: ``time.time()``).
        lifetime: seconds a valid token lives (default: ``auth.lifetime``).

    Returns:
        The token text; ``""`` for ``empty``; ``None`` for ``missing``; for
        ``expired_reused``, the still-valid short-lived token (the caller reuses it).
    """
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}; known: {', '.join(TOKEN_KINDS)}")
    if kind == "missing":
        return None
    if kind == "empty":
        return ""
    if kind == "malformed":
        return "not-a-jwt." + _secrets.token_hex(8) + ".%%%"
    t = time.time() if now is None else now
    life = auth.lifetime if lifetime is None else lifetime
    if kind == "expired_reused":
        life = REUSE_LIFETIME_S
    claims = render_claims(auth.claims, user, attempt)
    claims.update({"iat": int(t), "exp": math.ceil(t + life)})  # never shorter than life
    key = secret
    if kind == "expired":
        claims.update({"iat": int(t - life - EXPIRED_AGO_S), "exp": int(t - EXPIRED_AGO_S)})
    elif kind == "not_yet_valid":
        nbf = t + NOT_YET_VALID_IN_S
        claims.update({"nbf": int(nbf), "exp": int(nbf + life)})
    elif kind == "bad_signature":
        key = new_secret()
    elif kind == "alg_none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    return jwt.encode(claims, key, algorithm=auth.algorithm)
