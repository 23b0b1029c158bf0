"""Tests of harness.config.loader: strict scenario loading, every error of a file at once.

Messages are compared as exact strings: they are the user interface of a bad scenario.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from harness.config.loader import load_scenario, validate_scenario
from harness.config.scenario import TOKEN_KINDS, EmbeddedTarget, Scenario, Secret, Target
from harness.errors import HarnessError, ScenarioError, ScenarioErrors
from tests.config.helpers import FULL, FULL_EXPECTED, SECRET_VALUE, error, load, write
from tests.conftest import ROOT

# --- Valid files ------------------------------------------------------------------------


def test_full_file_round_trips_into_the_expected_dataclasses() -> None:
    assert load(FULL) == FULL_EXPECTED


def test_types_are_normalised() -> None:
    s = load(FULL)
    assert isinstance(s.load.duration, float) and isinstance(s.load.users, int)
    assert isinstance(s.target.close_codes, MappingProxyType)
    assert isinstance(s.load.mix, MappingProxyType) and isinstance(s.auth.claims, MappingProxyType)


def test_defaults_apply_to_a_minimal_file() -> None:
    s = load("name: minimal\n")
    assert s == Scenario(name="minimal", source="x.yaml")
    assert s.target.embedded == EmbeddedTarget() and s.target.url is None
    assert s.load.mix == {"valid": 1.0} and s.auth.secret == Secret() and s.gates == ()


@pytest.mark.parametrize("embedded", ["true", "{}", ""])
def test_embedded_shorthands(embedded: str) -> None:
    s = load(f"name: x\ntarget:\n  embedded: {embedded}\n")
    assert s.target == Target(embedded=EmbeddedTarget())


def test_empty_sections_mean_defaults() -> None:
    s = load("name: x\nauth:\nload:\n  session:\n  timeouts:\ngates:\n")
    assert s == Scenario(name="x", source="x.yaml")


def test_url_target_and_single_wait_and_default_gate_name() -> None:
    s = load("""\
        name: ext
        target: {url: "wss://chat.example.com:8443/ws?room=1", allow_hosts: [chat.example.com]}
        auth: {secret: {file: secret.txt}}
        load: {session: {wait: 0.3}}
        gates: [{metric: invalid_accepted, op: "==", threshold: 0}]
        """)
    assert s.target == Target(
        url="wss://chat.example.com:8443/ws?room=1", allow_hosts=("chat.example.com",)
    )
    assert not s.target.is_embedded
    assert (s.load.session.wait_min, s.load.session.wait_max) == (0.3, 0.3)
    assert s.gates[0].name == "invalid_accepted == 0"


def test_path_may_be_a_path_object_and_is_named_as_given() -> None:
    Path("scenarios").mkdir()
    write("name: x\n", "scenarios/x.yaml")
    assert load_scenario(Path("scenarios/x.yaml")).source == "scenarios/x.yaml"


def test_shipped_scenarios_load() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    for path in sorted(root.glob("*.yaml")):
        assert load_scenario(path).name


# --- Exact error messages ---------------------------------------------------------------


def test_unknown_top_level_key() -> None:
    assert error("name: x\ngate: []\n") == (
        "x.yaml:2: gate: unknown key; allowed: auth, chaos, description, gates, load, name, target"
    )


def test_unknown_nested_key() -> None:
    text = "name: x\nload:\n  users: 3\n  sesion: {hold: 1}\n"
    assert error(text) == (
        "x.yaml:4: load.sesion: unknown key; "
        "allowed: duration, limits, mix, reconnect, session, source_addresses, spawn_rate, "
        "stages, timeouts, users"
    )


def test_unknown_token_kind_in_mix() -> None:
    assert error("name: x\nload:\n  mix: {valid: 1, bogus: 1}\n") == (
        "x.yaml:3: load.mix.bogus: unknown key; allowed: " + ", ".join(sorted(TOKEN_KINDS))
    )
    assert "alg_none, bad_signature, empty, expired" in ", ".join(sorted(TOKEN_KINDS))


def test_wrong_type_string_for_number() -> None:
    text = "name: x\nload:\n  mix:\n    valid: 1\n    expired: ten\n"
    assert error(text) == (
        "x.yaml:5: load.mix.expired: expected a number in [0, 1000000], got 'ten'"
    )


def test_boolean_is_not_a_number() -> None:
    assert error("name: x\nload: {users: true}\n") == (
        "x.yaml:2: load.users: expected an integer in [1, 100000], got true"
    )


def test_float_is_not_an_integer_and_lists_are_named() -> None:
    assert error("name: x\nload: {users: 2.5}\n") == (
        "x.yaml:2: load.users: expected an integer in [1, 100000], got 2.5"
    )
    assert error("name: x\nload:\n  duration: [1, 2]\n") == (
        "x.yaml:3: load.duration: expected a number in (0, 604800], got a list"
    )


def test_exponent_without_dot_gets_a_hint() -> None:
    assert error("name: x\ngates: [{metric: abrupt_rate, op: <, threshold: 1e-3}]\n") == (
        "x.yaml:2: gates[0].threshold: expected a number, got '1e-3' "
        "(YAML reads 1e-3 as text: write 1.0e-3)"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_cpu_percent: 900", "max_cpu_percent: expected a number in (0, 800], got 900"),
        ("max_cpu_percent: 0", "max_cpu_percent: expected a number in (0, 800], got 0"),
        ("drop_probability: 1.5", "drop_probability: expected a number in [0, 1], got 1.5"),
        ("max_connections: 0", "max_connections: expected an integer in [1, 100000], got 0"),
        ("ping_interval: -1", "ping_interval: expected a number in [0, 3600], got -1"),
        ("cache_ttl: .inf", "cache_ttl: expected a number in (0, 604800], got inf"),
    ],
)
def test_out_of_range(line: str, message: str) -> None:
    text = f"name: x\ntarget:\n  embedded:\n    {line}\n"
    assert error(text) == f"x.yaml:4: target.embedded.{message}"


def test_bad_enum() -> None:
    assert error("name: x\ntarget:\n  embedded:\n    rejection: maybe\n") == (
        "x.yaml:4: target.embedded.rejection: expected one of upgrade, close, got 'maybe'"
    )


@pytest.mark.parametrize("url", ["http://example.com/ws", "ws:///ws", "ws://host:port/ws", "x"])
def test_bad_url(url: str) -> None:
    hint = " (http:// and https:// need target.protocol: socketio)" if "http" in url else ""
    assert error(f"name: x\ntarget:\n  url: {url}\n") == (
        f"x.yaml:3: target.url: expected a ws:// or wss:// URL with a host, got {url!r}{hint}"
    )


def test_target_needs_exactly_one_of_embedded_and_url() -> None:
    assert error("name: x\ntarget:\n  url: ws://h/ws\n  embedded: true\n") == (
        "x.yaml:3: target: expected exactly one of embedded, url, got both"
    )
    assert error("name: x\ntarget:\n  path: /ws\n") == (
        "x.yaml:3: target: expected exactly one of embedded, url, got neither"
    )
    assert error("name: x\ntarget:\n  url: ws://h/ws\n  path: /chat\n") == (
        "x.yaml:4: target.path: only used with the embedded target; put the path in url"
    )
    assert error("name: x\ntarget: {embedded: false}\n") == (
        "x.yaml:2: target.embedded: expected a mapping of options or true, got false"
    )


def test_path_and_close_codes() -> None:
    assert error("name: x\ntarget: {embedded: {}, path: ws}\n") == (
        "x.yaml:2: target.path: expected a path starting with '/', got 'ws'"
    )
    assert error("name: x\ntarget:\n  embedded: {}\n  close_codes:\n    1006: auth\n") == (
        "x.yaml:5: target.close_codes.1006: expected a close code a server may send "
        "(1000-1003, 1007-1014, 3000-4999), got 1006"
    )
    assert error("name: x\ntarget:\n  embedded: {}\n  close_codes: {4401: bad}\n") == (
        "x.yaml:4: target.close_codes.4401: expected one of auth, capacity, internal, normal, "
        "policy, try_again, got 'bad'"
    )


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 1016, 2999, 5000, 999])
def test_close_codes_never_sent_on_the_wire_are_refused(code: int) -> None:
    text = f"name: x\ntarget:\n  embedded: {{}}\n  close_codes: {{{code}: auth}}\n"
    assert f"target.close_codes.{code}: expected a close code a server may send" in error(text)


def test_standard_and_registered_close_codes_are_accepted() -> None:
    codes = "{1013: capacity, 1008: auth, 3003: auth}"
    s = load(f"name: x\ntarget:\n  embedded: {{}}\n  close_codes: {codes}\n")
    assert s.target.close_codes == {1013: "capacity", 1008: "auth", 3003: "auth"}


def test_http_statuses() -> None:
    s = load("name: x\ntarget:\n  embedded: {}\n  http_statuses: {404: auth, 502: other}\n")
    assert s.target.http_statuses == {404: "auth", 502: "other"}
    assert load("name: x\ntarget: {embedded: {}}\n").target.http_statuses == {}
    assert error("name: x\ntarget:\n  embedded: {}\n  http_statuses: {101: auth}\n") == (
        "x.yaml:4: target.http_statuses.101: expected an HTTP status in [200, 599], got 101"
    )
    assert error("name: x\ntarget:\n  embedded: {}\n  http_statuses: {404: gone}\n") == (
        "x.yaml:4: target.http_statuses.404: expected one of auth, capacity, not_found, "
        "upstream, other, got 'gone'"
    )


def test_missing_name() -> None:
    assert error("# comment\ndescription: no name\n") == "x.yaml:2: name: required key missing"
    assert error("name: ''\n") == "x.yaml:1: name: expected a non-empty string, got ''"


def test_missing_gate_key_points_at_the_gate() -> None:
    text = """\
        name: x
        gates:
          - {metric: ok, op: ">", threshold: 1}
          - metric: success_rate
            op: ">="
        """
    assert error(text) == "x.yaml:4: gates[1].threshold: required key missing"


def test_yaml_syntax_error_has_a_line() -> None:
    text = "name: x\nload:\n  users: [1, 2\ngates: []\n"
    assert error(text) == (
        "x.yaml:4: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got ':'"
    )
    assert (
        error("name: x\n  bad: 1\n")
        == "x.yaml:2: invalid YAML: mapping values are not allowed here"
    )


def test_bytes_that_are_not_text() -> None:
    assert error(b"name: \xff\n") == (
        "x.yaml:1: invalid YAML: byte at position 6: invalid start byte"
    )
    assert error(b"name: x\n\ndescription: x\x01\n") == (
        "x.yaml:3: invalid YAML: character #x0001 at position 23: "
        "special characters are not allowed"
    )


def test_unsafe_tags_are_refused() -> None:
    assert error("name: x\nload: !!python/object:os.system {users: 1}\n") == (
        "x.yaml:2: load: invalid YAML: unsupported tag 'tag:yaml.org,2002:python/object:os.system'"
    )
    assert error("name: x\nauth:\n  lifetime: !!python/name:os.system ''\n") == (
        "x.yaml:3: auth.lifetime: invalid YAML: could not determine a constructor "
        "for the tag 'tag:yaml.org,2002:python/name:os.system'"
    )


def test_merge_keys_are_refused() -> None:
    assert error("name: x\nload:\n  <<: {users: 2}\n") == (
        "x.yaml:3: load: merge keys (<<) are not supported"
    )


def test_values_yaml_cannot_construct() -> None:
    assert error("name: x\ndescription: 2024-13-01\n") == (
        "x.yaml:2: description: invalid YAML value: month must be in 1..12"
    )


def test_empty_file() -> None:
    assert error("") == "x.yaml: empty file; expected a mapping with at least 'name'"
    assert (
        error("# only a comment\n") == "x.yaml: empty file; expected a mapping with at least 'name'"
    )


def test_non_mapping_top_level() -> None:
    assert error("- name: x\n") == "x.yaml:1: expected a mapping, got a list"
    assert error("just text\n") == "x.yaml:1: expected a mapping, got 'just text'"


def test_missing_file() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("nope.yaml")
    assert str(info.value) == "nope.yaml: cannot read: No such file or directory"
    Path("adir").mkdir()
    with pytest.raises(ScenarioError) as info:
        load_scenario("adir")
    assert str(info.value) == "adir: cannot read: Is a directory"


def test_duplicate_key() -> None:
    assert error("name: x\nload:\n  users: 1\n  users: 2\n") == (
        "x.yaml:4: load.users: duplicate key (first at line 3)"
    )


def test_duplicate_defect() -> None:
    text = """\
        name: x
        target:
          embedded:
            defects:
              - accept-empty-token
              - no-capacity-check
              - accept-empty-token
        """
    assert error(text) == (
        "x.yaml:7: target.embedded.defects[2]: 'accept-empty-token' is listed twice"
    )
    assert error("name: x\ntarget: {embedded: {defects: [nope]}}\n") == (
        "x.yaml:2: target.embedded.defects[0]: expected one of accept-empty-token, "
        "cache-past-expiry, no-capacity-check, drop-before-handshake, got 'nope'"
    )


def test_gate_on_a_kind_not_in_the_mix() -> None:
    text = """\
        name: x
        load:
          mix: {valid: 1, empty: 0}
        gates:
          - {metric: ok, op: ">", threshold: 1}
          - metric: success_rate
            token_kind: {kind}
            op: ">="
            threshold: 0.9
        """
    expected = (
        "x.yaml:7: gates[1].token_kind: {!r} is not in load.mix, "
        "so this gate would have no attempts"
    )
    for kind in ("expired", "empty"):  # absent, and weight 0
        assert error(text.replace("{kind}", kind)) == expected.format(kind)


def test_expired_reused_also_records_valid_attempts() -> None:
    gate = "{metric: ok, token_kind: valid, op: '>', threshold: 0}"
    s = load(f"name: x\nload: {{mix: {{expired_reused: 1}}}}\ngates: [{gate}]\n")
    assert s.gates[0].token_kind == "valid"


def test_rate_threshold_must_be_a_share() -> None:
    assert error(
        "name: x\ngates:\n  - metric: success_rate\n    op: '>='\n    threshold: 99\n"
    ) == (
        "x.yaml:5: gates[0].threshold: expected a number in [0, 1] "
        "(success_rate is a share, not a percent), got 99"
    )


def test_duplicate_gate_names() -> None:
    gate = "{metric: ok, op: '>', threshold: 1}"
    text = f"name: x\ngates:\n  - {gate}\n  - {gate}\n"
    assert error(text) == "x.yaml:4: gates[1]: same name as gates[0]: 'ok > 1'"


def test_mix_needs_a_positive_weight() -> None:
    assert error("name: x\nload:\n  mix: {valid: 0}\n") == (
        "x.yaml:3: load.mix: expected at least one weight > 0"
    )


def test_wait_range() -> None:
    assert error("name: x\nload:\n  session:\n    wait: [0.5, 0.1]\n") == (
        "x.yaml:4: load.session.wait: expected [min, max] with min <= max, got [0.5, 0.1]"
    )
    assert error("name: x\nload:\n  session:\n    wait: [1, 2, 3]\n") == (
        "x.yaml:4: load.session.wait: expected [min, max], got a list of 3"
    )
    assert error("name: x\nload:\n  session:\n    wait: soon\n") == (
        "x.yaml:4: load.session.wait: expected a number in [0, 3600] or a [min, max] list, "
        "got 'soon'"
    )


def test_auth_errors() -> None:
    assert error("name: x\nauth: {algorithm: RS256}\n") == (
        "x.yaml:2: auth.algorithm: expected one of HS256, HS384, HS512, got 'RS256'"
    )
    assert error("name: x\nauth:\n  claims:\n    exp: 1700000000\n") == (
        "x.yaml:4: auth.claims.exp: set by the harness for each token kind; remove it"
    )
    assert error("name: x\nauth:\n  claims:\n    at: 2024-01-01\n") == (
        "x.yaml:4: auth.claims.at: expected a string, number, boolean or null, got a date"
    )
    assert error("name: x\nauth:\n  secret: {env: A, file: b}\n") == (
        "x.yaml:3: auth.secret: expected exactly one of env, file, got both"
    )
    assert error("name: x\nauth: {header: 'X Auth'}\n") == (
        "x.yaml:2: auth.header: expected a header name, got 'X Auth'"
    )


def test_a_literal_secret_is_refused_without_echoing_it() -> None:
    message = error(f"name: x\nauth:\n  secret: {SECRET_VALUE}\n")
    assert message == (
        "x.yaml:3: auth.secret: expected {env: NAME} or {file: PATH}, not the secret itself"
    )


@pytest.mark.parametrize(
    "text",
    [
        b"name: \xff\xfe bad utf-8\n",
        b"name: x\x00\n",
        "a: 1\n---\nb: 2\n",
        "name: x\nload: !!python/object:os.system {users: 1}\n",
        "name: x\nauth: {lifetime: !!python/name:os.system ''}\n",
        "name: x\ndescription: !!python/name:os.system\n",
        "name: x\nauth:\n  claims: &a {a: *a}\n",
        "name: x\n[a, b]: 1\n",
        "name: x\n? {a: 1}\n: 2\n",
        "name: [x]\n",
        "name: x\ngates: {metric: ok}\n",
        "name: x\ngates: [1]\n",
        "name: x\nload: 5\n",
        "name: x\ntarget: {embedded: {defects: accept-empty-token}}\n",
        "name: x\nauth: {claims: [a]}\n",
        "name: x\nauth: {claims: {1: a}}\n",
        "name: x\nload: {session: {expect_reply: 1}}\n",
        "name: x\nload: {mix: }\n",
        "\t",
        "...",
        "null",
        "name: x\nload: {users: 1" + "0" * 5000 + "}\n",
        "name: x\ndescription: 2024-13-45\n",
        "name: x\nload: {duration: 1" + "0" * 400 + "}\n",
        "name: x\ndescription: " + "x" * 10_000 + "\nbogus: 1\n",
    ],
)
def test_bad_input_is_always_a_scenario_error(text: str | bytes) -> None:
    message = error(text)
    assert message.startswith("x.yaml")


# --- Every error of a file at once --------------------------------------------------------

THREE_SECTIONS = """\
name: x
target:
  embedded:
    max_connections: 0
