"""Guards checked when a scenario loads: where the load may go, and which process chaos may touch.

- **Hosts.** The harness loads this machine unless told otherwise: a target URL whose host
  is not loopback (``127.0.0.0/8``, ``::1``, ``localhost``) must be listed in
  ``target.allow_hosts`` (or given with ``--allow-host HOST``). Host names are compared as
  written, never looked up (no DNS): ``127.1`` or a name that resolves to 127.0.0.1 is not
  loopback here, and must be allowed like any other.
- **Processes.** A named ``target.pid`` must be a process the harness may act on
  (:func:`harness.processes.refusal`: never PID 1, the harness's own processes, its
  ancestors or its session, or another user's; it must exist). A ``target.pid_file`` is
  read when the run starts, and checked then.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from urllib.parse import urlsplit

from harness.config import scenario as sc
from harness.config.checks import normal_host
from harness.config.nodes import NodeReader
from harness.processes import refusal

#: Host names that are loopback by name (no lookup is made).
LOOPBACK_NAMES: frozenset[str] = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    """``host`` is ``localhost``, an address in 127.0.0.0/8, or ``::1`` (also IPv4-mapped,
    ``::ffff:127.0.0.1``); brackets, case and a trailing dot do not matter."""
    h = normal_host(host)
    if h in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def host_refusal(url: str, allowed: Collection[str]) -> str | None:
    """Why the harness must not load ``url``; None when its host is loopback or allowed.

    Args:
        url: a ``ws://`` or ``wss://`` URL (already checked).
        allowed: hosts as :func:`~harness.config.checks.normal_host` gives them.

    Returns:
        e.g. ``host 'example.com' is not loopback; add it to target.allow_hosts (or
        --allow-host example.com) to load a service outside this machine``.
    """
    host = urlsplit(url).hostname or ""
    if is_loopback(host) or normal_host(host) in allowed:
        return None
    return (
        f"host {host!r} is not loopback; add it to target.allow_hosts "
        f"(or --allow-host {host}) to load a service outside this machine"
    )


def check_guards(reader: NodeReader, scenario: sc.Scenario) -> None:
    """Record an error for a target URL that is not allowed and for a refused ``target.pid``."""
    target = scenario.target
    if target.url is not None and (why := host_refusal(target.url, target.allow_hosts)):
        reader.record(reader.error("target.url", why))
    if target.pid is not None and (why := refusal(target.pid)):
        reader.record(reader.error("target.pid", why))
