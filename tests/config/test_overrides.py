"""Tests of harness.config.overrides: --duration, --users, --spawn-rate, --target-url, --defect."""

from __future__ import annotations

import pytest

from harness.config.overrides import apply_overrides
from harness.config.scenario import Load, Target
from harness.errors import HarnessError, ScenarioError
from tests.config.helpers import load


def test_overrides_apply_to_a_copy() -> None:
    s = load("name: x\ntarget: {embedded: {defects: [accept-empty-token]}}\n")
    o = apply_overrides(
        s, duration=5, users=3, spawn_rate=1.5, defects=["no-capacity-check", "accept-empty-token"]
    )
    assert (o.load.duration, o.load.users, o.load.spawn_rate) == (5.0, 3, 1.5)
    assert o.target.embedded is not None
    assert o.target.embedded.defects == ("accept-empty-token", "no-capacity-check")
    assert s.load == Load() and apply_overrides(s) == s


def test_target_url_override_keeps_close_codes() -> None:
    s = load("name: x\ntarget: {embedded: true, close_codes: {4001: capacity}}\n")
    o = apply_overrides(s, target_url="ws://127.0.0.1:9000/ws")
    assert o.target == Target(url="ws://127.0.0.1:9000/ws", close_codes={4001: "capacity"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0}, "--users: expected an integer in [1, 100000], got 0"),
        ({"users": True}, "--users: expected an integer in [1, 100000], got true"),
        ({"users": 10**30}, "--users: expected an integer in [1, 100000], got " + str(10**30)),
        ({"duration": -1.0}, "--duration: expected a number in (0, 604800], got -1.0"),
        ({"duration": float("nan")}, "--duration: expected a number in (0, 604800], got nan"),
        ({"duration": 1e300}, "--duration: expected a number in (0, 604800], got 1e+300"),
        ({"spawn_rate": 0}, "--spawn-rate: expected a number in (0, 10000], got 0"),
        (
            {"target_url": "http://x/ws"},
            "--target-url: expected a ws:// or wss:// URL with a host, got 'http://x/ws'",
        ),
        (
            {"defects": ["nope"]},
            "--defect: expected one of accept-empty-token, cache-past-expiry, "
            "no-capacity-check, drop-before-handshake, got 'nope'",
        ),
        (
            {"target_url": "ws://127.0.0.1:9000/ws", "defects": ["accept-empty-token"]},
            "--defect: only the embedded target has defects; "
            "this scenario targets ws://127.0.0.1:9000/ws",
        ),
    ],
)
def test_override_errors(kwargs: dict[str, object], message: str) -> None:
    s = load("name: x\n")
    with pytest.raises(HarnessError) as info:
        apply_overrides(s, **kwargs)  # type: ignore[arg-type]
    assert not isinstance(info.value, ScenarioError)
    assert str(info.value) == message
