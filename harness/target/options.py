"""The reference target's options on its command line (pure: argparse and the scenario's
:class:`~harness.config.scenario.EmbeddedTarget`), shared by ``python -m harness.target``,
``harness target`` and the process that starts the embedded target for a run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.config.checks import MAX_TARGET_PROCESSES
from harness.config.scenario import (
    DEFECTS,
    HS_ALGORITHMS,
    PLACEMENTS,
    PROTOCOLS,
    REJECTION_MODES,
    SOCKETIO_TRANSPORTS,
    Auth,
    EmbeddedTarget,
    FirstMessage,
    SocketIO,
)

DEFAULT_SECRET_ENV = "HARNESS_JWT_SECRET"

#: Protocol -> the endpoint's path when --path is not given.
DEFAULT_PATHS = {"websocket": "/ws", "socketio": SocketIO().path}

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


def _processes(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_TARGET_PROCESSES:
        raise argparse.ArgumentTypeError(
            f"expected an integer in [1, {MAX_TARGET_PROCESSES}], got {text!r}"
        )
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


def _transports(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [t for t in names if t not in SOCKETIO_TRANSPORTS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(SOCKETIO_TRANSPORTS)}, got {text!r}"
        )
    return names


def path_of(args: argparse.Namespace) -> str:
    """The endpoint's path: ``--path``, else the protocol's default (:data:`DEFAULT_PATHS`)."""
    return str(args.path) if args.path else DEFAULT_PATHS[args.protocol]


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
    net.add_argument(
        "--protocol",
        default="websocket",
        choices=PROTOCOLS,
        help="serve plain WebSocket, or Socket.IO v5 over Engine.IO v4 (default: %(default)s)",
    )
    net.add_argument(
        "--path",
        default=None,
        help="WebSocket (or Engine.IO) path (default: /ws; /socket.io/ with socketio)",
    )
    net.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help='once listening, atomically write {"pid","host","port","url"} as JSON here',
    )
    net.add_argument(
        "--certfile",
        type=Path,
        metavar="PATH",
        help="PEM certificate chain: serve wss:// (with --keyfile)",
    )
    net.add_argument(
        "--keyfile",
        type=Path,
        metavar="PATH",
        help="PEM private key of --certfile (never printed)",
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
    first = FirstMessage()
    auth.add_argument(
        "--placement",
        default="query",
        choices=PLACEMENTS,
        help="first_message: wait for the auth message after the open; any other: find the "
        "token in the handshake (query, header, cookie, subprotocol) (default: %(default)s)",
    )
    auth.add_argument("--header", default="Authorization", help="header holding the token")
    auth.add_argument(
        "--scheme",
        default="Bearer",
        help="scheme of the Authorization header; '' takes the bare value (default: %(default)s)",
    )
    auth.add_argument("--cookie", default="token", help="cookie holding the token")
    auth.add_argument(
        "--auth-template",
        default=first.template,
        help="the auth message, {token} where the token is (default: %(default)s)",
    )
    auth.add_argument("--ack-field", default=first.ack_field, help="JSON field of the auth ack")
    auth.add_argument("--ack-value", default=first.ack_value, help="its value")
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
        "--processes",
        type=_processes,
        default=d.processes,
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT); --max-connections is "
        "split over them (default: %(default)s)",
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
    sio = parser.add_argument_group("socketio (with --protocol socketio)")
    s = SocketIO()
    sio.add_argument("--namespace", default=s.namespace, help="namespace (default: %(default)s)")
    sio.add_argument(
        "--transports",
        type=_transports,
        default=d.socketio_transports,
        metavar="LIST",
        help="Engine.IO transports allowed, comma-separated (default: websocket,polling)",
    )
    sio.add_argument(
        "--auth-field",
        default=s.auth_field,
        help="CONNECT auth object field holding the token (default: %(default)s)",
    )
    sio.add_argument(
        "--event",
        default=s.event,
        help="event acknowledged with its argument (default: %(default)s)",
    )
    sio.add_argument(
        "--disconnect-after",
        type=_non_negative,
        default=0.0,
        metavar="S",
        help="disconnect every client S seconds after its CONNECT; 0: never (default: 0)",
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
        socketio_transports=tuple(args.transports),
        processes=args.processes,
    )


def options_to_argv(
    opts: EmbeddedTarget,
    *,
    path: str = "/ws",
    query_param: str = "token",
    algorithm: str = "HS256",
    secret_env: str = DEFAULT_SECRET_ENV,
    auth: Auth | None = None,
    protocol: str = "websocket",
    socketio: SocketIO | None = None,
    disconnect_after: float = 0.0,
) -> list[str]:
    """Command line arguments that reproduce ``opts`` (host, port and ready file excluded).

    ``auth`` gives where the token goes (the placement, when ``opts.placement`` is None,
    its header and scheme, cookie and first message); None keeps the defaults.
    ``protocol`` ``socketio`` serves Socket.IO with ``socketio``'s namespace, event and
    auth field (None: defaults) and ``opts.socketio_transports``.
    """
    a = auth or Auth()
    argv: list[str] = []
    if protocol != "websocket":
        sio = socketio or SocketIO()
        argv += [
            "--protocol",
            protocol,
            "--namespace",
            sio.namespace,
            "--event",
            sio.event,
            "--auth-field",
            sio.auth_field,
            "--transports",
            ",".join(opts.socketio_transports),
            "--disconnect-after",
            repr(float(disconnect_after)),
        ]
    argv += [
        "--placement",
        opts.placement or a.placement,
        "--header",
        a.header,
        "--scheme",
        a.scheme,
        "--cookie",
        a.cookie,
        "--auth-template",
        a.first_message.template,
        "--ack-field",
        a.first_message.ack_field,
        "--ack-value",
        a.first_message.ack_value,
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
        "--processes",
        str(opts.processes),
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
