"""Scenario texts and helpers shared by the tests of harness.config.

Every test of the package runs in a temporary directory (``conftest.py``), so the file is
named ``x.yaml`` in messages.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import MappingProxyType

import pytest

from harness.config.loader import load_scenario
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
from harness.errors import ScenarioError

#: The value of HARNESS_TEST_SECRET in every test: no message may contain it.
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


def write(text: str | bytes, name: str = "x.yaml") -> str:
    """Write a scenario file (dedented) and return its name."""
    data = text if isinstance(text, bytes) else textwrap.dedent(text).encode()
    Path(name).parent.mkdir(parents=True, exist_ok=True)
    Path(name).write_bytes(data)
    return name


def load(text: str) -> Scenario:
    """The scenario of a text written to ``x.yaml``."""
    return load_scenario(write(text))


def error(text: str | bytes) -> str:
    """The one error of a text written to ``x.yaml`` (it must not show the secret)."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(text))
    assert SECRET_VALUE not in str(info.value)
    return str(info.value)
