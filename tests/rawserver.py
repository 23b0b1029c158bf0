"""A raw TCP test server that misbehaves on purpose, switched by request path.

It speaks just enough HTTP/WebSocket (RFC 6455) by hand to produce each thing a
client can see: a status, a drop before the 101, a reset, silence, garbage, a
101 then a drop without a close frame, a close frame with a chosen code, pings,
and a plain echo. It proves the client and classifier read the protocol, not
our reference target's habits.

Paths: /status/<code>, /drop, /reset, /silent[/<seconds>], /garbage, /open-drop,
/close/<code>[/<reason>], /ping-echo, /echo.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _frame(opcode: int, payload: bytes) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("eof")
        buf += chunk
    return buf


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    b0, b1 = _read_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _read_exact(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _read_exact(sock, 8))
    mask = _read_exact(sock, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = bytes(c ^ mask[i % 4] for i, c in enumerate(_read_exact(sock, n)))
    return b0 & 0x0F, data


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1].split("?")[0]
        headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        self.server.seen.append((path, headers))  # type: ignore[attr-defined]
        parts = path.strip("/").split("/")
        kind = parts[0]
        if kind == "status":
            body = b"no"
            sock.sendall(
                f"HTTP/1.1 {parts[1]} Nope\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            return
        if kind == "drop":
            return  # close without a byte
        if kind == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if kind == "silent":  # /silent[/<seconds>]: read the request, never answer
            time.sleep(float(parts[1]) if len(parts) > 1 else 3.0)
            return
        if kind == "garbage":
            sock.sendall(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
            return
        accept = _accept_key(headers.get("sec-websocket-key", ""))
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        if kind == "open-drop":
            time.sleep(0.1)
            return
        if kind == "close":
            reason = parts[2].encode() if len(parts) > 2 else b""
            sock.sendall(_frame(0x8, struct.pack("!H", int(parts[1])) + reason))
            with contextlib.suppress(ConnectionError, OSError):
                _read_frame(sock)
            return
        if kind == "ping-echo":
            sock.sendall(_frame(0x9, b"hb"))
        try:
            while True:
                op, payload = _read_frame(sock)
                if op == 0x8:
                    sock.sendall(_frame(0x8, payload[:2]))
                    return
                if op in (0x1, 0x2):
                    sock.sendall(_frame(op, payload))
        except (ConnectionError, OSError):
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def raw_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """Serve on an OS-chosen loopback port; yield (ws:// base URL, [(path, headers) seen])."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{srv.server_address[1]}", srv.seen  # type: ignore[attr-defined]
    finally:
        srv.shutdown()
        srv.server_close()
