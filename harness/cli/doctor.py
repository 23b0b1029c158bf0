"""``harness doctor URL``: a quick diagnosis of any WebSocket target (about 25 s)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.config.files import Unreadable, read_limited
from harness.config.scenario import HS_ALGORITHMS, PLACEMENTS, Auth, Secret
from harness.config.sections import MAX_CA_FILE_BYTES
from harness.errors import HarnessError

HEARTBEAT_HOLD_S = 12.0  # default seconds the heartbeat probe holds its connection

EPILOG = """\
examples:
  HARNESS_JWT_SECRET=... harness doctor ws://127.0.0.1:8765/ws
  harness doctor wss://chat.local/ws --secret-file secret.txt --placement header
  harness doctor ws://127.0.0.1:8765/ws --secret-env MY_KEY --ramp 100

exit codes: 0 no high or critical finding, 1 at least one, 2 the doctor could not run
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The doctor's options."""
    p.add_argument("url", help="the target's ws:// or wss:// URL")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--secret-env",
        default="HARNESS_JWT_SECRET",
        metavar="NAME",
        help="environment variable holding the signing secret (default %(default)s)",
    )
    g.add_argument("--secret-file", metavar="PATH", help="file holding the signing secret")
    p.add_argument("--algorithm", choices=HS_ALGORITHMS, default="HS256")
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        default="query",
        help="token in the query string or the Authorization header",
    )
    p.add_argument("--query-param", default="token", help="query parameter name")
    p.add_argument(
        "--claims",
        default='{"sub": "doctor"}',
        metavar="JSON",
        help="claims template as JSON (default %(default)s)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="token-kind probes at once (default %(default)s; keep it under the service's "
        "per-client connection limit)",
    )
    p.add_argument(
        "--ramp",
        type=int,
        default=50,
        metavar="N",
        help="concurrent connections at the top of the ramp (default %(default)s)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="connect and handshake timeout (default %(default)s)",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=HEARTBEAT_HOLD_S,
        metavar="SECONDS",
        help="how long to hold a connection waiting for server pings "
        "(default %(default)s; the run's no-heartbeat finding judges holds >= 30)",
    )
    tls = p.add_mutually_exclusive_group()
    tls.add_argument(
        "--ca-file", metavar="PATH", help="PEM file of the CAs to trust for wss:// (a regular file)"
    )
    tls.add_argument(
        "--insecure", action="store_true", help="wss://: do not verify the server's certificate"
    )
    p.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "doctor",
        help="diagnose a target quickly: token kinds, heartbeat, a connection ramp, findings",
        description="A quick (~25 s) diagnosis of a WebSocket target: every token kind a few "
        "times, a heartbeat check, a short ramp of connections, then the findings.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the doctor; exit 1 when a finding is high or critical."""
    from harness.cli.exits import ExitCode
    from harness.load.doctor import run_doctor

    result = run_doctor(options_from_args(args))
    serious = [f for f in result.findings if f.severity in ("high", "critical")]
    return int(ExitCode.FAILED if serious else ExitCode.PASS)


def options_from_args(args: argparse.Namespace) -> Any:
    """Check the arguments; bad input is a HarnessError naming the flag."""
    parts = urlsplit(args.url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise HarnessError(f"URL: expected a ws:// or wss:// URL with a host, got {args.url!r}")
    if args.secret_file:
        try:
            secret = Path(args.secret_file).read_text().strip()
        except OSError as exc:
            msg = f"--secret-file: cannot read {args.secret_file}: {exc.strerror}"
            raise HarnessError(msg) from None
        source = Secret(file=args.secret_file)
    else:
        secret = os.environ.get(args.secret_env, "")
        source = Secret(env=args.secret_env)
    if not secret:
        raise HarnessError(f"no signing secret: set {source.describe()} (or --secret-file PATH)")
    try:
        claims = json.loads(args.claims)
    except ValueError as exc:
        raise HarnessError(f"--claims: not JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise HarnessError("--claims: expected a JSON object")
    if not 1 <= args.ramp <= 5000:
        raise HarnessError(f"--ramp: expected an integer in [1, 5000], got {args.ramp}")
    auth = Auth(
        secret=source,
        algorithm=args.algorithm,
        claims=claims,
        placement=args.placement,
        query_param=args.query_param,
    )
    if not 0 < args.heartbeat <= 120 or not 0 < args.timeout <= 60:
        raise HarnessError("--heartbeat: expected (0, 120] s; --timeout: expected (0, 60] s")
    from harness.load.doctor import DoctorOptions

    if not 1 <= args.concurrency <= 64:
        raise HarnessError(f"--concurrency: expected an integer in [1, 64], got {args.concurrency}")
    ca_file = None
    if args.ca_file is not None:
        ca_file = os.path.abspath(os.path.expanduser(args.ca_file))
        try:
            read_limited(ca_file, MAX_CA_FILE_BYTES)
        except Unreadable as e:
            raise HarnessError(f"--ca-file: cannot read {ca_file}: {e.reason}") from None
    return DoctorOptions(
        args.url,
        secret,
        auth,
        args.ramp,
        args.timeout,
        args.out,
        heartbeat_s=args.heartbeat,
        concurrency=args.concurrency,
        ca_file=ca_file,
        verify_tls=not args.insecure,
    )
