"""Property-based fuzzing of the loader (hypothesis): whatever the file and the ``--set`` edits,
the loader returns a Scenario or raises ScenarioError/ScenarioErrors whose every message names
the file or the set, and a key or a line; no other exception, no hang, no example over 1 s.

Three sources of input: YAML-ish text and raw bytes; structures built from the scenario
schema's keys (every section's table) with wrong, huge, nested, shared (aliased) and
recursive values, dumped as YAML and sometimes cut or spliced; and ``--set`` edits of the
schema's key paths. Bounded: ``max_examples`` and a 1 s ``deadline`` per example (the
module takes a few seconds), no example database written into the repository.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.config.faults import FAULT_SPECS
from harness.config.loader import load_scenario
from harness.config.scenario import Scenario
from harness.config.sections import SECTIONS
from harness.errors import ScenarioError, ScenarioErrors
from tests.config.helpers import SECRET_VALUE, write

FUZZ = settings(
    max_examples=150,
    deadline=1000,  # ms: no example may take a second
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Whole-file problems: they have neither a key nor a line.
WHOLE_FILE = ("empty file", "cannot read", "larger than")


def outcome(data: str | bytes, sets: list[str] | None = None) -> None:
    """Load ``data`` as ``x.yaml``; assert the loader's contract (see the module docstring)."""
    path = write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    try:
        scenario = load_scenario(path, sets or ())
    except ScenarioErrors as e:
        errors = list(e.errors)
        assert len(errors) > 1
    except ScenarioError as e:
        errors = [e]
    else:
        assert isinstance(scenario, Scenario) and scenario.source == path
        return
    for e in errors:
        text = str(e)
        assert text.startswith(e.path) and SECRET_VALUE not in text
        if e.path.startswith("--set "):
            assert e.key or e.msg == "expected KEY.PATH=VALUE", text
        else:
            assert e.path == path, text
            assert e.key or e.line is not None or e.msg.startswith(WHOLE_FILE), text


# --- Values: wrong, huge, nested, shared, recursive ---------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=0, max_value=400).map(lambda n: 10**n),
    st.integers(min_value=0, max_value=400).map(lambda n: -(10**n)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e300, -1e300, 1e-300, 65535, 65536, 2**31, 2**63]),
    st.text(max_size=30),
    st.sampled_from(["", "ten", "1e-3", "1.0e300", "ws://h/ws", "ws://127.0.0.1:9/ws", "/ws"]),
    st.sampled_from([*FAULT_SPECS, "valid", "expired", "HS256", "upgrade", "close", ">="]),
)


def nested(depth: int) -> Any:
    """A list nested ``depth`` levels deep."""
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def shared(levels: int, width: int) -> Any:
    """A "billion laughs": each level holds ``width`` references to the one below (YAML
    dumps it with anchors and aliases)."""
    value: Any = ["x"] * width
    for _ in range(levels):
        value = [value] * width
    return value


def shared_mapping(levels: int, width: int) -> Any:
    """The same in mappings (what ``auth.claims`` takes): ``{k0: d, k1: d, ...}`` per level."""
    value: Any = {"leaf": ["x"] * width}
    for _ in range(levels):
        value = {f"k{i}": value for i in range(width)}
    return value


def recursive(_: object) -> Any:
    loop: list[Any] = []
    loop.append(loop)
    return loop


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
) | st.one_of(
    st.integers(min_value=1, max_value=200).map(nested),
    st.builds(
        shared, st.integers(min_value=1, max_value=9), st.integers(min_value=2, max_value=12)
    ),
    st.just(None).map(recursive),
)
#: What costs a walker most: aliases that expand (lists and mappings), deep and recursive
#: values, large enough to matter (10**4 to 10**10 nodes expanded, up to 200 levels).
LEVELS, WIDTH = st.integers(min_value=4, max_value=9), st.integers(min_value=8, max_value=12)
HEAVY = st.one_of(
    st.builds(shared, LEVELS, WIDTH),
    st.builds(shared_mapping, LEVELS, WIDTH),
    st.integers(min_value=30, max_value=200).map(nested),
    st.integers(min_value=30, max_value=200).map(lambda n: {"deep": nested(n)}),
    st.just(None).map(recursive),
    st.just(None).map(lambda _: {"loop": recursive(None)}),
)
#: Claims are walked whole.
CLAIMS = st.one_of(HEAVY, VALUES)


# --- Structures from the schema's keys ----------------------------------------------------


