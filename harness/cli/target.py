"""``harness target``: serve the embedded reference target alone, until Ctrl-C."""

from __future__ import annotations

import argparse
from typing import Any

from harness.target.options import EPILOG, add_arguments


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "target",
        help="serve the embedded reference target alone",
        description="Serve the reference WebSocket target (JWT checks, capacity limits, "
        "/health, /metrics) until Ctrl-C.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.target.cli import run_from_args

    return run_from_args(args, prog="harness target")
