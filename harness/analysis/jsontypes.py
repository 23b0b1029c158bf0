"""JSON for frozen dataclasses, driven by their annotations: to JSON, back, and a JSON Schema.

One set of rules, so a document, its reader and its schema cannot drift apart. Supported
annotations (``from __future__ import annotations`` is fine: hints are resolved):

==============================  =========================  ===============================
annotation                      JSON                       schema
==============================  =========================  ===============================
``str``, ``int``, ``bool``      string, integer, boolean   ``{"type": ...}``
``float``                       number (an int is read     ``{"type": "number"}``
                                as a float)
``X | None``                    X or null                  ``{"anyOf": [X, null]}``
``tuple[X, ...]``               array of X                 ``{"type": "array", "items": X}``
``Mapping[str, X]``, ``dict``   object of X (key order     ``additionalProperties: X``
                                kept)
``Annotated[str, OneOf(xs)]``   one of ``xs``              ``{"enum": [...]}``
``Any``                         any JSON value             ``{}``
a dataclass                     object with every field    ``properties``, all ``required``
==============================  =========================  ===============================

A dataclass's docstring ``Attributes:`` section (Google style: ``name: text``, continued on
indented lines) gives each property its ``description`` (with ``None`` said as ``null``); the
first docstring line gives the object's. Objects allow no other keys
(``additionalProperties: false``); the reader ignores unknown keys. NaN and infinities never
reach JSON: a float field holds a finite number or None.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class OneOf:
    """``Annotated`` metadata: the value is one of ``values`` (a closed set, e.g. statuses)."""

    values: tuple[Any, ...]


class JsonShapeError(ValueError):
    """A JSON value does not have the shape its annotation asks for (the message names where)."""


# --- Annotations --------------------------------------------------------------------------


@cache
def hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass's fields, in field order."""
    resolved = get_type_hints(cls, include_extras=True)
    return {f.name: resolved[f.name] for f in dataclasses.fields(cls)}


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _is_mapping(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin in (dict, Mapping) or tp in (dict, Mapping)


# --- To JSON ------------------------------------------------------------------------------


def to_json(value: Any) -> Any:
    """``value`` (a dataclass, a mapping, a sequence or a scalar) as plain JSON values.

    Dataclasses become objects with every field in order; tuples and lists arrays; mappings
    objects with string keys; non-finite floats ``None``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- From JSON ----------------------------------------------------------------------------


def from_json(cls: type[T], doc: Any, where: str = "$") -> T:
    """The dataclass ``cls`` read from a parsed JSON value, checked against its annotations.

    Every field must be present (the schema requires them all); unknown keys are ignored.

    Raises:
        JsonShapeError: a value has the wrong type or a required key is missing; the
            message names its path, e.g. ``$.token_kinds.valid.attempts``.
    """
    value: T = _read(cls, doc, where)
    return value


def _read(tp: Any, value: Any, where: str) -> Any:
    if tp is Any:
        return value
    if get_origin(tp) is Annotated:
        base, *extras = get_args(tp)
        out = _read(base, value, where)
        for extra in extras:
            if isinstance(extra, OneOf) and out not in extra.values:
                allowed = ", ".join(repr(a) for a in extra.values)
                raise JsonShapeError(f"{where}: expected one of {allowed}, got {out!r}")
        return out
    if _is_union(tp):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _read(option, value, where)
            except JsonShapeError as exc:
                errors.append(str(exc))
        raise JsonShapeError(errors[0] if len(errors) == 1 else f"{where}: {'; '.join(errors)}")
    origin = get_origin(tp)
    if origin is tuple:
        item = get_args(tp)[0]
        if not isinstance(value, list):
            raise JsonShapeError(f"{where}: expected an array, got {type(value).__name__}")
        return tuple(_read(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if _is_mapping(tp):
        args = get_args(tp)
        item = args[1] if len(args) == 2 else Any
        if not isinstance(value, dict):
            raise JsonShapeError(f"{where}: expected an object, got {type(value).__name__}")
        return {str(k): _read(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise JsonShapeError(f"{where}: expected an object, got {type(value).__name__}")
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name not in value:
                raise JsonShapeError(f"{where}: missing key {f.name!r}")
            kwargs[f.name] = _read(hints(tp)[f.name], value[f.name], f"{where}.{f.name}")
        return tp(**kwargs)
    return _scalar(tp, value, where)


def _scalar(tp: Any, value: Any, where: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"{where}: unsupported annotation {tp!r}")
    raise JsonShapeError(f"{where}: expected {_NAMES[tp]}, got {value!r}")


_NAMES: Mapping[Any, str] = {bool: "a boolean", int: "an integer", float: "a number", str: "text"}


# --- JSON Schema --------------------------------------------------------------------------

_SCALARS: Mapping[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}


def json_schema(cls: type, *, title: str, schema_id: str | None = None) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the dataclass ``cls``; nested dataclasses in ``$defs``.

    Args:
        cls: the document's dataclass.
        title: the schema's title.
        schema_id: its ``$id`` (e.g. the path of the checked-in file), if any.
    """
    defs: dict[str, Any] = {}
    root = _object_schema(cls, defs)
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    if schema_id:
        out["$id"] = schema_id
    out["title"] = title
    out.update(root)
    if defs:
        out["$defs"] = dict(sorted(defs.items()))
    return out


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any:
        return {}
    if get_origin(tp) is Annotated:
        base, *extras = get_args(tp)
        out = _schema(base, defs)
        for extra in extras:
            if isinstance(extra, OneOf):
                out = {**out, "enum": list(extra.values)}
        return out
    if _is_union(tp):
        return {"anyOf": [_schema(o, defs) for o in get_args(tp)]}
    if tp is type(None):
        return {"type": "null"}
    origin = get_origin(tp)
    if origin is tuple:
        return {"type": "array", "items": _schema(get_args(tp)[0], defs)}
    if _is_mapping(tp):
        args = get_args(tp)
        return {
            "type": "object",
            "additionalProperties": _schema(args[1], defs) if len(args) == 2 else {},
        }
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder: a type may refer to itself
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    raise TypeError(f"unsupported annotation {tp!r}")


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    docs = attribute_docs(cls)
    props: dict[str, Any] = {}
    for name, tp in hints(cls).items():
        prop = _schema(tp, defs)
        if name in docs:
            prop = {"description": _json_words(docs[name]), **prop}
        props[name] = prop
    out: dict[str, Any] = {"type": "object"}
    summary = (cls.__doc__ or "").strip().splitlines()
    if summary:
        out["description"] = _json_words(summary[0].strip())
    out["properties"] = props
    out["required"] = list(props)
    out["additionalProperties"] = False
    return out


def _json_words(text: str) -> str:
    """A Python docstring's words as a JSON reader knows them (None is null, True true)."""
    text = re.sub(r"\bNone\b", "null", text)
    return re.sub(r"\b(True|False)\b", lambda m: m.group(1).lower(), text)


_ATTR = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*(?:,\s*[A-Za-z_][A-Za-z0-9_]*)*):\s*(.*)$")


def attribute_docs(cls: type) -> dict[str, str]:
    """Each field's description from the ``Attributes:`` section of ``cls``'s docstring.

    ``a, b: text`` describes both ``a`` and ``b``; continuation lines are indented deeper
    than the name. Fields without a line have no description.
    """
    doc = cls.__doc__ or ""
    lines = doc.expandtabs().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    indent: int | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            names = []
            continue
        depth = len(line) - len(line.lstrip())
        match = _ATTR.match(line)
        if match and (indent is None or depth == indent):
            indent = depth
            names = [n.strip() for n in match.group(2).split(",")]
            for name in names:
                out[name] = match.group(3).strip()
        elif names and indent is not None and depth > indent:
            for name in names:
                out[name] = f"{out[name]} {line.strip()}".strip()
        elif indent is not None and depth <= indent:
            break
    return out