def section_of(path: str, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping for the section at ``path``: some of its keys (sometimes an unknown one),
    each with a value of its own section, a list of them, or a wild value."""
    keys = list(SECTIONS[path])

    def value_for(key: str) -> st.SearchStrategy[Any]:
        sub = f"{path}.{key}".strip(".")
        if key in ("gates", "chaos") and depth < 3:
            return st.one_of(st.lists(section_of(key, depth + 1), max_size=3), VALUES)
        if sub in SECTIONS and depth < 3:
            return st.one_of(section_of(sub, depth + 1), VALUES)
        if key == "fault":
            return st.one_of(st.sampled_from(list(FAULT_SPECS)), VALUES)
        if key == "claims":
            return CLAIMS
        return VALUES

    params = sorted({f for s in FAULT_SPECS.values() for f in s.params.__dataclass_fields__})
    extra = params if path == "chaos" else ["bogus"]
    return st.lists(st.sampled_from(keys + extra), unique=True, max_size=len(keys)).flatmap(
        lambda chosen: st.fixed_dictionaries({k: value_for(k) for k in chosen})
    )


SCENARIOS = section_of("").map(lambda d: {"name": "fuzz", **d} if "name" not in d else d)


def dumped(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# --- The properties -----------------------------------------------------------------------

YAML_TOKENS = st.sampled_from(
    [
        *"abnmex019 -:.,[]{}&*!|>'\"#%@`?\n\t\\~<=+",
        *("name: ", "load:", "  ", "*a", "&a ", "!!python/object ", "\x00", "\x85", "\ufeff", "é"),
    ]
)
#: YAML-ish text: characters and fragments that YAML gives a meaning.
YAML_TEXT = st.lists(YAML_TOKENS, max_size=60).map("".join)


@pytest.mark.timeout(60)
@FUZZ
@given(st.one_of(YAML_TEXT, st.binary(max_size=120)))
def test_any_text_or_bytes(data: str | bytes) -> None:
    outcome(data)


@pytest.mark.timeout(60)
@FUZZ
@given(SCENARIOS, st.integers(min_value=0, max_value=4), st.data())
def test_structures_of_the_schema_with_wrong_huge_nested_and_aliased_values(
    scenario: dict[str, Any], mutation: int, data: st.DataObject
) -> None:
    text = dumped(scenario)
    if mutation == 1:  # cut short
        text = text[: data.draw(st.integers(min_value=0, max_value=len(text)))]
    elif mutation == 2:  # something spliced in
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + data.draw(YAML_TEXT)[:20] + text[at:]
    outcome(text)


def set_texts() -> st.SearchStrategy[str]:
    paths = [f"{p}.{k}".strip(".") for p, table in SECTIONS.items() for k in table]
    paths += ["gates[0].threshold", "chaos[0].at", "load..users", "load.users[1]", "=1", "x"]
    flow = VALUES.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip())
    return st.builds(
        lambda p, eq, v: f"{p}{eq}{v}", st.sampled_from(paths), st.sampled_from(["=", ""]), flow
    )


@pytest.mark.timeout(60)
@FUZZ
@given(SCENARIOS, st.lists(set_texts(), max_size=3))
def test_set_edits_of_the_schema_s_key_paths(scenario: dict[str, Any], sets: list[str]) -> None:
    outcome(dumped(scenario), sets)


def schema_paths() -> list[tuple[str | int, ...]]:
    """Every key path of the schema, list sections through their first item."""
    out: list[tuple[str | int, ...]] = []
    for path, table in SECTIONS.items():
        parts: tuple[str | int, ...] = tuple(path.split(".")) if path else ()
        if path in ("gates", "chaos"):
            parts = (path, 0)
        out += [(*parts, key) for key in table]
    return out


#: Keys whose values the loader walks item by item (the others refuse a list or mapping).
WALKED: list[tuple[str | int, ...]] = [
    ("auth", "claims"),
    ("auth", "claims", "nested"),
    ("load", "mix"),
    ("load", "session", "wait"),
    ("gates",),
    ("chaos",),
    ("target", "allow_hosts"),
    ("target", "close_codes"),
    ("target", "embedded", "defects"),
]


def placed(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A scenario with ``value`` at ``path`` (and a fault for a chaos window)."""
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    if path[:2] == ("chaos", 0) and path[-1] != "fault":
        value["chaos"][0]["fault"] = "latency"
    return {"name": "fuzz", **value}


@pytest.mark.timeout(60)
@FUZZ
@given(st.one_of(st.sampled_from(WALKED), st.sampled_from(schema_paths())), HEAVY)
def test_aliased_deep_and_recursive_values_at_every_key_of_the_schema(
    path: tuple[str | int, ...], value: Any
) -> None:
    outcome(dumped(placed(path, value)))
