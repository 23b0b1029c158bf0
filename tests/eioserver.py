"""A scripted Engine.IO long-polling server on a loopback port, for what a correct Socket.IO
server never does: never pinging, sending events a front end treats as a refusal, sending
packets no codec can read.

It speaks just enough Engine.IO v4 over HTTP/1.1 (``http.server``, a thread per request):
the opening GET gets ``OPEN`` with the ping times given, a POST is answered ``ok`` and its
CONNECT remembered, a GET of the session gets what ``script`` says comes after the CONNECT
(packets joined by the record separator), then nothing: later GETs are held until the
server stops (as a server that went silent holds them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RS = "\x1e"


@contextmanager
def eio_server(
    script: Sequence[str], ping_interval_ms: int = 300, ping_timeout_ms: int = 200
) -> Iterator[str]:
    """Serve on 127.0.0.1, port 0; yields the base ``http://`` URL.

    Args:
        script: the packets the session's GETs get once the client sent CONNECT, one GET
            each (``"40{}"`` connects the namespace; ``""`` sends nothing and holds).
        ping_interval_ms, ping_timeout_ms: the times the OPEN packet announces (the server
            never pings unless the script says ``"2"``).
    """
    stop = threading.Event()
    state = {"connected": False, "step": 0}
    lock = threading.Lock()
    opened = json.dumps(
        {
            "sid": "s1",
            "upgrades": [],
            "pingInterval": ping_interval_ms,
            "pingTimeout": ping_timeout_ms,
            "maxPayload": 1000000,
        }
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def _reply(self, body: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if "sid" not in query:
                self._reply("0" + opened)
                return
            while not stop.is_set():
                with lock:
                    if state["connected"] and state["step"] < len(script):
                        body = script[state["step"]]
                        state["step"] += 1
                        if body:
                            self._reply(body)
                            return
                stop.wait(0.02)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            if any(p.startswith("40") for p in body.split(RS)):
                with lock:
                    state["connected"] = True
            self._reply("ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
