"""Tests of ``load.session.flow`` and ``load.session.hook`` in the scenario: shapes, bounds and
the key path of every error (harness.config.sections)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from harness.config.checks import MAX_FLOW_DEPTH, MAX_FLOW_STEPS, MAX_FLOW_TEMPLATE_CHARS
from harness.config.scenario import Expect, FlowStep, Session
from harness.config.sections import flow_size
from harness.config.serialise import scenario_to_dict
from tests.config.helpers import error, load, write

ROOT = Path(__file__).resolve().parents[2]


def session(body: str) -> str:
    """A scenario whose ``load.session`` is ``body`` (indented YAML, 4 spaces)."""
    return "name: x\nload:\n  session:\n" + body


def test_a_flow_is_read_into_steps() -> None:
    s = load(
        session(
            """\
    flow:
      - send: '{"type":"subscribe","channel":"prices"}'
        expect: {field: type, value: subscribed}
        timeout: 5
      - repeat: 5
        steps:
          - send: '{"type":"ping","n":{n}}'
            expect: {field: n, value: 3}
          - think: 0.5
          - think: [0.1, 0.2]
      - expect: {field: type}
      - send: bye
"""
        )
    )
    assert s.load.session.flow == (
        FlowStep(
            send='{"type":"subscribe","channel":"prices"}',
            expect=Expect("type", "subscribed"),
            timeout=5.0,
        ),
        FlowStep(
            repeat=5,
            steps=(
                FlowStep(send='{"type":"ping","n":{n}}', expect=Expect("n", "3")),
                FlowStep(think=(0.5, 0.5)),
                FlowStep(think=(0.1, 0.2)),
            ),
        ),
        FlowStep(expect=Expect("type", None)),
        FlowStep(send="bye"),
    )
    assert flow_size(s.load.session.flow) == (7, 18)  # written; run (5 x 3 + 3)


def test_expect_values_are_kept_as_their_json_text() -> None:
    s = load(
        session(
            "    flow:\n"
            "      - {expect: {field: a, value: true}}\n"
            "      - {expect: {field: b, value: 1.5}}\n"
            "      - {expect: {field: c, value: '7'}}\n"
        )
    )
    assert [x.expect for x in s.load.session.flow] == [
        Expect("a", "true"),
        Expect("b", "1.5"),
        Expect("c", "7"),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "    flow: {send: x}\n",
            "4: load.session.flow: expected a list of steps, got a mapping",
        ),
        (
            "    flow: [x]\n",
            "4: load.session.flow[0]: expected a mapping, got 'x'",
        ),
        (
            "    flow:\n      - {}\n",
            "5: load.session.flow[0]: expected one kind of step: send/expect, think, or repeat "
            "with steps, got none",
        ),
        (
            "    flow:\n      - {send: a, think: 1}\n",
            "5: load.session.flow[0]: expected one kind of step: send/expect, think, or repeat "
            "with steps, got send and think",
        ),
        (
            "    flow:\n      - {sned: a}\n",
            "5: load.session.flow[0].sned: unknown key; allowed: expect, repeat, send, steps, "
            "think, timeout",
        ),
        (
            "    flow:\n      - {send: a, timeout: 2}\n",
            "5: load.session.flow[0].timeout: only with expect (the reply it waits for)",
        ),
        (
            "    flow:\n      - {send: a, expect: {field: t}, timeout: 0}\n",
            "5: load.session.flow[0].timeout: expected a number in (0, 3600], got 0",
        ),
        (
            "    flow:\n      - {expect: {value: ok}}\n",
            "5: load.session.flow[0].expect.field: required key missing",
        ),
        (
            "    flow:\n      - {expect: {field: t, value: [1]}}\n",
            "5: load.session.flow[0].expect.value: expected a string, number, boolean or null, "
            "got a list",
        ),
        (
            "    flow:\n      - {repeat: 3}\n",
            "5: load.session.flow[0].steps: required key missing (with repeat)",
        ),
        (
            "    flow:\n      - {steps: [{send: a}]}\n",
            "5: load.session.flow[0].repeat: required key missing (with steps)",
        ),
        (
            "    flow:\n      - {repeat: 0, steps: [{send: a}]}\n",
            "5: load.session.flow[0].repeat: expected an integer in [1, 1000000], got 0",
        ),
        (
            "    flow:\n      - {repeat: 2, steps: []}\n",
            "5: load.session.flow[0].steps: expected at least one step",
        ),
        (
            "    flow:\n      - {think: -1}\n",
            "5: load.session.flow[0].think: expected a number in [0, 3600] or a [min, max] list, "
            "got -1",
        ),
        (
            "    flow:\n      - {think: [2, 1]}\n",
            "5: load.session.flow[0].think: expected [min, max] with min <= max, got [2, 1]",
        ),
        (
            "    flow:\n      - {send: a}\n      - repeat: 2\n        steps:\n"
            "          - {send: 5}\n",
            "8: load.session.flow[1].steps[0].send: expected a string of at most 65536 "
            "characters, got 5",
        ),
        (
            "    hold: 3\n    flow: [{send: a}]\n",
            "4: load.session.hold: not used with flow (the flow says what the session does); "
            "remove it",
        ),
        (
            "    messages: 3\n    hook: m:f\n",
            "4: load.session.messages: not used with hook (the hook says what the session "
            "does); remove it",
        ),
        (
            "    hook: m:f\n    flow: [{send: a}]\n",
            "4: load.session: expected at most one of flow, hook, got both",
        ),
        (
            "    hook: just_a_module\n",
            '4: load.session.hook: expected "module:function" or "path/to/file.py:function" '
            "(at most 4096 characters), or null, got 'just_a_module'",
        ),
        (
            "    hook: my.mod:not-a-name\n",
            '4: load.session.hook: expected "module:function" or "path/to/file.py:function" '
            "(at most 4096 characters), or null, got 'my.mod:not-a-name'",
        ),
    ],
)
def test_flow_errors_name_the_key(body: str, message: str) -> None:
    assert error(session(body)) == f"x.yaml:{message}"


def test_a_template_is_bounded() -> None:
    long = "a" * (MAX_FLOW_TEMPLATE_CHARS + 1)
    assert error(session(f"    flow:\n      - send: {long}\n")).startswith(
        "x.yaml:5: load.session.flow[0].send: expected a string of at most 65536 characters"
    )
    assert load(session(f"    flow:\n      - send: {long[1:]}\n")).load.session.flow


def test_the_steps_written_are_bounded() -> None:
    steps = "".join("      - {send: a}\n" for _ in range(MAX_FLOW_STEPS + 1))
    assert error(session("    flow:\n" + steps)) == (
        "x.yaml:5: load.session.flow: expected at most 256 steps (those in repeats included), "
        "got 257"
    )


def test_the_steps_run_per_attempt_are_bounded() -> None:
    inner = "{repeat: 1000, steps: [{repeat: 1001, steps: [{send: a}]}]}"
    assert error(session(f"    flow:\n      - {inner}\n")) == (
        "x.yaml:5: load.session.flow: runs 1001000 steps per attempt (repeats expanded), "
        "more than 1000000"
    )


def test_repeats_are_nested_at_most_eight_deep() -> None:
    def nested(depth: int) -> str:
        text = "{send: a}"
        for _ in range(depth):
            text = f"{{repeat: 1, steps: [{text}]}}"
        return f"    flow: [{text}]\n"

    assert load(session(nested(MAX_FLOW_DEPTH))).load.session.flow
    message = error(session(nested(MAX_FLOW_DEPTH + 1)))
    assert message.endswith("steps: repeats nested deeper than 8 levels"), message
    assert "load.session.flow[0]" + ".steps[0]" * MAX_FLOW_DEPTH + ".steps:" in message


def test_a_hook_file_is_found_next_to_the_scenario_and_made_absolute() -> None:
    write("def session(conn):\n    pass\n", "flows/hook.py")
    s = load(session("    hook: flows/hook.py:session\n"))
    assert s.load.session.hook == f"{os.path.abspath('flows/hook.py')}:session"
    write(session("    hook: hook.py:session\n"), "flows/x.yaml")
    from harness.config.loader import load_scenario

    nested = load_scenario("flows/x.yaml")
    assert nested.load.session.hook == f"{os.path.abspath('flows/hook.py')}:session"
    assert load(session("    hook: my_pkg.flows:run\n")).load.session.hook == "my_pkg.flows:run"
    assert load(session("    hook: null\n")).load.session == Session()


def test_a_missing_hook_file_is_an_error_naming_the_key() -> None:
    assert error(session("    hook: nowhere.py:session\n")) == (
        f"x.yaml:4: load.session.hook: no such file: {Path('nowhere.py')}"
    )


def test_a_flow_scenario_loads_back_from_its_dict() -> None:
    write("def session(conn):\n    pass\n", "hook.py")
    flow = session(
        "    reply_timeout: 2\n"
        "    flow:\n"
        "      - {send: '{\"a\":1}', expect: {field: a, value: 1}, timeout: 3}\n"
        "      - {repeat: 2, steps: [{think: [0, 1]}, {expect: {field: b}}]}\n"
    )
    hook = session("    hook: hook.py:session\n    wait: 0\n")
    for text in (flow, hook):
        s = load(text)
        d = scenario_to_dict(s)
        d.pop("source")
        assert load(yaml.safe_dump(d, sort_keys=False)) == replace(s, source="x.yaml")


def test_the_shipped_examples_load() -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        from harness.config.loader import load_scenario

        s = load_scenario(path)
        assert s.load.session.flow or s.load.session.hook, path


def test_a_flow_is_for_plain_websocket_only() -> None:
    text = "name: x\ntarget: {embedded: {}, protocol: socketio}\nload:\n  session:\n"
    assert error(text + "    flow: [{send: a}]\n") == (
        "x.yaml:5: load.session.flow: speaks plain WebSocket, not Socket.IO; remove it, or "
        "target.protocol: websocket"
    )


@pytest.mark.parametrize("where", ["~no_such_user_f7/h.py", "x" * 300 + ".py"])
def test_a_hook_path_that_cannot_be_a_file_is_an_error_not_a_crash(where: str) -> None:
    message = error(session(f"    hook: {where}:run\n"))
    assert message.startswith("x.yaml:4: load.session.hook: no such file: "), message
