"""Every number has an upper bound, documented: the reference tables of docs/scenario.md say
each key's range exactly as the check does, and the values of the issue are refused.

Also the keys added with the bounds: ``load.timeouts.send``/``close`` and ``load.limits``.
"""

from __future__ import annotations

import re

import pytest

from harness.config.checks import NUM, Check
from harness.config.scenario import Limits, Load, Timeouts
from harness.config.sections import SECTIONS
from tests.config.helpers import error, load
from tests.conftest import ROOT

HEADINGS = {"Top level": ""}  # other headings are the section's key path


def documented_rows() -> dict[str, dict[str, str]]:
    """Section key path -> key -> the type cell of its row in docs/scenario.md's reference."""
    text = (ROOT / "docs" / "scenario.md").read_text()
    reference = text.split("\n## Reference\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n#{3,4} ", reference)[1:]:
        heading, _, body = block.partition("\n")
        rows = out.setdefault(HEADINGS.get(heading, heading), {})
        for m in re.finditer(r"^\| `([a-z_]+)` \| ([^|]+) \|", body, re.M):
            rows[m.group(1)] = m.group(2).strip()
    return out


def is_number(check: Check) -> bool:
    return check.types in (NUM, (int,))


def test_every_key_of_every_documented_section_has_a_row() -> None:
    rows = documented_rows()
    for path, table in SECTIONS.items():
        if path in rows:
            assert set(table) <= set(rows[path]), f"{path or 'top level'}: undocumented keys"
    assert set(rows) >= set(SECTIONS) - {"auth.secret"}  # the secret is documented in prose


def test_every_number_has_an_upper_bound_and_the_docs_say_it() -> None:
    rows = documented_rows()
    numbers = [
        (path, key, spec)
        for path, table in SECTIONS.items()
        for key, spec in table.items()
        if isinstance(spec, Check) and is_number(spec)
    ]
    assert len(numbers) > 25
    for path, key, check in numbers:
        where = f"{path}.{key}".strip(".")
        if key != "threshold":  # a gate's bounds are its metric's (the generated table)
            assert re.search(r" in [\[(]-?[0-9.]+, [0-9.]+\]$", check.expected), where
        if path in rows:
            documented = check.expected.split(" ", 1)[1]  # without "a"/"an"
            assert rows[path][key].startswith(documented), (where, rows[path][key])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "session: {message_bytes: 1000000000000}",
            "load.session.message_bytes: expected an integer in [1, 16777216], got 1000000000000",
        ),
        (
            f"users: {10**30}",
            f"load.users: expected an integer in [1, 100000], got {10**30}",
        ),
        (
            "session: {messages: 100000000000}",
            "load.session.messages: expected an integer in [0, 1000000], got 100000000000",
        ),
        ("duration: 1.0e+300", "load.duration: expected a number in (0, 604800], got 1e+300"),
        ("spawn_rate: 10001", "load.spawn_rate: expected a number in (0, 10000], got 10001"),
        (
            "session: {hold: 604801}",
            "load.session.hold: expected a number in [0, 604800], got 604801",
        ),
        ("timeouts: {send: 3601}", "load.timeouts.send: expected a number in (0, 3600], got 3601"),
        ("timeouts: {close: 0}", "load.timeouts.close: expected a number in (0, 3600], got 0"),
        (
            "limits: {max_frame_bytes: 124}",
            "load.limits.max_frame_bytes: expected an integer in [125, 67108864], got 124",
        ),
        (
            "limits: {max_fragments: 0}",
            "load.limits.max_fragments: expected an integer in [1, 65536], got 0",
        ),
        (
            "mix: {valid: 1.0e+308}",
            "load.mix.valid: expected a number in [0, 1000000], got 1e+308",
        ),
    ],
)
def test_numbers_beyond_their_bounds_are_refused(line: str, message: str) -> None:
    assert error(f"name: x\nload:\n  {line}\n") == f"x.yaml:3: {message}"


def test_the_bounds_themselves_are_allowed() -> None:
    s = load("""\
        name: x
        load:
          users: 100000
          spawn_rate: 10000
          duration: 604800
          session: {hold: 604800, messages: 1000000, message_bytes: 16777216, wait: 3600}
          timeouts: {connect: 3600, handshake: 3600, send: 3600, close: 3600}
          limits: {max_frame_bytes: 67108864, max_message_bytes: 67108864, max_fragments: 65536}
        auth: {lifetime: 31536000}
        target: {embedded: {max_connections: 100000, ping_interval: 3600, cache_ttl: 604800}}
        """)
    assert s.load.users == 100_000 and s.load.session.message_bytes == 16 << 20
    assert s.load.limits == Limits(64 << 20, 64 << 20, 65_536)


def test_the_new_deadlines_and_limits_have_their_defaults() -> None:
    s = load("name: x\nload: {timeouts: {send: 2.5}, limits: {max_fragments: 1}}\n")
    assert s.load.timeouts == Timeouts(connect=5.0, handshake=5.0, send=2.5, close=1.0)
    assert s.load.limits == Limits(
        max_frame_bytes=1 << 20, max_message_bytes=4 << 20, max_fragments=1
    )
    assert Load().limits == Limits() and Limits().max_message_bytes == 4_194_304
    assert error("name: x\nload: {limits: {max_bytes: 1}}\n") == (
        "x.yaml:2: load.limits.max_bytes: unknown key; "
        "allowed: max_fragments, max_frame_bytes, max_message_bytes"
    )


def test_an_echo_beyond_the_message_limit_is_refused_at_load() -> None:
    assert error("name: x\nload:\n  session: {message_bytes: 8388608}\n") == (
        "x.yaml:3: load.session.message_bytes: the echo of a 8388608-byte message would exceed "
        "load.limits.max_message_bytes (4194304): raise that limit, or set expect_reply: false"
    )
    assert error("name: x\nload:\n  limits: {max_message_bytes: 32}\n") == (
        "x.yaml:3: load.limits.max_message_bytes: below load.session.message_bytes (64): "
        "the echo of every message would fail the connection (1009)"
    )
    for fine in (
        "session: {message_bytes: 8388608, expect_reply: false}",
        "session: {message_bytes: 8388608, messages: 0}",
        "{session: {message_bytes: 8388608}, limits: {max_message_bytes: 8388608}}",
    ):
        text = f"name: x\nload: {fine}\n" if fine.startswith("{") else f"name: x\nload:\n  {fine}\n"
        assert load(text).load.session.message_bytes == 8_388_608
