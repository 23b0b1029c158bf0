"""Tests of harness.config.loader: strict scenario loading, overrides, secrets, serialisation.

Messages are compared as exact strings: they are the user interface of a bad scenario.
Every test runs in a temporary directory, so the file is named ``x.yaml`` in messages.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

from harness.config.loader import (
    apply_overrides,
    gates_from_dicts,
    load_scenario,
    resolve_secret,
    scenario_to_dict,
)
from harness.config.scenario import (
    Auth,
    EmbeddedTarget,
    Gate,
    Load,
    Scenario,
    Secret,
    Session,
    Target,
    Timeouts,
)
from harness.errors import HarnessError, ScenarioError
from harness.protocol.outcomes import TOKEN_KINDS

SECRET_VALUE = "s3cr3t-VALUE-do-not-print-7f3a"

FULL = """\
name: full
description: every key
target:
  embedded:
    rejection: close
    capacity_rejection: close
    max_connections: 50
    max_rss_mb: 512
    max_cpu_percent: 150.5
    handshake_timeout: 3
    ping_interval: 0
    ping_timeout: 2.5
    defects: [accept-empty-token, cache-past-expiry]
    drop_probability: 0.5
    cache_ttl: 30
  path: /chat
  close_codes: {4401: auth, 4000: policy}
auth:
  secret: {env: HARNESS_TEST_SECRET}
  algorithm: HS384
  claims: {sub: "user-{user}", aud: chat, roles: [a, b], ctx: {n: 1, ok: true, x: null}}
  lifetime: 60
  placement: header
  query_param: jwt
  header: X-Auth
load:
  users: 5
  spawn_rate: 2.5
  duration: 12
  mix: {valid: 6, empty: 2, expired: 2, malformed: 0}
  session:
    hold: 0
    messages: 0
    message_bytes: 16
    expect_reply: false
    reply_timeout: 1
    wait: [0, 0.25]
  timeouts: {connect: 1, handshake: 2}
gates:
  - name: valid ok
    metric: success_rate
    token_kind: valid
    op: ">="
    threshold: 0.99
  - {metric: handshake_p95_ms, op: "<", threshold: 250}
"""

FULL_EXPECTED = Scenario(
    name="full",
    source="x.yaml",
    description="every key",
    target=Target(
        embedded=EmbeddedTarget(
            rejection="close",
            capacity_rejection="close",
            max_connections=50,
            max_rss_mb=512.0,
            max_cpu_percent=150.5,
            handshake_timeout=3.0,
            ping_interval=0.0,
            ping_timeout=2.5,
            defects=("accept-empty-token", "cache-past-expiry"),
            drop_probability=0.5,
            cache_ttl=30.0,
        ),
        path="/chat",
        close_codes=MappingProxyType({4401: "auth", 4000: "policy"}),
    ),
    auth=Auth(
        secret=Secret(env="HARNESS_TEST_SECRET"),
        algorithm="HS384",
        claims=MappingProxyType(
            {
                "sub": "user-{user}",
                "aud": "chat",
                "roles": ["a", "b"],
                "ctx": {"n": 1, "ok": True, "x": None},
            }
        ),
        lifetime=60.0,
        placement="header",
        query_param="jwt",
        header="X-Auth",
    ),
    load=Load(
        users=5,
        spawn_rate=2.5,
        duration=12.0,
        mix=MappingProxyType({"valid": 6.0, "empty": 2.0, "expired": 2.0, "malformed": 0.0}),
        session=Session(
            hold=0.0,
            messages=0,
            message_bytes=16,
            expect_reply=False,
            reply_timeout=1.0,
            wait_min=0.0,
            wait_max=0.25,
        ),
        timeouts=Timeouts(connect=1.0, handshake=2.0),
    ),
    gates=(
        Gate(name="valid ok", metric="success_rate", op=">=", threshold=0.99, token_kind="valid"),
        Gate(name="handshake_p95_ms < 250", metric="handshake_p95_ms", op="<", threshold=250.0),
    ),
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_TEST_SECRET", SECRET_VALUE)


def write(text: str | bytes, name: str = "x.yaml") -> str:
    data = text if isinstance(text, bytes) else textwrap.dedent(text).encode()
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_bytes(data)
    return name


def load(text: str) -> Scenario:
    return load_scenario(write(text))


def error(text: str | bytes) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(text))
    assert SECRET_VALUE not in str(info.value)
    return str(info.value)


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
        target: {url: "wss://chat.example.com:8443/ws?room=1"}
        auth: {secret: {file: secret.txt}}
        load: {session: {wait: 0.3}}
        gates: [{metric: invalid_accepted, op: "==", threshold: 0}]
        """)
    assert s.target == Target(url="wss://chat.example.com:8443/ws?room=1")
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
        "allowed: duration, mix, session, spawn_rate, timeouts, users"
    )


