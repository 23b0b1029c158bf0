"""Command line of the embedded target: ``python -m harness.target`` (and ``harness target``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.config.scenario import DEFECTS, HS_ALGORITHMS, REJECTION_MODES, EmbeddedTarget
from harness.target.server import TargetConfig, TargetServer

DEFAULT_SECRET_ENV = "HARNESS_JWT_SECRET"

EPILOG = """\
example:
  HARNESS_JWT_SECRET=change-me python -m harness.target --port 0 \\
      --max-connections 100 --rejection close --defect accept-empty-token

The secret is read from the environment variable named by --secret-env, or from
--secret-file; it is never taken on the command line. SIGTERM or SIGINT closes
open connections with 1001 and exits 0.
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in [0, 65535], got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the target's options to ``parser`` (defaults from :class:`EmbeddedTarget`)."""
    d = EmbeddedTarget()
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    net.add_argument(
        "--port",
        type=_port,
        default=8765,
        help="TCP port; 0 lets the OS pick (default: %(default)s)",
    )
    net.add_argument("--path", default="/ws", help="WebSocket path (default: %(default)s)")
    net.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help='once listening, atomically write {"pid","host","port","url"} as JSON here',
    )
    net.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="level of the target's own log lines on stdout (default: %(default)s)",
    )
    auth = parser.add_argument_group("auth")
    secret = auth.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-env",
        default=DEFAULT_SECRET_ENV,
        metavar="NAME",
        help="environment variable holding the JWT secret (default: %(default)s)",
    )
    secret.add_argument("--secret-file", type=Path, metavar="PATH", help="file holding the secret")
    auth.add_argument(
        "--algorithm",
        default="HS256",
        choices=HS_ALGORITHMS,
        help="the only JWT algorithm accepted (default: %(default)s)",
    )
    auth.add_argument(
        "--query-param",
        default="token",
        help="query parameter holding the token (default: %(default)s)",
    )
    auth.add_argument(
        "--rejection",
        default=d.rejection,
        choices=REJECTION_MODES,
        help="refuse bad tokens at the upgrade (401/403) or by closing "
        "(4401/4403) (default: %(default)s)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--capacity-rejection",
        default=d.capacity_rejection,
        choices=REJECTION_MODES,
        help="refuse over capacity with 503 or by closing 1013 (default: %(default)s)",
    )
    limits.add_argument(
        "--max-connections",
        type=_positive_int,
        default=d.max_connections,
        metavar="N",
        help="concurrent connections (default: %(default)s)",
    )
    limits.add_argument(
        "--max-rss-mb",
        type=_non_negative,
        default=d.max_rss_mb,
        metavar="MB",
        help="refuse above this resident memory; 0: off (default: %(default)s)",
    )
    limits.add_argument(
        "--max-cpu-percent",
        type=_non_negative,
        default=d.max_cpu_percent,
        metavar="PCT",
        help="refuse above this CPU use, one core = 100; 0: off (default: %(default)s)",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=_non_negative,
        default=d.handshake_timeout,
        metavar="S",
        help="seconds to finish the opening handshake; 0: none (default: %(default)s)",
    )
    limits.add_argument(
        "--ping-interval",
        type=_non_negative,
        default=d.ping_interval,
        metavar="S",
        help="seconds between pings; 0: off (default: %(default)s)",
    )
    limits.add_argument(
        "--ping-timeout",
        type=_non_negative,
        default=d.ping_timeout,
        metavar="S",
        help="seconds to wait for a pong; 0: forever (default: %(default)s)",
    )
    defects = parser.add_argument_group("deliberate defects")
    defects.add_argument(
        "--defect",
        action="append",
        choices=DEFECTS,
        default=[],
        dest="defects",
        help="enable a defect (repeatable)",
    )
    defects.add_argument(
        "--drop-probability",
        type=_probability,
        default=d.drop_probability,
        metavar="P",
        help="share dropped by drop-before-handshake (default: %(default)s)",
    )
    defects.add_argument(
        "--cache-ttl",
        type=_non_negative,
        default=d.cache_ttl,
        metavar="S",
        help="seconds a cache-past-expiry entry lives (default: %(default)s)",
    )


