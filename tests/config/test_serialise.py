"""Tests of harness.config.serialise: scenario.json never holds the secret and loads back."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.config.scenario import Gate
from harness.config.secret import resolve_secret
from harness.config.serialise import gates_from_dicts, scenario_to_dict
from harness.errors import ScenarioError
from tests.config.helpers import FULL, SECRET_VALUE, load


def test_scenario_to_dict_never_contains_the_secret() -> None:
    s = load(FULL)
    assert resolve_secret(s) == SECRET_VALUE
    d = scenario_to_dict(s)
    dumped = json.dumps(d)
    assert SECRET_VALUE not in dumped and SECRET_VALUE not in yaml.safe_dump(d)
    assert d["auth"]["secret"] == {"env": "HARNESS_TEST_SECRET"}
    assert scenario_to_dict(load("name: x\n"))["auth"]["secret"] is None


def test_scenario_to_dict_loads_back_into_an_equal_scenario() -> None:
    external = "name: y\ntarget: {url: 'wss://h/ws', allow_hosts: [h, '::1'], pid_file: p}\n"
    for text in (FULL, "name: x\n", external):
        s = load(text)
        d = scenario_to_dict(s)
        assert d.pop("source") == "x.yaml"
        json.dumps(d)  # serialisable
        assert load(yaml.safe_dump(d, sort_keys=False)) == s


def test_gates_from_dicts_rebuilds_gates_through_json() -> None:
    s = load(FULL)
    items = json.loads(json.dumps(scenario_to_dict(s)))["gates"]
    assert gates_from_dicts(items) == s.gates
    assert gates_from_dicts([{"metric": "ok", "op": ">", "threshold": 1, "token_kind": None}]) == (
        Gate(name="ok > 1", metric="ok", op=">", threshold=1.0),
    )
    assert gates_from_dicts([]) == ()


def test_gates_from_dicts_errors() -> None:
    with pytest.raises(ScenarioError) as info:
        gates_from_dicts([{"metric": "bogus", "op": ">", "threshold": 1}], "run/scenario.json")
    assert str(info.value) == (
        "run/scenario.json: gates[0].metric: expected one of success_rate, abrupt_rate, "
        "graceful_share, attempts, ok, valid_refused, invalid_accepted, abrupt, "
        "wrong_rejection, generator_fault, handshake_p50_ms, handshake_p95_ms, "
        "handshake_p99_ms, recovery_s, findings, got 'bogus'"
    )
    with pytest.raises(ScenarioError) as info:
        gates_from_dicts([{"metric": "ok", "op": ">"}])
    assert str(info.value) == "scenario.json: gates[0].threshold: required key missing"
    with pytest.raises(ScenarioError) as info:
        gates_from_dicts(["nope"])  # type: ignore[list-item]
    assert str(info.value) == "scenario.json: gates: expected a list of mappings"