load:
  users: 3
  mix: {valid: 1, expired: ten}
gates:
  - {metric: success_rate, op: ">=", threshold: 99}
"""


def test_three_errors_in_three_sections_are_three_lines_in_file_order() -> None:
    with pytest.raises(ScenarioErrors) as info:
        load_scenario(write(THREE_SECTIONS))
    assert str(info.value).splitlines() == [
        "x.yaml:4: target.embedded.max_connections: expected an integer in [1, 100000], got 0",
        "x.yaml:7: load.mix.expired: expected a number in [0, 1000000], got 'ten'",
        "x.yaml:9: gates[0].threshold: expected a number in [0, 1] "
        "(success_rate is a share, not a percent), got 99",
    ]
    assert [(e.line, e.key) for e in info.value.errors] == [
        (4, "target.embedded.max_connections"),
        (7, "load.mix.expired"),
        (9, "gates[0].threshold"),
    ]
    assert isinstance(info.value, HarnessError) and not isinstance(info.value, ScenarioError)


def test_validate_scenario_returns_every_error_and_nothing_for_a_valid_file() -> None:
    assert [e.line for e in validate_scenario(write(THREE_SECTIONS))] == [4, 7, 9]
    assert validate_scenario(write(FULL)) == []
    assert [str(e) for e in validate_scenario("missing.yaml")] == [
        "missing.yaml: cannot read: No such file or directory"
    ]


def test_siblings_in_one_section_and_items_of_one_list_are_all_checked() -> None:
    text = """\
        name: x
        load:
          users: 0
          spawn_rate: -1
          sesion: {}
        target:
          embedded:
            defects: [nope, accept-empty-token, accept-empty-token]
        """
    assert [str(e) for e in validate_scenario(write(text))] == [
        "x.yaml:3: load.users: expected an integer in [1, 100000], got 0",
        "x.yaml:4: load.spawn_rate: expected a number in (0, 10000], got -1",
        "x.yaml:5: load.sesion: unknown key; "
        "allowed: duration, limits, mix, reconnect, session, source_addresses, spawn_rate, "
        "stages, timeouts, users",
        "x.yaml:8: target.embedded.defects[0]: expected one of accept-empty-token, "
        "cache-past-expiry, no-capacity-check, drop-before-handshake, got 'nope'",
        "x.yaml:8: target.embedded.defects[2]: 'accept-empty-token' is listed twice",
    ]


def test_an_error_inside_a_value_causes_no_follow_on_errors() -> None:
    # the bad url is not "neither embedded nor url"; the bad metric is not "unknown scope"
    text = "name: x\ntarget: {url: 'http://h/ws'}\ngates: [{metric: nope, op: '>', threshold: 1}]\n"
    assert [str(e) for e in validate_scenario(write(text))] == [
        "x.yaml:2: target.url: expected a ws:// or wss:// URL with a host, got 'http://h/ws' "
        "(http:// and https:// need target.protocol: socketio)",
        "x.yaml:3: gates[0].metric: expected one of success_rate, abrupt_rate, graceful_share, "
        "attempts, ok, valid_refused, invalid_accepted, abrupt, wrong_rejection, "
        "generator_fault, handshake_p50_ms, handshake_p95_ms, handshake_p99_ms, recovery_s, "
        "findings, got 'nope'",
    ]


def test_a_missing_name_and_an_unknown_key_are_both_reported() -> None:
    assert [str(e) for e in validate_scenario(write("nmae: x\n"))] == [
        "x.yaml:1: nmae: unknown key; allowed: auth, chaos, description, gates, load, name, target",
        "x.yaml:1: name: required key missing",
    ]


def test_checks_across_sections_are_collected_too() -> None:
    text = """\
        name: x
        load: {duration: 10}
        chaos:
          - {fault: latency, at: 20}
        gates:
          - {metric: ok, token_kind: empty, op: ">", threshold: 0}
          - {metric: recovery_s, fault: "latency#2", op: "<", threshold: 5}
        """
    assert [str(e) for e in validate_scenario(write(text))] == [
        "x.yaml:4: chaos[0].at: starts after the run ends (load.duration is 10 s)",
        "x.yaml:6: gates[0].token_kind: 'empty' is not in load.mix, "
        "so this gate would have no attempts",
        "x.yaml:7: gates[1].fault: unknown chaos window 'latency#2'; windows: latency#1",
    ]


def test_the_complete_example_of_docs_scenario_md_loads() -> None:
    text = (ROOT / "docs" / "scenario.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    s = load(example)
    assert s.name == "smoke" and s.chaos[0].label == "cpu_quota#1"
    assert s.gates[0].name == "valid tokens succeed"


def test_closed_loop_pace_needs_replies() -> None:
    text = "name: x\nload:\n  session: {pace: closed_loop, messages: 100}\n"
    assert load(text).load.session.pace == "closed_loop"
    assert error("name: x\nload:\n  session: {pace: closed_loop, expect_reply: false}\n") == (
        "x.yaml:3: load.session.expect_reply: closed_loop sends each message once the last "
        "one's reply came: it needs replies"
    )
