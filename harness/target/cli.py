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
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from harness.config.scenario import FirstMessage
from harness.target.options import args_to_options, build_parser, path_of, read_secret
from harness.target.pool import Pool, reserve_port, shares
from harness.target.server import TargetConfig, TargetServer, tls_context


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
    write_ready_doc(path, doc)


def write_ready_doc(path: Path, doc: dict[str, Any]) -> None:
    """Write the ready document ``doc`` to ``path`` atomically (rename in place)."""
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
            "signal received; closing connections (1001; Socket.IO: the Engine.IO close)"
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
    if args.processes > 1 and args.max_connections < args.processes:
        print(
            f"{prog}: error: --max-connections ({args.max_connections}) is split over the "
            f"processes: it must be at least --processes ({args.processes})",
            file=sys.stderr,
        )
        return 2
    if args.processes > 1 and args.protocol == "socketio" and "polling" in args.transports:
        print(
            f"{prog}: error: --processes {args.processes} with --protocol socketio needs "
            "--transports websocket (an Engine.IO polling session lives in one process, and "
            "its next request may reach another)",
            file=sys.stderr,
        )
        return 2
    # several processes: each line says which one wrote it
    pid = "[%(process)d]" if args.processes > 1 else ""
    logging.basicConfig(
        stream=sys.stdout,
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s %(name)s{pid}: %(message)s",
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

    make_server: Callable[[TargetConfig], Serving] = TargetServer
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

        def make_server(config: TargetConfig) -> Serving:
            return SocketIOTarget(config, sio_config)

        # python-socketio/engineio and aiohttp log tracebacks of bad requests: not one a line
        for name in ("harness.target.socketio", "aiohttp.server", "aiohttp.web"):
            logging.getLogger(name).addFilter(RepeatFilter())

    if config.options.processes > 1:
        return run_pool(config, make_server, ready_file=args.ready_file, prog=prog)

    def on_ready(server: Serving) -> None:
        defects = ", ".join(config.options.defects) or "none"
        print(f"listening on {server.url} (defects: {defects})", flush=True)
        if args.ready_file is not None:
            write_ready_file(args.ready_file, server)

    try:
        asyncio.run(serve_until_signal(config, on_ready, server=make_server(config)))
    except ssl.SSLError as exc:  # a key that does not match, a file that is not PEM
        print(f"{prog}: error: cannot use --certfile/--keyfile: {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: cannot start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


def run_pool(
    config: TargetConfig,
    make_server: Callable[[TargetConfig], Serving],
    *,
    ready_file: Path | None,
    prog: str,
) -> int:
    """Serve ``config`` as ``config.options.processes`` processes on one port
    (:mod:`harness.target.pool`); the parent's exit status.

    Each process gets its share of ``max_connections`` (:func:`~harness.target.pool.shares`)
    and its index (``TargetConfig.process``); the ready file names the parent's PID.
    """
    n = config.options.processes
    try:
        if config.certfile and config.keyfile:
            tls_context(config.certfile, config.keyfile)  # refuse a bad pair once, not n times
        reserved = reserve_port(config.host, config.port)
    except ssl.SSLError as exc:
        print(f"{prog}: error: cannot use --certfile/--keyfile: {exc.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: cannot start on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2
    port = int(reserved.getsockname()[1])
    limits = shares(config.options.max_connections, n)

    def serve(index: int, ready: Callable[[dict[str, Any]], None]) -> int:
        options = replace(config.options, max_connections=limits[index])
        mine = replace(config, port=port, process=index, options=options)

        def child_ready(server: Serving) -> None:
            ready({"host": mine.host, "port": server.port, "url": server.url})

        try:
            asyncio.run(serve_until_signal(mine, child_ready, server=make_server(mine)))
        except OSError as exc:
            print(f"{prog}: error: process {index} cannot serve on port {port}: {exc}")
            return 2
        return 0

    def on_ready(doc: dict[str, Any]) -> None:
        defects = ", ".join(config.options.defects) or "none"
        print(f"listening on {doc['url']} (defects: {defects}; {n} processes)", flush=True)
        if ready_file is not None:
            write_ready_doc(ready_file, {**doc, "processes": n})

    log = logging.getLogger("harness.target")
    try:
        return Pool(n, serve, log=log.info).run(on_ready, close_in_children=[reserved])
    finally:
        reserved.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m harness.target``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_from_args(args, prog=parser.prog)
