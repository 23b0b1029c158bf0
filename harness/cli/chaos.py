"""``harness chaos list|check``: the fault catalogue, and what this machine supports."""

from __future__ import annotations

import argparse
from typing import Any

EPILOG = """\
examples:
  harness chaos list                           every fault, its parameters, units and bounds
  harness chaos check                          which faults this machine can apply, and why not
  harness chaos list --markdown > docs/chaos.md
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "chaos",
        help="list chaos faults, or check which this machine supports",
        description="Chaos faults a scenario can schedule under `chaos:`.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        choices=("list", "check"),
        help="list: faults and parameters; check: which faults this machine can apply, and why not",
    )
    p.add_argument("--markdown", action="store_true", help="list as Markdown")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.chaos.catalogue import catalogue_markdown, catalogue_text

    if args.markdown:
        print(catalogue_markdown(), end="")
    else:
        print(catalogue_text(check=args.action == "check"))
    return 0
