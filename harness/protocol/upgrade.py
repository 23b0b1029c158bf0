"""The WebSocket opening handshake as bytes (pure): the client's upgrade request, the server's
response head parsed, and the checks RFC 6455 section 4.1 asks of a 101.

The load edge (:mod:`harness.load.dial`) moves the bytes, under its deadline and size limit;
everything it decides from them is here, so a test can feed any response a server may send.
Header names are compared lowercase; a header given twice keeps its last value, except that
the values of ``Set-Cookie`` are never needed here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: RFC 6455 section 1.3: appended to the key before hashing for ``Sec-WebSocket-Accept``.
ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: The statuses of a redirect: reported as such (a load generator does not follow them).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HEAD_END = b"\r\n\r\n"


class UpgradeError(ValueError):
    """The server's response is not a valid answer to the upgrade (a protocol error)."""


@dataclass(frozen=True)
class ResponseHead:
    """A response's status line and headers.

    Attributes:
        status: the status code.
        headers: header names (lowercase) to their values (stripped).
        length: bytes of the head, the blank line included: the body, or the first
            WebSocket frames after a 101, start there.
    """

    status: int
    headers: Mapping[str, str]
    length: int

    @property
    def content_length(self) -> int | None:
        """The body's declared length, if a valid one was given."""
        value = self.headers.get("content-length", "")
        return int(value) if value.isdigit() else None


def host_header(host: str, port: int, secure: bool) -> str:
    """The ``Host`` value: the port only when it is not the scheme's default; IPv6 in []."""
    name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return name if port == (443 if secure else 80) else f"{name}:{port}"


def upgrade_request(
    target: str,
    host: str,
    key: str,
    headers: Sequence[str] = (),
    subprotocols: Sequence[str] | None = None,
) -> bytes:
    """The GET that asks ``target`` (path and query) for a WebSocket (RFC 6455 section 4.1).

    Args:
        target: the request target, e.g. ``/ws?token=...``.
        host: the ``Host`` header's value (:func:`host_header`).
        key: the base64 ``Sec-WebSocket-Key`` (16 random bytes).
        headers: extra ``Name: value`` lines (the token's header or cookie).
        subprotocols: offered in ``Sec-WebSocket-Protocol``; None: no such header.
    """
    lines = [
        f"GET {target or '/'} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {','.join(subprotocols)}")
    lines += headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def parse_head(data: bytes) -> ResponseHead | None:
    """The response head at the start of ``data``; None while the blank line has not come.

    Raises:
        UpgradeError: the status line or a header line is malformed.
    """
    end = data.find(HEAD_END)
    if end < 0:
        return None
    text = data[:end].decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise UpgradeError(f"not an HTTP status line: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise UpgradeError(f"not a header line: {line[:60]!r}")
        headers[name.strip().lower()] = value.strip()
    return ResponseHead(int(parts[1]), headers, end + len(HEAD_END))


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer ``key`` with."""
    digest = hashlib.sha1((key + ACCEPT_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(value: str) -> list[str]:
    return [t.strip().lower() for t in value.split(",")]


def check_switch(head: ResponseHead, key: str, subprotocols: Sequence[str] | None) -> None:
    """The checks of a 101 (RFC 6455 section 4.1, client steps 2-6): ``Upgrade: websocket``,
    ``Connection: Upgrade``, the accept hash of our key, and, when we offered subprotocols,
    one of them picked.

    Raises:
        UpgradeError: which check failed.
    """
    h = head.headers
    if "websocket" not in _tokens(h.get("upgrade", "")):
        raise UpgradeError("101 without Upgrade: websocket")
    if "upgrade" not in _tokens(h.get("connection", "")):
        raise UpgradeError("101 without Connection: Upgrade")
    if subprotocols:
        picked = h.get("sec-websocket-protocol", "").strip().lower()
        if not picked or picked not in [s.lower() for s in subprotocols]:
            raise UpgradeError(f"101 without one of the subprotocols offered ({len(subprotocols)})")
    accept = h.get("sec-websocket-accept", "")
    if not hmac.compare_digest(accept.encode(), accept_for(key).encode()):
        raise UpgradeError("101 with a wrong Sec-WebSocket-Accept")
