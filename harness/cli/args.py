"""Argument types and options shared by several commands (argparse only: no heavy imports)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SET_HELP = (
    "set any scenario key, e.g. --set load.users=50 --set 'load.mix={valid: 1}'"
    " (repeatable; the value is YAML, checked as strictly as the file)"
)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_set_option(parser: Any) -> None:
    """``--set KEY.PATH=VALUE`` (repeatable), on argparse or Locust's parser."""
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY.PATH=VALUE", dest="set", help=SET_HELP
    )


def add_secret_options(parser: Any) -> None:
    """``--secret-env NAME`` / ``--secret-file PATH``: where the signing secret comes from,
    overriding the scenario's ``auth.secret``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--secret-env",
        metavar="NAME",
        help="environment variable holding the JWT signing secret (overrides auth.secret)",
    )
    group.add_argument(
        "--secret-file",
        metavar="PATH",
        help="file holding the JWT signing secret (overrides auth.secret)",
    )


def child_run_flags(
    args: argparse.Namespace, *, secret_env: str | None = None, secret_file: str | None = None
) -> list[str]:
    """The flags of a series command (``suite``, ``capacity``) that every child ``harness
    run`` gets: ``--allow-host``, the secret (the command line's, else ``secret_env`` or
    ``secret_file``, a series file's default) and ``-q``."""
    out = [a for h in args.allow_host for a in ("--allow-host", h)]
    env = args.secret_env or (None if args.secret_file else secret_env)
    file = args.secret_file or (None if args.secret_env else secret_file)
    if env:
        out += ["--secret-env", env]
    elif file:
        out += ["--secret-file", str(file)]
    if args.quiet:
        out.append("-q")
    return out


def add_allow_host_option(parser: Any) -> None:
    """``--allow-host HOST`` (repeatable): a host outside loopback the run may load."""
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        dest="allow_host",
        help="let the run load HOST although it is not loopback (repeatable; as "
        "target.allow_hosts)",
    )


def add_metrics_options(parser: Any) -> None:
    """``--metrics-port PORT`` and ``--metrics-host HOST``: the live metrics of a run."""
    parser.add_argument(
        "--metrics-port",
        type=port_number,
        metavar="PORT",
        help="serve the run's live counters in Prometheus text at http://HOST:PORT/metrics"
        " (0: a free port, printed)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="interface of --metrics-port (default 127.0.0.1: this machine only)",
    )


def metrics_address(args: argparse.Namespace) -> tuple[str, int] | None:
    """(host, port) of the live metrics, or None when not asked for."""
    port = getattr(args, "metrics_port", None)
    return None if port is None else (str(args.metrics_host), int(port))


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {value}")
    return value


def add_out_option(parser: Any, default: Path = Path("reports")) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=default,
        metavar="DIR",
        help=f"where run directories go (default: {default}/)",
    )


def add_scenario_overrides(parser: Any, defects: Sequence[str]) -> None:
    """The flags that change the scenario a run loads (``--duration``, ``--users``,
    ``--spawn-rate``, ``--target-url``, ``--defect``, ``--set``, ``--allow-host``): the same
    on ``harness run``, ``harness master`` and ``harness worker``, whose scenarios must match."""
    parser.add_argument(
        "--duration", type=positive_float, metavar="SECONDS", help="override load.duration"
    )
    parser.add_argument("--users", type=positive_int, help="override load.users")
    parser.add_argument(
        "--spawn-rate", type=positive_float, metavar="PER_SECOND", help="override load.spawn_rate"
    )
    parser.add_argument(
        "--target-url",
        metavar="URL",
        help="test this ws:// or wss:// URL instead of the scenario's target",
    )
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=defects,
        metavar="NAME",
        help="start the embedded target with this defect (repeatable): " + ", ".join(defects),
    )
    add_set_option(parser)
    add_allow_host_option(parser)


def scenario_override_flags(args: argparse.Namespace) -> list[str]:
    """The flags of :func:`add_scenario_overrides` given in ``args``, as a command line (for a
    worker process that must load the same scenario)."""
    out: list[str] = []
    for flag, value in (
        ("--duration", args.duration),
        ("--users", args.users),
        ("--spawn-rate", args.spawn_rate),
        ("--target-url", args.target_url),
    ):
        if value is not None:
            out += [flag, str(value)]
    for flag, values in (
        ("--defect", args.defect),
        ("--set", args.set),
        ("--allow-host", args.allow_host),
    ):
        for value in values or ():
            out += [flag, str(value)]
    return out
