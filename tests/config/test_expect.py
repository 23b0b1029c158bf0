"""Tests of ``target.expect``: the limits a service declares, read, checked and written back."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.config.scenario import ExpectedLimits
from harness.config.serialise import scenario_to_dict
from tests.config.helpers import error, load


def test_expect_defaults_to_nothing_declared_with_503_and_1013() -> None:
    s = load("name: x\n")
    assert s.target.expect == ExpectedLimits(max_connections=None, refusals=(503, 1013))


def test_expect_reads_a_limit_and_its_refusals_and_round_trips() -> None:
    text = (
        "name: x\ntarget:\n  url: 'ws://127.0.0.1:9/ws'\n"
        "  expect: {max_connections: 200, refusals: [503, 1013, 4429]}\n"
    )
    s = load(text)
    assert s.target.expect == ExpectedLimits(200, (503, 1013, 4429))
    d = scenario_to_dict(s)
    assert d["target"]["expect"] == {"max_connections": 200, "refusals": [503, 1013, 4429]}
    d.pop("source")
    assert load(yaml.safe_dump(json.loads(json.dumps(d)), sort_keys=False)) == s


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("{max_connections: 0}", "target.expect.max_connections: expected an integer in [1, "),
        ("{max_connections: true}", "target.expect.max_connections: expected an integer"),
        ("{refusals: []}", "target.expect.refusals: expected 1 to 16 codes, got 0"),
        ("{refusals: [101]}", "target.expect.refusals[0]: expected an HTTP status in [400, 599]"),
        ("{refusals: [1005]}", "target.expect.refusals[0]: expected an HTTP status"),
        ("{refusals: [503, 503]}", "target.expect.refusals[1]: 503 is listed twice"),
        ("{max: 3}", "target.expect.max: unknown key"),
    ],
)
def test_expect_errors_name_the_key(expect: str, message: str) -> None:
    assert message in error(f"name: x\ntarget:\n  embedded: {{}}\n  expect: {expect}\n")


def test_socketio_protocol_is_written_to_the_resolved_scenario() -> None:
    """scenario.json of a Socket.IO run says so (it used to lose target.protocol)."""
    text = "name: x\ntarget:\n  embedded: {}\n  protocol: socketio\n  socketio: {event: ping}\n"
    s = load(text)
    d = scenario_to_dict(s)
    assert d["target"]["protocol"] == "socketio" and d["target"]["socketio"]["event"] == "ping"
    d.pop("source")
    assert load(yaml.safe_dump(d, sort_keys=False)) == s
