"""Tests of harness.config.sets: ``--set KEY.PATH=VALUE`` edits, checked as strictly as the file.

The four message shapes the command line shows are asserted as exact strings.
"""

from __future__ import annotations

from types import MappingProxyType

import pytest

from harness.config.loader import load_scenario, validate_scenario
from harness.config.scenario import Session, Target
from harness.errors import ScenarioError, ScenarioErrors
from tests.config.helpers import SECRET_VALUE, write

TWO_GATES = """\
name: x
load:
  users: 2
gates:
  - {metric: ok, op: ">", threshold: 1}
  - {metric: success_rate, op: ">=", threshold: 0.9}
"""


def set_errors(*sets: str, text: str = TWO_GATES) -> list[str]:
    return [str(e) for e in validate_scenario(write(text), sets)]


# --- The shapes the command line shows ----------------------------------------------------


def test_no_equals_sign() -> None:
    assert set_errors("load.users") == ["--set load.users: expected KEY.PATH=VALUE"]


def test_a_bad_value_names_the_set_then_the_key() -> None:
    assert set_errors("load.users=ten") == [
        "--set load.users=ten: load.users: expected an integer in [1, 100000], got 'ten'"
    ]


def test_an_unknown_key_lists_the_allowed_ones() -> None:
    assert set_errors("load.userz=5") == [
        "--set load.userz=5: load.userz: unknown key; "
        "allowed: duration, limits, mix, reconnect, session, source_addresses, spawn_rate, "
        "stages, timeouts, users"
    ]


def test_an_index_past_the_end_of_a_list() -> None:
    assert set_errors("gates[3].threshold=1") == [
        "--set gates[3].threshold=1: gates[3]: no such item (the file has 2 gates)"
    ]
    assert set_errors("chaos[0].at=1") == [
        "--set chaos[0].at=1: chaos[0]: no such item (the file has no chaos windows)"
    ]


@pytest.mark.parametrize("text", ["=5", "load..users=5", ".users=5", "load.users[x]=5", "[0]=1"])
def test_malformed_key_paths(text: str) -> None:
    assert set_errors(text) == [f"--set {text}: expected KEY.PATH=VALUE"]


def test_load_scenario_raises_the_one_error() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(TWO_GATES), ["load.users=0"])
    assert str(info.value) == (
        "--set load.users=0: load.users: expected an integer in [1, 100000], got 0"
    )


# --- What a set does ----------------------------------------------------------------------


def test_values_are_yaml_and_replace_what_the_file_says() -> None:
    s = load_scenario(
        write(TWO_GATES),
        ["load.users=5", "load.mix={valid: 1, empty: 1}", "gates[0].threshold=0.5"],
    )
    assert s.load.users == 5
    assert s.load.mix == MappingProxyType({"valid": 1.0, "empty": 1.0})
    assert s.gates[0].threshold == 0.5 and s.gates[0].name == "ok > 0.5"
    assert s.gates[1].threshold == 0.9


def test_missing_sections_are_created() -> None:
    s = load_scenario(write("name: x\n"), ["load.session.hold=0", "target.url=ws://127.0.0.1:9/ws"])
    assert s.load.session == Session(hold=0.0)
    assert s.target == Target(url="ws://127.0.0.1:9/ws")


def test_an_empty_section_becomes_a_mapping() -> None:
    s = load_scenario(write("name: x\nload:\n"), ["load.duration=2.5"])
    assert s.load.duration == 2.5


def test_later_sets_win_and_an_empty_value_is_null() -> None:
    s = load_scenario(write(TWO_GATES), ["load.users=5", "load.users=7"])
    assert s.load.users == 7
    assert set_errors("description=") == [
        "--set description=: description: expected a string, got null"
    ]


def test_integer_keys_match_the_file_s_keys() -> None:
    text = "name: x\ntarget:\n  embedded: {}\n  close_codes: {4401: auth}\n"
    s = load_scenario(write(text), ["target.close_codes.4401=capacity"])
    assert s.target.close_codes == {4401: "capacity"}  # replaced, not a duplicate key