def test_unknown_token_kind_in_mix() -> None:
    assert error("name: x\nload:\n  mix: {valid: 1, bogus: 1}\n") == (
        "x.yaml:3: load.mix.bogus: unknown key; allowed: " + ", ".join(sorted(TOKEN_KINDS))
    )
    assert "alg_none, bad_signature, empty, expired" in ", ".join(sorted(TOKEN_KINDS))


def test_wrong_type_string_for_number() -> None:
    text = "name: x\nload:\n  mix:\n    valid: 1\n    expired: ten\n"
    assert error(text) == "x.yaml:5: load.mix.expired: expected a number >= 0, got 'ten'"


def test_boolean_is_not_a_number() -> None:
    assert error("name: x\nload: {users: true}\n") == (
        "x.yaml:2: load.users: expected an integer >= 1, got true"
    )


def test_float_is_not_an_integer_and_lists_are_named() -> None:
    assert error("name: x\nload: {users: 2.5}\n") == (
        "x.yaml:2: load.users: expected an integer >= 1, got 2.5"
    )
    assert error("name: x\nload:\n  duration: [1, 2]\n") == (
        "x.yaml:3: load.duration: expected a number > 0, got a list"
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
        ("max_connections: 0", "max_connections: expected an integer >= 1, got 0"),
        ("ping_interval: -1", "ping_interval: expected a number >= 0, got -1"),
        ("cache_ttl: .inf", "cache_ttl: expected a number > 0, got inf"),
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
    assert error(f"name: x\ntarget:\n  url: {url}\n") == (
        f"x.yaml:3: target.url: expected a ws:// or wss:// URL with a host, got {url!r}"
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
    assert error("name: x\ntarget:\n  embedded: {}\n  close_codes:\n    1000: auth\n") == (
        "x.yaml:5: target.close_codes.1000: expected an integer in [4000, 4999], got 1000"
    )
    assert error("name: x\ntarget:\n  embedded: {}\n  close_codes: {4401: bad}\n") == (
        "x.yaml:4: target.close_codes.4401: expected one of auth, capacity, internal, normal, "
        "policy, try_again, got 'bad'"
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
        "x.yaml: invalid YAML: byte at position 6: invalid start byte"
    )
    assert error(b"name: x\x01\n") == (
        "x.yaml: invalid YAML: character #x0001 at position 7: special characters are not allowed"
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
        "x.yaml:4: load.session.wait: expected a number >= 0 or a [min, max] list, got 'soon'"
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


# --- Overrides ----------------------------------------------------------------------------


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
        ({"users": 0}, "--users: expected an integer >= 1, got 0"),
        ({"users": True}, "--users: expected an integer >= 1, got true"),
        ({"duration": -1.0}, "--duration: expected a number > 0, got -1.0"),
        ({"duration": float("nan")}, "--duration: expected a number > 0, got nan"),
        ({"spawn_rate": 0}, "--spawn-rate: expected a number > 0, got 0"),
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


# --- Secrets ------------------------------------------------------------------------------


def test_secret_from_env() -> None:
    assert (
        resolve_secret(load("name: x\nauth: {secret: {env: HARNESS_TEST_SECRET}}\n"))
        == SECRET_VALUE
    )


def test_secret_from_file_relative_to_the_scenario() -> None:
    Path("scenarios").mkdir()
    Path("scenarios/key.txt").write_text(SECRET_VALUE + "\n")
    write("name: x\nauth: {secret: {file: key.txt}}\n", "scenarios/s.yaml")
    assert resolve_secret(load_scenario("scenarios/s.yaml")) == SECRET_VALUE


def test_no_secret_embedded_is_generated_external_is_an_error() -> None:
    assert resolve_secret(load("name: x\n")) is None
    with pytest.raises(ScenarioError) as info:
        resolve_secret(load("name: x\ntarget: {url: 'ws://h:1/ws'}\n"))
    assert str(info.value) == (
        "x.yaml: auth.secret: required for an external target (give env: NAME or file: PATH)"
    )
    with pytest.raises(ScenarioError):
        resolve_secret(apply_overrides(load("name: x\n"), target_url="ws://h:1/ws"))


def secret_error(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        resolve_secret(load(text))
    assert SECRET_VALUE not in str(info.value)
    return str(info.value)


def test_secret_env_unset_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_UNSET_SECRET", raising=False)
    assert secret_error("name: x\nauth: {secret: {env: HARNESS_UNSET_SECRET}}\n") == (
        "x.yaml: auth.secret.env: environment variable HARNESS_UNSET_SECRET is not set"
    )
    monkeypatch.setenv("HARNESS_UNSET_SECRET", "")
    assert secret_error("name: x\nauth: {secret: {env: HARNESS_UNSET_SECRET}}\n") == (
        "x.yaml: auth.secret.env: environment variable HARNESS_UNSET_SECRET is empty"
    )


def test_secret_file_missing_empty_or_binary() -> None:
    assert secret_error("name: x\nauth: {secret: {file: missing.key}}\n") == (
        "x.yaml: auth.secret.file: cannot read missing.key: No such file or directory"
    )
    Path("empty.key").write_text("\n")
    assert secret_error("name: x\nauth: {secret: {file: empty.key}}\n") == (
        "x.yaml: auth.secret.file: empty.key is empty"
    )
    Path("bin.key").write_bytes(b"\xff" + SECRET_VALUE.encode())
    assert secret_error("name: x\nauth: {secret: {file: bin.key}}\n") == (
        "x.yaml: auth.secret.file: bin.key is not UTF-8 text"
    )


# --- Serialisation ------------------------------------------------------------------------


def test_scenario_to_dict_never_contains_the_secret() -> None:
    s = load(FULL)
    assert resolve_secret(s) == SECRET_VALUE
    d = scenario_to_dict(s)
    dumped = json.dumps(d)
    assert SECRET_VALUE not in dumped and SECRET_VALUE not in yaml.safe_dump(d)
    assert d["auth"]["secret"] == {"env": "HARNESS_TEST_SECRET"}
    assert scenario_to_dict(load("name: x\n"))["auth"]["secret"] is None


def test_scenario_to_dict_loads_back_into_an_equal_scenario() -> None:
    for text in (FULL, "name: x\n", "name: y\ntarget: {url: 'wss://h/ws'}\n"):
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
        "run/scenario.json: gates[0].metric: expected one of success_rate, attempts, ok, "
        "valid_refused, invalid_accepted, abrupt, wrong_rejection, generator_fault, "
        "abrupt_rate, handshake_p50_ms, handshake_p95_ms, handshake_p99_ms, graceful_share, "
        "recovery_s, findings, got 'bogus'"
    )
    with pytest.raises(ScenarioError) as info:
        gates_from_dicts([{"metric": "ok", "op": ">"}])
    assert str(info.value) == "scenario.json: gates[0].threshold: required key missing"
    with pytest.raises(ScenarioError) as info:
        gates_from_dicts(["nope"])  # type: ignore[list-item]
    assert str(info.value) == "scenario.json: gates: expected a list of mappings"
