"""Command-line overrides of a loaded scenario: ``--duration``, ``--users``, ``--spawn-rate``,
``--target-url``, ``--defect`` and ``--allow-host``, checked like the YAML keys they replace.

Any other key is overridden with ``--set KEY.PATH=VALUE`` (:mod:`harness.config.sets`),
which edits the YAML before it is checked; the secret's source with ``--secret-env`` and
``--secret-file`` (:func:`harness.config.secret.with_secret`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from harness.config import scenario as sc
from harness.config.checks import (
    DEFECT,
    DURATION,
    HOST,
    SOCKETIO_URL,
    SPAWN_RATE,
    URL,
    USERS,
    Check,
    Invalid,
    normal_host,
)
from harness.config.guards import host_refusal
from harness.errors import HarnessError


def checked_flag(flag: str, check: Check, value: object) -> Any:
    """``value`` of a command-line flag, checked; the message names the flag.

    Raises:
        HarnessError: ``--users: expected an integer >= 1, got 0``.
    """
    try:
        return check(value)
    except Invalid as e:
        raise HarnessError(f"{flag}: {e}") from None


def apply_overrides(
    s: sc.Scenario,
    *,
    duration: float | None = None,
    users: int | None = None,
    spawn_rate: float | None = None,
    target_url: str | None = None,
    defects: Sequence[str] = (),
) -> sc.Scenario:
    """A copy of ``s`` with command-line overrides, checked like the YAML keys.

    Args:
        s: the loaded scenario.
        duration: ``--duration``, seconds, in (0, 604800].
        users: ``--users``, concurrent users, an integer in [1, 100000].
        spawn_rate: ``--spawn-rate``, users started per second, in (0, 10000].
        target_url: ``--target-url``, a ws:// or wss:// URL that replaces the target
            (the scenario's close-code table and ``allow_hosts`` are kept); its host must
            be loopback or in ``allow_hosts`` (give ``--allow-host`` to the loader, or
            apply :func:`with_allowed_hosts` first).
        defects: ``--defect`` names, added to the embedded target's defects.

    Raises:
        HarnessError: a value is invalid, the URL's host is not allowed, or ``duration``,
            ``users`` or ``spawn_rate`` is given for a load with ``load.stages``; the
            message names the flag.
    """
    load, target = s.load, s.target
    if load.stages:
        flags = {"--duration": duration, "--users": users, "--spawn-rate": spawn_rate}
        for flag, value in flags.items():
            if value is not None:
                raise HarnessError(
                    f"{flag}: {s.source} shapes its load with load.stages (users and duration"
                    " come from them); change the stages with --set 'load.stages=[...]'"
                )
    if duration is not None:
        load = replace(load, duration=checked_flag("--duration", DURATION, duration))
    if users is not None:
        load = replace(load, users=checked_flag("--users", USERS, users))
    if spawn_rate is not None:
        load = replace(load, spawn_rate=checked_flag("--spawn-rate", SPAWN_RATE, spawn_rate))
    if target_url is not None:
        socketio = target.protocol == "socketio"
        url = checked_flag("--target-url", SOCKETIO_URL if socketio else URL, target_url)
        if why := host_refusal(url, target.allow_hosts):
            raise HarnessError(f"--target-url: {why}")
        target = sc.Target(
            url=url,
            close_codes=target.close_codes,
            http_statuses=target.http_statuses,
            allow_hosts=target.allow_hosts,
            protocol=target.protocol,
            socketio=target.socketio,
        )
    if defects:
        if target.embedded is None:
            msg = f"only the embedded target has defects; this scenario targets {target.url}"
            raise HarnessError(f"--defect: {msg}")
        added = [checked_flag("--defect", DEFECT, d) for d in defects]
        merged = tuple(dict.fromkeys([*target.embedded.defects, *added]))
        target = replace(target, embedded=replace(target.embedded, defects=merged))
    return replace(s, load=load, target=target)


def with_allowed_hosts(s: sc.Scenario, hosts: Iterable[str]) -> sc.Scenario:
    """A copy of ``s`` whose ``target.allow_hosts`` also holds ``hosts`` (``--allow-host``).

    Allowing a host checks nothing else: a scenario that loaded is valid with more hosts.
    To allow the host of a URL in the file or in a ``--set``, give the hosts to
    :func:`harness.config.loader.load_scenario` (``allow_hosts=``), which applies this
    before it checks the URL; for ``--target-url``, apply this before
    :func:`apply_overrides`.

    Args:
        s: a scenario.
        hosts: host names or IP addresses (``--allow-host HOST``, repeatable); stored as
            compared (lowercase, no brackets, IP addresses in short form), duplicates once.

    Returns:
        ``s`` itself when ``hosts`` adds nothing.

    Raises:
        HarnessError: a host is not a host name or an IP address
            (``--allow-host: expected a host name or an IP address, got 'a b'``).
    """
    added = [normal_host(checked_flag("--allow-host", HOST, h)) for h in hosts]
    merged = tuple(dict.fromkeys([*s.target.allow_hosts, *added]))
    if merged == s.target.allow_hosts:
        return s
    return replace(s, target=replace(s.target, allow_hosts=merged))
