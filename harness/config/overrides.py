"""Command-line overrides of a loaded scenario: ``--duration``, ``--users``, ``--spawn-rate``,
``--target-url`` and ``--defect``, checked like the YAML keys they replace.

Any other key is overridden with ``--set KEY.PATH=VALUE`` (:mod:`harness.config.sets`),
which edits the YAML before it is checked; the secret's source with ``--secret-env`` and
``--secret-file`` (:func:`harness.config.secret.with_secret`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from harness.config import scenario as sc
from harness.config.checks import AT_LEAST_ONE, DEFECT, POSITIVE, URL, Check, Invalid
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
        duration: ``--duration``, seconds (> 0).
        users: ``--users``, concurrent users (integer >= 1).
        spawn_rate: ``--spawn-rate``, users started per second (> 0).
        target_url: ``--target-url``, a ws:// or wss:// URL that replaces the target
            (the scenario's close-code table is kept).
        defects: ``--defect`` names, added to the embedded target's defects.

    Raises:
        HarnessError: a value is invalid; the message names the flag.
    """
    load, target = s.load, s.target
    if duration is not None:
        load = replace(load, duration=checked_flag("--duration", POSITIVE, duration))
    if users is not None:
        load = replace(load, users=checked_flag("--users", AT_LEAST_ONE, users))
    if spawn_rate is not None:
        load = replace(load, spawn_rate=checked_flag("--spawn-rate", POSITIVE, spawn_rate))
    if target_url is not None:
        url = checked_flag("--target-url", URL, target_url)
        target = sc.Target(url=url, close_codes=target.close_codes)
    if defects:
        if target.embedded is None:
            msg = f"only the embedded target has defects; this scenario targets {target.url}"
            raise HarnessError(f"--defect: {msg}")
        added = [checked_flag("--defect", DEFECT, d) for d in defects]
        merged = tuple(dict.fromkeys([*target.embedded.defects, *added]))
        target = replace(target, embedded=replace(target.embedded, defects=merged))
    return replace(s, load=load, target=target)