def test_a_value_is_checked_like_the_file() -> None:
    assert set_errors("load.mix={valid: 0}") == [
        "--set load.mix={valid: 0}: load.mix: expected at least one weight > 0"
    ]
    assert set_errors("gates[1].threshold=99") == [
        "--set gates[1].threshold=99: gates[1].threshold: expected a number in [0, 1] "
        "(success_rate is a share, not a percent), got 99"
    ]
    assert set_errors("load=!!python/object:os.system {users: 1}") == [
        "--set load=!!python/object:os.system {users: 1}: load: "
        "invalid YAML: unsupported tag 'tag:yaml.org,2002:python/object:os.system'"
    ]


def test_a_value_that_is_not_yaml() -> None:
    assert set_errors("load.mix={valid: 1") == [
        "--set load.mix={valid: 1: load.mix: invalid YAML: while parsing a flow mapping, "
        "expected ',' or '}', but got '<stream end>'"
    ]


def test_a_path_through_a_value_that_is_not_a_mapping_or_list() -> None:
    assert set_errors("load.users.max=3") == [
        "--set load.users.max=3: load.users: expected a mapping to set 'max' in, got 2"
    ]
    assert set_errors("load[0]=3") == [
        "--set load[0]=3: load: expected a list to index with [0], got a mapping"
    ]


def test_cross_section_checks_see_the_sets() -> None:
    assert set_errors("gates[0].token_kind=expired") == [
        "--set gates[0].token_kind=expired: gates[0].token_kind: "
        "'expired' is not in load.mix, so this gate would have no attempts"
    ]


def test_adding_url_to_an_embedded_target_says_how_to_replace_it() -> None:
    assert set_errors("target.url=ws://h/ws", text="name: x\ntarget: {embedded: {}}\n") == [
        "--set target.url=ws://h/ws: target: expected exactly one of embedded, url, got both; "
        "to replace the target, --set 'target={url: URL}' or --target-url URL"
    ]
    s = load_scenario(
        write("name: x\ntarget: {embedded: {}}\n"), ["target={url: 'ws://h/ws'}"], allow_hosts=["h"]
    )
    assert s.target == Target(url="ws://h/ws", allow_hosts=("h",))


def test_a_literal_secret_in_a_set_is_never_echoed() -> None:
    assert set_errors(f"auth.secret={SECRET_VALUE}") == [
        "--set auth.secret=<redacted>: auth.secret: "
        "expected {env: NAME} or {file: PATH}, not the secret itself"
    ]
    message = set_errors(f"auth={{secret: {SECRET_VALUE}}}")
    assert message and all(SECRET_VALUE not in m for m in message)
    assert set_errors("auth.secret.env=1X") == [
        "--set auth.secret.env=1X: auth.secret.env: expected a variable name, got '1X'"
    ]


def test_file_errors_come_first_in_file_order_then_the_sets_in_their_order() -> None:
    text = "name: x\nload:\n  users: 0\ndescription: [a]\n"
    with pytest.raises(ScenarioErrors) as info:
        load_scenario(write(text), ["load.duration=-1", "nope", "auth.lifetime=0"])
    assert str(info.value).splitlines() == [
        "x.yaml:3: load.users: expected an integer in [1, 100000], got 0",
        "x.yaml:4: description: expected a string, got a list",
        "--set load.duration=-1: load.duration: expected a number in (0, 604800], got -1",
        "--set nope: expected KEY.PATH=VALUE",
        "--set auth.lifetime=0: auth.lifetime: expected a number in (0, 31536000], got 0",
    ]


def test_a_file_that_is_not_yaml_is_reported_with_the_malformed_sets() -> None:
    errors = set_errors("load.users=5", "bad", text="name: x\nload: [1\n")
    assert errors == [
        "x.yaml:3: invalid YAML: while parsing a flow sequence, expected ',' or ']', "
        "but got '<stream end>'",
        "--set bad: expected KEY.PATH=VALUE",
    ]