def build_parser(prog: str = "python -m harness.target") -> argparse.ArgumentParser:
    """The stand-alone parser of the target."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Embedded reference WebSocket target: JWT auth, limits, deliberate defects.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def args_to_options(args: argparse.Namespace) -> EmbeddedTarget:
    """The :class:`EmbeddedTarget` described by parsed arguments."""
    return EmbeddedTarget(
        rejection=args.rejection,
        capacity_rejection=args.capacity_rejection,
        max_connections=args.max_connections,
        max_rss_mb=args.max_rss_mb,
        max_cpu_percent=args.max_cpu_percent,
        handshake_timeout=args.handshake_timeout,
        ping_interval=args.ping_interval,
        ping_timeout=args.ping_timeout,
        defects=tuple(dict.fromkeys(args.defects)),
        drop_probability=args.drop_probability,
        cache_ttl=args.cache_ttl,
    )


def options_to_argv(
    opts: EmbeddedTarget,
    *,
    path: str = "/ws",
    query_param: str = "token",
    algorithm: str = "HS256",
    secret_env: str = DEFAULT_SECRET_ENV,
) -> list[str]:
    """Command line arguments that reproduce ``opts`` (host, port and ready file excluded)."""
    argv = [
        "--path",
        path,
        "--query-param",
        query_param,
        "--algorithm",
        algorithm,
        "--secret-env",
        secret_env,
        "--rejection",
        opts.rejection,
        "--capacity-rejection",
        opts.capacity_rejection,
        "--max-connections",
        str(opts.max_connections),
        "--max-rss-mb",
        repr(float(opts.max_rss_mb)),
        "--max-cpu-percent",
        repr(float(opts.max_cpu_percent)),
        "--handshake-timeout",
        repr(float(opts.handshake_timeout)),
        "--ping-interval",
        repr(float(opts.ping_interval)),
        "--ping-timeout",
        repr(float(opts.ping_timeout)),
        "--drop-probability",
        repr(float(opts.drop_probability)),
        "--cache-ttl",
        repr(float(opts.cache_ttl)),
    ]
    for defect in opts.defects:
        argv += ["--defect", defect]
    return argv


def read_secret(args: argparse.Namespace) -> str:
    """The secret from ``--secret-file`` or ``--secret-env``; ValueError names what is missing."""
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ValueError(
                f"cannot read secret file {args.secret_file}: {exc.strerror}"
            ) from None
        if not secret:
            raise ValueError(f"secret file {args.secret_file} is empty")
        return str(secret)
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        raise ValueError(f"no secret: environment variable {args.secret_env} is not set or empty")
    return secret


def write_ready_file(path: Path, server: TargetServer) -> None:
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
    config: TargetConfig, on_ready: Callable[[TargetServer], None] | None = None
) -> None:
    """Run a :class:`TargetServer` until SIGTERM or SIGINT, then shut it down gracefully.

    Args:
        config: the server's configuration.
        on_ready: called once the server listens (e.g. to print the URL, write a ready file).
    """
    server = TargetServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
        logging.getLogger("harness.target").info("signal received; closing connections with 1001")
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
        path=args.path,
        query_param=args.query_param,
        algorithm=args.algorithm,
    )

    def on_ready(server: TargetServer) -> None:
        defects = ", ".join(config.options.defects) or "none"
        print(f"listening on {server.url} (defects: {defects})", flush=True)
        if args.ready_file is not None:
            write_ready_file(args.ready_file, server)

    try:
        asyncio.run(serve_until_signal(config, on_ready))
    except OSError as exc:
        print(f"{prog}: error: cannot start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m harness.target``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_from_args(args, prog=parser.prog)
