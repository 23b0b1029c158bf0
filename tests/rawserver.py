"""A raw TCP test server that misbehaves on purpose, one behaviour per request path.

It speaks just enough HTTP/WebSocket (RFC 6455) by hand to produce each thing a client
can see, broken or correct, so the tests prove that the client and the classifier read
the protocol, not our reference target's habits. Numbers in a path are optional
parameters (defaults in brackets); ``/echo`` and the like are the correct behaviours.

Before the 101:
  /status/<code>           a refused upgrade with that status
  /status-huge             401 declaring a 100 MB body, and sending it
  /headers-huge            a 101 whose headers never end (4 MiB of them)
  /drop                    close without a byte
  /reset                   RST without a byte
  /silent[/<s>]            read the request, never answer [3]
  /garbage                 an SSH banner instead of HTTP
  /no-accept               101 without Sec-WebSocket-Accept
  /bad-accept              101 with a wrong Sec-WebSocket-Accept
  /drip-101[/<s>]          the 101 response one byte every <s> seconds [1]
After the 101 (correct):
  /echo                    echo every message
  /ping-echo               one ping, then echo
  /fragmented-echo         echo each message in 3 fragments, a ping between two of them
  /close-with-101/<code>   the 101 and a close frame with that code in one write
  /close/<code>[/<reason>] a close frame with that code (and reason) at once; also the
                           codes that must not be sent (1005, 1006, 999, 5000, ...) and
                           reasons over 123 bytes
  /no-close-reply          echo, but never answer the client's close frame
  /ping-flood[/<s>]        pings as fast as the client answers them, for <s> seconds [1]
  /engine-io               an Engine.IO OPEN packet (a Socket.IO server), then wait for close
  /no-pong                 echo, but never answer a ping (a dead peer's heartbeat)
  /pong-wrong              an unsolicited pong at once, then answer each ping with a pong
                           of another payload; echo
After the 101 (broken):
  /open-drop               FIN without a close frame
  /reset-mid-frame         half a frame, then RST
  /close-1-byte            a close frame with a 1-byte payload
  /close-bad-utf8          a close frame 1000 whose reason is not UTF-8
  /fragment-forever[/<s>]  a text message whose fragments never end, one every <s> s [0.2]
  /drip-frame[/<s>]        one frame sent one byte every <s> seconds [0.2]
  /slow-reader/<B/s>       read at most <B/s> bytes a second, answer the close frame
  /never-reads             never read a byte (for 30 s)
  /ping-flood-no-read      125-byte pings as fast as the socket takes them, never reading
  /unsolicited/<bytes>     an unsolicited binary frame of that size, then echo
  /echo-different          answer each message with a different payload
  /masked                  a masked text frame
  /reserved-bits           a frame with RSV1 set
  /reserved-opcode         a frame with opcode 0x3
  /bad-utf8-text           a text frame that is not UTF-8
  /huge-frame              a frame header declaring 2**40 bytes, no payload
  /many-fragments/<n>      a message of <n> one-byte fragments
  /big-message             a message of five 1 MiB fragments

After misbehaving, the server reads what the client sends back and keeps the code of the
client's close frame in :attr:`RawServer.closes` (by path), so a test can check the code
the client put on the wire. :func:`tls_stall_server` is a listener that stalls a TLS
handshake (before any path).
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
MIB = 1024 * 1024
FLOOD_AHEAD = 2048  # pings /ping-flood sends ahead of the pongs it has read
#: The Engine.IO v4 OPEN packet a Socket.IO server sends as its first WebSocket message.
ENGINE_IO_OPEN = (
    b'0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)


def _accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def _frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bytes = b""
) -> bytes:
    """A frame as a server sends it (unmasked unless ``mask`` is given, which is wrong)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    return head + mask + (_unmask(payload, mask) if mask else payload)


def _unmask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


class _Reader:
    """Reads from a socket, at most ``rate`` bytes a second when given."""

    def __init__(self, sock: socket.socket, rate: float | None = None) -> None:
        self.sock = sock
        self.rate = rate

    def exact(self, n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n:
            want = n - got
            if self.rate is not None:
                want = min(want, max(1, int(self.rate * 0.02)))
            chunk = self.sock.recv(min(want, 65536))
            if not chunk:
                raise ConnectionError("eof")
            parts.append(chunk)
            got += len(chunk)
            if self.rate is not None:
                time.sleep(len(chunk) / self.rate)
        return b"".join(parts)

    def frame(self) -> tuple[int, bytes]:
        b0, b1 = self.exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.exact(8))
        key = self.exact(4) if b1 & 0x80 else b""
        data = self.exact(n)
        return b0 & 0x0F, _unmask(data, key) if key else data


def _close_code(payload: bytes) -> int | None:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


