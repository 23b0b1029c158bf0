"""load.reconnect: policy and preset names, a preset with overrides, errors naming the key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.config.scenario import RECONNECT_PRESETS, Reconnect
from harness.config.serialise import scenario_to_dict
from tests.config.helpers import error, load


def test_default_is_no_reconnect() -> None:
    assert load("name: x\n").load.reconnect == Reconnect()
    assert not Reconnect().enabled


def test_a_name_is_a_policy_with_its_defaults_or_a_preset() -> None:
    assert load("name: x\nload: {reconnect: fixed}\n").load.reconnect == Reconnect(policy="fixed")
    got = load("name: x\nload: {reconnect: front-end}\n").load.reconnect
    assert got == RECONNECT_PRESETS["front-end"]
    assert (got.delay, got.factor, got.cap, got.max_attempts, got.jitter) == (
        1.0,
        2.0,
        30.0,
        5,
        "none",
    )
    assert not got.after_server_close and not got.after_auth_failure


def test_a_preset_with_overrides() -> None:
    got = load("name: x\nload: {reconnect: {preset: front-end, jitter: full}}\n").load.reconnect
    assert got == replace(RECONNECT_PRESETS["front-end"], jitter="full")
    sio = load("name: x\nload: {reconnect: {preset: socketio-client}}\n").load.reconnect
    assert (sio.cap, sio.jitter, sio.randomization, sio.max_attempts) == (5.0, "randomized", 0.5, 0)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("sometimes", "load.reconnect: expected one of none, fixed, exponential"),
        ("{delay: 1}", "load.reconnect.policy: required key missing"),
        (
            "{policy: exponential, factor: 0.5}",
            "load.reconnect.factor: expected a number in [1, 100]",
        ),
        ("{policy: fixed, max_attempts: -1}", "load.reconnect.max_attempts"),
        ("{policy: fixed, jitter: lots}", "load.reconnect.jitter: expected one of none, full"),
        ("{preset: chrome}", "load.reconnect.preset: expected one of socketio-client, front-end"),
        ("{policy: fixed, delay: 1.0e+9}", "load.reconnect.delay: expected a number in [0, 3600]"),
    ],
)
def test_mistakes_name_the_key(value: str, needle: str) -> None:
    assert needle in error(f"name: x\nload: {{reconnect: {value}}}\n")


def test_the_resolved_scenario_loads_back_equal() -> None:
    import yaml

    s = load("name: x\nload: {reconnect: {preset: front-end, max_attempts: 3}}\n")
    doc = scenario_to_dict(s)
    doc.pop("source")
    again = load(yaml.safe_dump(doc))
    assert again.load.reconnect == s.load.reconnect
    plain = load(yaml.safe_dump({**doc, "load": {**doc["load"], "reconnect": {"policy": "none"}}}))
    assert plain.load.reconnect == Reconnect()
