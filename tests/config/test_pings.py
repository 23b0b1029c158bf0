"""The heartbeat keys: the client's pings (``load.session.ping_interval``, ``ping_timeout``)
and the service's expected ping interval (``target.heartbeat_interval``)."""

from __future__ import annotations

import yaml

from harness.config.scenario import Session, Target
from harness.config.serialise import scenario_to_dict
from tests.config.helpers import error, load


def test_defaults_no_pings_and_an_unknown_heartbeat() -> None:
    s = load("name: x\n")
    assert (s.load.session.ping_interval, s.load.session.ping_timeout) == (0.0, 5.0)
    assert s.target.heartbeat_interval is None
    assert Session().ping_interval == 0.0 and Target().heartbeat_interval is None


def test_the_keys_are_read() -> None:
    s = load(
        "name: x\ntarget: {url: 'ws://127.0.0.1:9/ws', heartbeat_interval: 20}\n"
        "auth: {secret: {env: HARNESS_TEST_SECRET}}\n"
        "load: {session: {ping_interval: 2.5, ping_timeout: 1}}\n"
    )
    assert (s.load.session.ping_interval, s.load.session.ping_timeout) == (2.5, 1.0)
    assert s.target.heartbeat_interval == 20
    embedded = load("name: x\ntarget: {embedded: {}, heartbeat_interval: null}\n")
    assert embedded.target.heartbeat_interval is None
    assert (
        load(
            "name: x\ntarget: {embedded: {}, heartbeat_interval: 3600}\n"
        ).target.heartbeat_interval
        == 3600
    )


def test_out_of_bounds_values_name_the_key() -> None:
    cases = {
        "load: {session: {ping_interval: 3601}}": (
            "load.session.ping_interval: expected a number in [0, 3600], got 3601"
        ),
        "load: {session: {ping_interval: -1}}": (
            "load.session.ping_interval: expected a number in [0, 3600], got -1"
        ),
        "load: {session: {ping_timeout: 0}}": (
            "load.session.ping_timeout: expected a number in (0, 3600], got 0"
        ),
        "target: {embedded: {}, heartbeat_interval: 0}": (
            "target.heartbeat_interval: expected a number in (0, 3600], or null, got 0"
        ),
        "target: {embedded: {}, heartbeat_interval: 3601}": (
            "target.heartbeat_interval: expected a number in (0, 3600], or null, got 3601"
        ),
        "target: {embedded: {}, heartbeat_interval: true}": (
            "target.heartbeat_interval: expected a number in (0, 3600], or null, got true"
        ),
        "target: {embedded: {}, heartbeat_interval: '20'}": (
            "target.heartbeat_interval: expected a number in (0, 3600], or null, got '20'"
        ),
    }
    for line, message in cases.items():
        assert error(f"name: x\n{line}\n") == f"x.yaml:2: {message}", line


def test_the_keys_go_to_scenario_json_and_load_back() -> None:
    s = load(
        "name: x\ntarget: {embedded: {}, heartbeat_interval: 20}\n"
        "load: {session: {ping_interval: 2.5, ping_timeout: 1}}\n"
    )
    doc = scenario_to_dict(s)
    assert doc["target"]["heartbeat_interval"] == 20
    assert doc["load"]["session"]["ping_interval"] == 2.5
    doc.pop("source")
    again = load(yaml.safe_dump(doc, sort_keys=False))
    assert again.target.heartbeat_interval == 20 and again.load.session == s.load.session
    assert scenario_to_dict(load("name: x\n"))["target"]["heartbeat_interval"] is None
