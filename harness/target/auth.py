"""Token checks of the embedded target: find the JWT, validate it, name why it was refused.

Everything here is pure (no I/O, no global state): the server feeds in the
request's query string and headers (:class:`Carriers`), and gets back an
:class:`AuthResult` whose ``cause`` is a key of :data:`REJECTIONS`.

Rules, in the order :func:`validate_token` applies them:

1. No token at all is ``missing``; a token that is present but empty
   (``?token=`` or ``Authorization: Bearer``) is ``empty``.
2. The unverified header must decode, else ``malformed``.
3. A header ``alg`` of ``none`` (any case), ``null`` or absent is ``alg_none``;
   any other algorithm than the configured one is ``algorithm_not_allowed``.
4. PyJWT then verifies the signature before the claims (RFC 7519 section 7.2):
   ``bad_signature``, then ``expired`` (``exp``, required), ``not_yet_valid``
   (``nbf``), and ``claims_invalid`` for every other claim failure (missing
   ``exp``, a bad ``iat``, an ``aud`` the target does not expect, ...).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import jwt

# --- Tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    """How one rejection cause is expressed.

    Attributes:
        status: HTTP status when refusing at the upgrade.
        close_code: WebSocket close code when refusing by closing after the 101.
        reason: short text for the body / close reason; never contains the token.
    """

    status: int
    close_code: int
    reason: str


#: Rejection cause -> HTTP status (upgrade mode), close code (close mode), reason text.
REJECTIONS: Mapping[str, Rejection] = {
    "missing": Rejection(401, 4401, "token missing"),
    "empty": Rejection(401, 4401, "token empty"),
    "malformed": Rejection(401, 4401, "token malformed"),
    "alg_none": Rejection(401, 4401, "token alg none not allowed"),
    "algorithm_not_allowed": Rejection(401, 4401, "token algorithm not allowed"),
    "bad_signature": Rejection(401, 4401, "token bad signature"),
    "expired": Rejection(401, 4401, "token expired"),
    "not_yet_valid": Rejection(401, 4401, "token not yet valid"),
    "claims_invalid": Rejection(403, 4403, "token claims invalid"),
}

#: All rejection causes, in table order.
CAUSES: tuple[str, ...] = tuple(REJECTIONS)

# --- Results --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthResult:
    """Outcome of one token check.

    Attributes:
        cause: None when accepted, else a key of :data:`REJECTIONS`.
        claims: the verified claims when accepted (empty for an anonymous user).
        anonymous: accepted without a token (only with the ``accept-empty-token`` defect).
    """

    cause: str | None
    claims: Mapping[str, Any] | None = None
    anonymous: bool = False

    @property
    def ok(self) -> bool:
        """True when the token was accepted."""
        return self.cause is None

    @property
    def rejection(self) -> Rejection | None:
        """The table row for ``cause`` (None when accepted)."""
        return REJECTIONS[self.cause] if self.cause is not None else None


def accepted(claims: Mapping[str, Any], *, anonymous: bool = False) -> AuthResult:
    """An accepted result carrying ``claims``."""
    return AuthResult(cause=None, claims=claims, anonymous=anonymous)


def rejected(cause: str) -> AuthResult:
    """A rejected result; ``cause`` must be a key of :data:`REJECTIONS`."""
    if cause not in REJECTIONS:
        raise ValueError(f"unknown rejection cause {cause!r}; expected one of {CAUSES}")
    return AuthResult(cause=cause)


# --- Functions ------------------------------------------------------------------------


def extract_token(
    query: str, authorization: str | None, *, query_param: str = "token"
) -> str | None:
    """Find the token of a request: the query parameter first, else a Bearer header.

    Args:
        query: the raw query string, without the ``?``.
        authorization: the ``Authorization`` header value, if any.
        query_param: name of the query parameter holding the token.

    Returns:
        The token (possibly ``""`` when present but empty), or None when neither
        place holds one. A header with another scheme than Bearer holds none.
    """
    values = parse_qs(query, keep_blank_values=True).get(query_param)
    if values:
        return values[0]
    if authorization is None:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return rest.strip()


@dataclass(frozen=True)
class Carriers:
    """The parts of an upgrade request a token can travel in (placements).

    Attributes:
        query: the raw query string, without the ``?``.
        authorization: the token header's value (``Authorization`` or another), if any.
        cookie: the ``Cookie`` header value, if any.
        subprotocols: the ``Sec-WebSocket-Protocol`` values offered, in order.
    """

    query: str = ""
    authorization: str | None = None
    cookie: str | None = None
    subprotocols: Sequence[str] = ()


def find_token(
    carriers: Carriers,
    *,
    query_param: str = "token",
    scheme: str = "Bearer",
    cookie: str = "token",
) -> str | None:
    """Find the token of a request in any handshake placement, in this order: the query
    parameter, the ``Authorization`` header (``<scheme> <token>``; with ``scheme`` "" the
    whole value), the cookie named ``cookie``, the last subprotocol offered (clients send
    e.g. ``access_token, <token>``).

    Returns:
        The token (possibly ``""`` when present but empty), or None when no place holds one.
    """
    found = extract_token(carriers.query, None, query_param=query_param)
    if found is not None:
        return found
    if carriers.authorization is not None:
        value = carriers.authorization.strip()
        if not scheme:
            return value
        given, _, rest = value.partition(" ")
        if given.lower() == scheme.lower():
            return rest.strip()
    if carriers.cookie is not None:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(carriers.cookie)
        except CookieError:
            jar = SimpleCookie()
        if cookie in jar:
            return jar[cookie].value
    if carriers.subprotocols:
        return carriers.subprotocols[-1]
    return None


def validate_token(token: str | None, secret: str, *, algorithm: str = "HS256") -> AuthResult:
    """Validate ``token`` against ``secret`` with exactly ``algorithm`` and a required ``exp``.

    Args:
        token: as returned by :func:`extract_token`.
        secret: the HMAC key.
        algorithm: the only algorithm accepted (HS256, HS384 or HS512).
    """
    if token is None:
        return rejected("missing")
    if token == "":
        return rejected("empty")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return rejected("malformed")
    alg = header.get("alg")
    if alg is None or (isinstance(alg, str) and alg.lower() == "none"):
        return rejected("alg_none")
    if alg != algorithm:
        return rejected("algorithm_not_allowed")
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["exp"]})
    except jwt.InvalidSignatureError:
        return rejected("bad_signature")
    except jwt.DecodeError:
        return rejected("malformed")
    except jwt.ExpiredSignatureError:
        return rejected("expired")
    except jwt.ImmatureSignatureError:
        return rejected("not_yet_valid")
    except jwt.InvalidAlgorithmError:
        return rejected("algorithm_not_allowed")
    except jwt.InvalidTokenError:
        return rejected("claims_invalid")
    return accepted(claims)


class ValidityCache:
    """Token -> claims, kept ``ttl`` seconds after a successful validation.

    This is the ``cache-past-expiry`` defect on purpose: an entry outlives the
    token's own ``exp``. The clock is passed in (``now``, seconds), so the cache
    stays pure; it holds at most ``max_entries`` tokens, dropping the oldest.
    """

    def __init__(self, ttl: float, *, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Mapping[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> Mapping[str, Any] | None:
        """Claims cached for ``token`` at time ``now``, or None (absent or past the TTL)."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry[0]:
            del self._entries[token]
            return None
        return entry[1]

    def put(self, token: str, claims: Mapping[str, Any], now: float) -> None:
        """Remember that ``token`` validated at ``now`` (the entry lives ``ttl`` seconds)."""
        self._entries.pop(token, None)
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token] = (now + self.ttl, claims)


def check_token(
    token: str | None,
    secret: str,
    *,
    algorithm: str,
    defects: frozenset[str],
    cache: ValidityCache | None,
) -> tuple[AuthResult, bool]:
    """The reference target's token decision, through the defects that change the rules
    (``accept-empty-token``; ``cache-past-expiry`` when ``cache`` is given): the result, and
    whether it came from the validity cache. Every target mode decides with this."""
    if token == "" and "accept-empty-token" in defects:
        return accepted({}, anonymous=True), False
    now = time.monotonic()
    if cache is not None and token:
        claims = cache.get(token, now)
        if claims is not None:
            return accepted(claims), True
    result = validate_token(token, secret, algorithm=algorithm)
    if cache is not None and token and result.claims is not None:
        cache.put(token, result.claims, now)
    return result, False
