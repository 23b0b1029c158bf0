"""Where a connection attempt goes and where its token travels: the URL, the handshake's
headers, cookie and subprotocols, or the first message after the open.

One :class:`Request` per attempt (:func:`auth_request` builds it from the scenario's
``auth``); the ``build_*`` functions turn it into what goes on the wire, for the plain
client (:mod:`harness.load.client`) and the Socket.IO one (:mod:`harness.load.socketio`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from harness.config.scenario import Auth, FirstMessage


@dataclass(frozen=True, slots=True)
class Request:
    """Where to connect and with which token.

    Attributes:
        url: ws:// or wss:// URL of the endpoint.
        token: token text; ``None`` sends no token at all.
        placement: where the token goes: "query" (``?<query_param>=<token>``), "header"
            (``<header>: <scheme> <token>``), "cookie" (``Cookie: <cookie>=<token>``),
            "subprotocol" (``Sec-WebSocket-Protocol``: ``subprotocol`` with the token in
            it; the server must pick one of the values offered), or "first_message" (the
            text message ``first_message.template`` right after the open; see
            :func:`_authenticate`).
        query_param: name of the query parameter.
        header: name of the header.
        scheme: the header's scheme ("" sends the bare token).
        cookie: name of the cookie.
        subprotocol: the ``Sec-WebSocket-Protocol`` value offered, ``{token}`` substituted
            (a comma-separated list offers several).
        first_message: the auth message and its ack, for placement "first_message".
        connect_timeout: seconds for the TCP connect.
        handshake_timeout: seconds for TLS and the whole upgrade response together (one
            deadline, not per read).
        verify_tls: verify the server certificate for wss://.
        ca_file: PEM file of the CAs to trust for wss:// (None: the system's).
        source_address: the local IP address to connect from (None: the OS chooses).
    """

    url: str
    token: str | None
    placement: str = "query"
    query_param: str = "token"
    header: str = "Authorization"
    scheme: str = "Bearer"
    cookie: str = "token"
    subprotocol: str = "{token}"
    first_message: FirstMessage = field(default_factory=FirstMessage)
    # Timeouts
    connect_timeout: float = 5.0
    handshake_timeout: float = 5.0
    # TLS
    verify_tls: bool = True
    ca_file: str | None = None
    source_address: str | None = None


def auth_request(url: str, auth: Auth, token: str | None, **options: Any) -> Request:
    """A request carrying ``token`` where the scenario's ``auth`` places it; ``options`` are
    the other :class:`Request` fields (timeouts, TLS)."""
    return Request(
        url=url,
        token=token,
        placement=auth.placement,
        query_param=auth.query_param,
        header=auth.header,
        scheme=auth.scheme,
        cookie=auth.cookie,
        subprotocol=auth.subprotocol,
        first_message=auth.first_message,
        **options,
    )


def build_url(req: Request) -> str:
    """The URL to request: ``req.url`` with the token in the query string when placed there."""
    if req.placement != "query" or req.token is None:
        return req.url
    parts = urlsplit(req.url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query.append((req.query_param, req.token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def build_headers(req: Request) -> list[str]:
    """Extra handshake headers: the token header or cookie when placed there."""
    if req.token is None:
        return []
    if req.placement == "header":
        value = f"{req.scheme} {req.token}" if req.scheme else req.token
        return [f"{req.header}: {value}"]
    if req.placement == "cookie":
        return [f"Cookie: {req.cookie}={req.token}"]
    return []


def build_subprotocols(req: Request) -> list[str] | None:
    """The subprotocols offered (placement "subprotocol"), else None (no header sent)."""
    if req.placement != "subprotocol" or req.token is None:
        return None
    offered = req.subprotocol.replace("{token}", req.token).split(",")
    return [p.strip() for p in offered if p.strip()]


def build_auth_message(req: Request) -> bytes | None:
    """The text of the auth message sent after the open (placement "first_message")."""
    if req.placement != "first_message" or req.token is None:
        return None
    return req.first_message.template.replace("{token}", req.token).encode()
