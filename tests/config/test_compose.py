"""Tests of bounded input: file size, nesting, nodes, aliases ("billion laughs"), in a file and
in a ``--set``; each fails fast with a ScenarioError naming the file (or set), line and key.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path

import pytest

from harness.config.compose import MAX_ALIASES, MAX_DEPTH, MAX_NODES
from harness.config.loader import MAX_SCENARIO_BYTES, load_scenario, validate_scenario
from harness.errors import ScenarioError
from tests.config.helpers import error, load, write


def laughs(levels: int = 9, width: int = 10, indent: str = "    ") -> str:
    """Claims ``a: &a [x * width]``, ``b: &b [*a * width]``, ...: width**levels nodes."""
    names = "abcdefghijklmnopqrstuvwxyz"[:levels]
    lines = [f"{indent}a: &a [{', '.join(['x'] * width)}]"]
    for prev, cur in itertools.pairwise(names):
        lines.append(f"{indent}{cur}: &{cur} [{', '.join(['*' + prev] * width)}]")
    return "\n".join(lines) + "\n"


def timed_errors(text: str | bytes, sets: tuple[str, ...] = ()) -> tuple[list[str], float]:
    start = time.monotonic()
    errors = [str(e) for e in validate_scenario(write(text), sets)]
    return errors, time.monotonic() - start


# --- Aliases ------------------------------------------------------------------------------


def test_billion_laughs_in_claims_fails_fast_at_the_key_that_passes_the_bound() -> None:
    errors, took = timed_errors("name: x\nauth:\n  claims:\n" + laughs())
    # a: 11 nodes, b: 111, c: 1111, d: 11111 > 10000
    assert errors == ["x.yaml:7: auth.claims.d: expands to more than 10000 nodes through aliases"]
    assert took < 1


def test_billion_laughs_in_a_set_names_the_set() -> None:
    value = "{a: &a [x, x, x, x, x, x, x, x, x, x], "
    value += "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]"
    value += ", c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], d: [*c, *c, *c, *c, *c, *c, *c"
    value += ", *c, *c, *c]}"
    errors, took = timed_errors("name: x\n", (f"auth.claims={value}",))
    assert errors == [
        f"--set auth.claims={value}: auth.claims.d: "
        "expands to more than 10000 nodes through aliases"
    ]
    assert took < 1


def test_an_alias_inside_its_own_anchor_is_named() -> None:
    assert error("name: x\nauth:\n  claims: &a {a: *a}\n") == (
        "x.yaml:3: auth.claims.a: an alias inside its own anchor (it would never end)"
    )
    assert error("name: x\ngates: &g [*g]\n") == (
        "x.yaml:2: gates[0]: an alias inside its own anchor (it would never end)"
    )


def test_too_many_aliases() -> None:
    items = ", ".join(["*a"] * (MAX_ALIASES + 1))
    assert error(f"name: x\nauth:\n  claims:\n    a: &a 1\n    b: [{items}]\n") == (
        f"x.yaml:5: auth.claims.b[{MAX_ALIASES}]: more than {MAX_ALIASES} aliases (*name)"
    )


def test_aliases_within_the_bounds_work_as_yaml_says() -> None:
    s = load("""\
        name: x
        auth:
          claims:
            roles: &roles [admin, ops]
            copy: *roles
        load:
          mix: &w {valid: 1, empty: 1}
        gates:
          - &g {metric: ok, op: ">", threshold: 0}
        """)
    assert s.auth.claims["copy"] == ["admin", "ops"] and s.load.mix == {"valid": 1.0, "empty": 1.0}


# --- Nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 500, 100_000])
def test_deep_nesting_is_an_error_not_a_recursion_error(levels: int) -> None:
    errors, took = timed_errors("name: x\ndescription: " + "[" * levels + "]" * levels + "\n")
    assert len(errors) == 1 and took < 1
    assert errors[0].startswith("x.yaml:2: description[0][0]")
    assert errors[0].endswith(f"[0]: nested deeper than {MAX_DEPTH} levels")


def test_nesting_at_the_bound_is_composed_and_then_checked_by_its_key() -> None:
    levels = MAX_DEPTH - 1  # the top-level mapping is the first level
    message = error("name: x\ndescription: " + "[" * levels + "]" * levels + "\n")
    assert message == "x.yaml:2: description: expected a string, got a list"


def test_nesting_through_aliases_is_measured_too() -> None:
    chain = ["    l0: &l0 [x]"]
    chain += [f"    l{i}: &l{i} [[[[[[[[*l{i - 1}]]]]]]]]" for i in range(1, 9)]
    message = error("name: x\nauth:\n  claims:\n" + "\n".join(chain) + "\n")
    assert (
        message.startswith("x.yaml:") and "nested deeper than 64 levels through aliases" in message
    )


# --- Nodes and size -----------------------------------------------------------------------


def test_too_many_nodes_fails_fast() -> None:
    errors, took = timed_errors("name: x\ndescription: [" + "1, " * 200_000 + "1]\n")
    assert errors == [
        f"x.yaml:2: description[{MAX_NODES - 5}]: more than {MAX_NODES} YAML nodes "
        "(a scenario is far smaller)"
    ]
    assert took < 1


def test_a_file_over_one_mib_is_refused_unread() -> None:
    write("name: x\ndescription: " + "x" * MAX_SCENARIO_BYTES + "\n")
    assert [str(e) for e in validate_scenario("x.yaml")] == [
        "x.yaml: larger than 1 MiB, the limit of a scenario file"
    ]
    write("name: x\ndescription: " + "x" * (MAX_SCENARIO_BYTES - 30) + "\n")
    assert validate_scenario("x.yaml") == []  # up to the limit is fine


@pytest.mark.timeout(10)
def test_a_scenario_that_is_a_fifo_or_a_device_is_refused_at_once() -> None:
    os.mkfifo("s.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenario("s.yaml")
    assert str(info.value) == "s.yaml: cannot read: not a regular file (a FIFO)"
    with pytest.raises(ScenarioError) as info:
        load_scenario("/dev/zero")
    assert str(info.value) == "/dev/zero: cannot read: not a regular file (a character device)"


def test_a_set_value_is_bounded_like_the_file() -> None:
    deep = "[" * 100 + "]" * 100
    errors = [str(e) for e in validate_scenario(write("name: x\n"), [f"description={deep}"])]
    assert len(errors) == 1
    assert errors[0].startswith(f"--set description={deep}: description[0][0]")
    assert errors[0].endswith(f": nested deeper than {MAX_DEPTH} levels")
    assert Path("x.yaml").read_text() == "name: x\n"
