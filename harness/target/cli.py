"""Serving the reference target: ``python -m harness.target`` (and ``harness target``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from harness.config.scenario import FirstMessage
from harness.target.options import args_to_options, build_parser, path_of, read_secret
from harness.target.server import TargetConfig, TargetServer


class Serving(Protocol):
    """What serving needs of a target server (plain WebSocket or Socket.IO)."""

    config: TargetConfig

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...


def write_ready_file(path: Path, server: Serving) -> None:
    """Write ``{"pid", "host", "port", "url"}`` to ``path`` atomically (rename in place)."""
    doc = {"pid": os.getpid(), "host": server.config.host, "port": server.port, "url": server.url}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def serve_until_signal(
    config: TargetConfig,
    on_ready: Callable[[Serving], None] | None = None,
    *,
    server: Serving | None = None,
) -> None:
    """Run a :class:`TargetServer` until SIGTERM or SIGINT, then shut it down gracefully.

    Args:
        config: the server's configuration.
        on_ready: called once the server listens (e.g. to print the URL, write a ready file).
        server: serve this one instead (e.g. a
            :class:`~harness.target.socketio_server.SocketIOTarget` made from ``config``).
    """
    server = server or TargetServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
        logging.getLogger("harness.target").info(
            "signal received; closing connections (1001, or a Socket.IO server disconnect)"
        )
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        await server.stop()


class RepeatFilter(logging.Filter):
    """Pass a repeated message at most once per ``every`` seconds, saying how many were held."""

    def __init__(self, every: float = 1.0) -> None:
        super().__init__()
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:80]
        now = time.monotonic()
        if now - self._last.get(key, -self.every) < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.every:g} s)"
        record.exc_info = None  # the traceback says nothing new after the first
        return True


def run_from_args(args: argparse.Namespace, *, prog: str = "harness target") -> int:
    """Run the target as ``args`` describe until SIGTERM/SIGINT; 0 on a clean stop, 2 on errors."""
    try:
        secret = read_secret(args)
    except ValueError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if (args.certfile is None) != (args.keyfile is None):
        print(f"{prog}: error: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    if args.protocol == "socketio" and args.placement == "first_message":
        print(
            f"{prog}: error: --placement first_message is not served by --protocol socketio "
            "(the token goes in the CONNECT auth object)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        stream=sys.stdout,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The library logs requests (tokens included) at DEBUG: keep it at WARNING or above.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    # asyncio logs every failed accept() at EMFILE with a traceback (thousands a second)
    logging.getLogger("asyncio").addFilter(RepeatFilter())
    config = TargetConfig(
        options=args_to_options(args),
        secret=secret,
        host=args.host,
        port=args.port,
        path=path_of(args),
        query_param=args.query_param,
        algorithm=args.algorithm,
        placement=args.placement,
        header=args.header,
        scheme=args.scheme,
        cookie=args.cookie,
        first_message=FirstMessage(args.auth_template, args.ack_field, args.ack_value),
        certfile=None if args.certfile is None else str(args.certfile),
        keyfile=None if args.keyfile is None else str(args.keyfile),
    )

    server: Serving | None = None
    if args.protocol == "socketio":
        # imported here: python-socketio and aiohttp cost the plain target half a second
        from harness.target.socketio_server import SocketIOConfig, SocketIOTarget

        sio_config = SocketIOConfig(
            namespace=args.namespace,
            event=args.event,
            auth_field=args.auth_field,
            transports=tuple(args.transports),
            disconnect_after=args.disconnect_after,
        )
        server = SocketIOTarget(config, sio_config)
        # python-socketio/engineio and aiohttp log tracebacks of bad requests: not one a line
        for name in ("harness.target.socketio", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).addFilter(RepeatFilter())

    def on_ready(server: Serving) -> None:
        defects = ", ".join(config.options.defects) or "none"
        print(f"listening on {server.url} (defects: {defects})", flush=True)
        if args.ready_file is not None:
            write_ready_file(args.ready_file, server)

    try:
        asyncio.run(serve_until_signal(config, on_ready, server=server))
    except ssl.SSLError as exc:  # a key that does not match, a file that is not PEM
        print(f"{prog}: error: cannot use --certfile/--keyfile: {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: cannot start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m harness.target``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_from_args(args, prog=parser.prog)
