"""Tests of the dataclass <-> JSON rules behind summary.json and its schema."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import jsonschema
import pytest

from harness.analysis.jsontypes import (
    JsonShapeError,
    OneOf,
    attribute_docs,
    from_json,
    json_schema,
    to_json,
)


@dataclass(frozen=True)
class Leaf:
    """A leaf.

    Attributes:
        n: a count, continued
            on a second line.
        x, y: two numbers; None: no data.
    """

    n: int
    x: float | None
    y: float | None = None


@dataclass(frozen=True)
class Root:
    """The root."""

    name: Annotated[str, OneOf(("a", "b"))]
    leaves: tuple[Leaf, ...] = ()
    by_key: Mapping[str, Leaf] = field(default_factory=dict)
    anything: Mapping[str, Any] = field(default_factory=dict)
    flag: bool = False


ROOT = Root("a", (Leaf(1, 0.5),), {"k": Leaf(2, None, 3.0)}, {"p": [1, "x"]}, True)


def test_round_trip_and_key_order() -> None:
    doc = to_json(ROOT)
    assert list(doc) == ["name", "leaves", "by_key", "anything", "flag"]
    assert doc["leaves"] == [{"n": 1, "x": 0.5, "y": None}]
    assert from_json(Root, doc) == ROOT
    assert to_json(Leaf(1, math.nan, math.inf)) == {"n": 1, "x": None, "y": None}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "c"}, r"\$\.name: expected one of 'a', 'b', got 'c'"),
        ({"flag": 1}, r"\$\.flag: expected a boolean, got 1"),
        ({"leaves": {}}, r"\$\.leaves: expected an array"),
        ({"leaves": [{"n": True, "x": 1}]}, r"\$\.leaves\[0\]\.n: expected an integer"),
        ({"by_key": {"k": {"n": 1}}}, r"\$\.by_key\.k: missing key 'x'"),
        ({"by_key": {"k": {"n": 1, "x": "1", "y": None}}}, r"\$\.by_key\.k\.x: expected a number"),
    ],
)
def test_wrong_shapes_name_their_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(JsonShapeError, match=message):
        from_json(Root, {**to_json(ROOT), **change})


def test_an_int_reads_as_a_float_and_unknown_keys_are_ignored() -> None:
    leaf = from_json(Leaf, {"n": 1, "x": 2, "y": None, "extra": 1})
    assert leaf == Leaf(1, 2.0) and isinstance(leaf.x, float)


def test_schema_matches_the_reader() -> None:
    schema = json_schema(Root, title="root")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(to_json(ROOT), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**to_json(ROOT), "name": "c"}, schema)
    leaf = schema["$defs"]["Leaf"]
    assert leaf["required"] == ["n", "x", "y"] and leaf["additionalProperties"] is False
    assert leaf["properties"]["x"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert schema["properties"]["anything"] == {"type": "object", "additionalProperties": {}}


def test_attribute_docs() -> None:
    assert attribute_docs(Leaf) == {
        "n": "a count, continued on a second line.",
        "x": "two numbers; None: no data.",
        "y": "two numbers; None: no data.",
    }
    assert json_schema(Leaf, title="t")["properties"]["y"]["description"] == (
        "two numbers; null: no data."
    )
    assert attribute_docs(Root) == {}