class _Handler(socketserver.BaseRequestHandler):
    server: RawServer

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
        self.server.seen.append((path, headers))
        self.path = path
        parts = path.strip("/").split("/")
        kind, args = parts[0], parts[1:]
        with contextlib.suppress(ConnectionError, OSError):
            self._serve(sock, kind, args, headers)

    def _arg(self, args: list[str], default: float) -> float:
        return float(args[0]) if args else default

    def _serve(
        self, sock: socket.socket, kind: str, args: list[str], headers: dict[str, str]
    ) -> None:
        if kind == "status":
            body = b"no"
            sock.sendall(
                f"HTTP/1.1 {args[0]} Nope\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            return
        if kind == "status-huge":
            sock.sendall(b"HTTP/1.1 401 Nope\r\nContent-Length: 100000000\r\n\r\n")
            for _ in range(64):  # 4 MiB, then give up (the client stops at its limit)
                sock.sendall(b"x" * 65536)
            return
        if kind == "headers-huge":
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
            for _ in range(64):  # 4 MiB of headers, no blank line (the client stops at its limit)
                sock.sendall(b"X-Filler: " + b"x" * 65500 + b"\r\n")
            return
        if kind == "drop":
            return  # close without a byte
        if kind == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if kind == "silent":  # read the request, never answer
            time.sleep(self._arg(args, 3.0))
            return
        if kind == "garbage":
            sock.sendall(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")
            return
        accept = _accept_key(headers.get("sec-websocket-key", ""))
        if kind == "bad-accept":
            accept = _accept_key("not the key")
        head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        if kind != "no-accept":
            head += f"Sec-WebSocket-Accept: {accept}\r\n"
        response = (head + "\r\n").encode()
        if kind == "drip-101":
            interval = self._arg(args, 1.0)
            for i in range(len(response)):
                sock.sendall(response[i : i + 1])
                time.sleep(interval)
            return
        if kind == "close-with-101":  # one write: the client must not lose what follows
            sock.sendall(response + _frame(0x8, struct.pack("!H", int(args[0])) + b"at once"))
            self._await_close(sock)
            return
        sock.sendall(response)
        if kind in ("no-accept", "bad-accept"):
            self._await_close(sock)
            return
        self._open(sock, kind, args)

    def _open(self, sock: socket.socket, kind: str, args: list[str]) -> None:
        """Behaviours after the 101."""
        if kind == "open-drop":
            time.sleep(0.1)
            return
        if kind == "reset-mid-frame":
            sock.sendall(_frame(0x2, b"x" * 100)[:50])
            time.sleep(0.1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # RST now (socketserver would send a FIN first)
            return
        if kind == "close":
            reason = args[1].encode() if len(args) > 1 else b""
            sock.sendall(_frame(0x8, struct.pack("!H", int(args[0])) + reason))
            self._await_close(sock)
            return
        bad = {
            "close-1-byte": _frame(0x8, b"\x03"),
            "close-bad-utf8": _frame(0x8, struct.pack("!H", 1000) + b"bye \xff\xfe"),
            "masked": _frame(0x1, b"masked", mask=b"\x01\x02\x03\x04"),
            "reserved-bits": _frame(0x1, b"rsv1", rsv=0b100),
            "reserved-opcode": _frame(0x3, b"op3"),
            "bad-utf8-text": _frame(0x1, b"caf\xc3("),
            "huge-frame": bytes([0x82, 127]) + struct.pack("!Q", 2**40),
        }
        if kind in bad:
            sock.sendall(bad[kind])
            self._await_close(sock)
            return
        if kind == "engine-io":  # what a Socket.IO server sends first on its WebSocket transport
            sock.sendall(_frame(0x1, ENGINE_IO_OPEN))
            self._await_close(sock)
            return
        if kind == "many-fragments":
            n = int(self._arg(args, 300))
            frames = [_frame(0x2 if i == 0 else 0x0, b"f", fin=i == n - 1) for i in range(n)]
            sock.sendall(b"".join(frames))
            self._await_close(sock)
            return
        if kind == "big-message":
            for i in range(4):
                sock.sendall(_frame(0x2 if i == 0 else 0x0, b"m" * MIB, fin=False))
            # the fifth fragment's header (10 bytes) already takes the message over 4 MiB: send
            # it and a little of its payload, no more, so the server is reading again when the
            # client fails the connection (a server still blocked in sendall would miss the
            # client's close frame in the reset that follows it)
            sock.sendall(_frame(0x0, b"m" * MIB, fin=True)[: 10 + 1024])
            self._await_close(sock)
            return
        if kind == "fragment-forever":
            interval = self._arg(args, 0.2)
            sock.sendall(_frame(0x1, b"start", fin=False))
            sock.settimeout(interval)
            for _ in range(int(30 / interval)):
                try:
                    op, payload = _Reader(sock).frame()
                    if op == 0x8:
                        self.server.closes[self.path] = _close_code(payload)
                        return
                except TimeoutError:
                    pass
                sock.sendall(_frame(0x0, b"more", fin=False))
            return
        if kind == "drip-frame":
            interval = self._arg(args, 0.2)
            frame = _frame(0x2, b"d" * 100)
            for i in range(len(frame)):
                sock.sendall(frame[i : i + 1])
                time.sleep(interval)
            return
        if kind == "never-reads":
            time.sleep(30)
            return
        if kind == "ping-flood-no-read":
            ping = _frame(0x9, b"p" * 125)
            end = time.monotonic() + 30
            while time.monotonic() < end:
                sock.sendall(ping * 64)
            return
        if kind == "ping-flood":
            self._ping_flood(sock, self._arg(args, 1.0))
            return
        if kind == "unsolicited":
            sock.sendall(_frame(0x2, b"u" * int(args[0])))
        if kind == "ping-echo":
            sock.sendall(_frame(0x9, b"hb"))
        if kind == "pong-wrong":
            sock.sendall(_frame(0xA, b"unsolicited"))
        rate = float(args[0]) if kind == "slow-reader" else None
        self._echo(sock, kind, _Reader(sock, rate))

    def _echo(self, sock: socket.socket, kind: str, reader: _Reader) -> None:
        """Answer messages as ``kind`` says until the client's close frame (or EOF)."""
        while True:
            op, payload = reader.frame()
            if op == 0x8:
                self.server.closes[self.path] = _close_code(payload)
                if kind == "no-close-reply":
                    time.sleep(10)  # no answer, no close: the client must not wait for it
                    return
                sock.sendall(_frame(0x8, payload[:2]))
                return
            if op == 0x9 and kind == "pong-wrong":  # a pong, but not the ping's payload
                sock.sendall(_frame(0xA, b"not-" + payload[:100]))
                continue
            if op not in (0x1, 0x2) or kind == "slow-reader":  # pings go unanswered
                continue
            if kind == "echo-different":
                sock.sendall(_frame(op, payload[:-1] + bytes([payload[-1] ^ 0xFF])))
            elif kind == "fragmented-echo":
                third = max(1, len(payload) // 3)
                sock.sendall(
                    _frame(op, payload[:third], fin=False)
                    + _frame(0x0, payload[third : 2 * third], fin=False)
                    + _frame(0x9, b"mid")
                    + _frame(0x0, payload[2 * third :])
                )
            else:
                sock.sendall(_frame(op, payload))

    def _ping_flood(self, sock: socket.socket, seconds: float) -> None:
        """Pings back to back for ``seconds``, at most :data:`FLOOD_AHEAD` ahead of the pongs
        (a reader thread counts them and takes the client's close frame), then answer that
        close frame."""
        closed: list[bytes] = []
        pongs = [0]
        done = threading.Event()

        def read() -> None:
            reader = _Reader(sock)
            with contextlib.suppress(ConnectionError, OSError):
                while True:
                    op, payload = reader.frame()
                    if op == 0xA:
                        pongs[0] += 1
                    elif op == 0x8:
                        closed.append(payload)
                        break
            done.set()

        threading.Thread(target=read, daemon=True).start()
        burst = 16
        pings = _frame(0x9, b"flood") * burst
        sent = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end and not done.is_set():
            if sent - pongs[0] > FLOOD_AHEAD:
                time.sleep(0.0005)
                continue
            sock.sendall(pings)
            sent += burst
        done.wait(10)
        if closed:
            self.server.closes[self.path] = _close_code(closed[0])
            sock.sendall(_frame(0x8, closed[0][:2]))

    def _await_close(self, sock: socket.socket) -> None:
        """Read what the client sends until its close frame; keep that frame's code."""
        sock.settimeout(5)
        reader = _Reader(sock)
        while True:
            op, payload = reader.frame()
            if op == 0x8:
                self.server.closes[self.path] = _close_code(payload)
                return


class RawServer(socketserver.ThreadingTCPServer):
    """The server: ``seen`` holds (path, headers) of each request, ``closes`` the code of
    the client's close frame by path (None: a close frame without a code)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.closes: dict[str, int | None] = {}

    @property
    def url(self) -> str:
        """The ws:// base URL (append a path)."""
        return f"ws://127.0.0.1:{self.server_address[1]}"

    def client_close(self, path: str, timeout: float = 2.0) -> int | None:
        """The code of the client's close frame on ``path``, once the server has read it
        (waiting up to ``timeout`` s: the client does not wait for a reply to a 1001).

        Raises:
            KeyError: no close frame was read in time.
        """
        end = time.monotonic() + timeout
        while path not in self.closes and time.monotonic() < end:
            time.sleep(0.02)
        return self.closes[path]


@contextmanager
def hostile_server() -> Iterator[RawServer]:
    """Serve on an OS-chosen loopback port in a thread; yield the server."""
    srv = RawServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@contextmanager
def raw_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """Serve on an OS-chosen loopback port; yield (ws:// base URL, [(path, headers) seen])."""
    with hostile_server() as srv:
        yield srv.url, srv.seen


@contextmanager
def tls_stall_server(interval: float = 0.2) -> Iterator[str]:
    """A listener that reads the TLS ClientHello, then sends a record one byte every
    ``interval`` seconds; yields its wss:// base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def stall(conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.recv(4096)
            record = b"\x16\x03\x03\x40\x00" + b"\x00" * 16384
            for i in range(len(record)):
                if stop.is_set():
                    return
                conn.sendall(record[i : i + 1])
                time.sleep(interval)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                conn, _ = listener.accept()
                threading.Thread(target=stall, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"wss://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()
