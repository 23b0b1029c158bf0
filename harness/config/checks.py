"""Scenario loading machinery (pure): value checks, and YAML nodes -> checked values.

A :class:`_Check` is a rule for one scalar (a Python value in, the checked value out, or
:class:`_Invalid` with ``expected X, got Y``); :class:`_Ctx` walks the YAML nodes of one
load and turns every failure into a :class:`~harness.errors.ScenarioError` with the key
path and line. The section tables that use them are in :mod:`harness.config.sections`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config import scenario as sc
from harness.errors import ScenarioError

# --- Value checks (pure) ------------------------------------------------------------------


class _Invalid(ValueError):
    """A value failed a check; the message reads ``expected X, got Y``."""


def _show(v: object) -> str:
    """A bad value for messages: strings by repr (cut at 60), YAML spelling for the rest."""
    if isinstance(v, ScalarNode):
        try:
            v = yaml.SafeLoader("").construct_object(v)
        except (yaml.YAMLError, ValueError):  # e.g. an unknown tag: show the text
            v = str(getattr(v, "value", v))
    if v is None or isinstance(v, bool):
        return str(v).lower().replace("none", "null")
    if isinstance(v, str | int | float):
        text = repr(v)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(v, Mapping | MappingNode):
        return "a mapping"
    return "a list" if isinstance(v, list | tuple | SequenceNode) else f"a {type(v).__name__}"


_NUM = (int, float)
_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")  # YAML 1.1 reads 1e-3 as text


@dataclass(frozen=True)
class _Check:
    """A rule for one scalar: its type(s) and a predicate; ``expected`` reads "a number > 0".

    Booleans pass only where ``bool`` is listed (they are not numbers); floats must be
    finite; a number checked as ``_NUM`` is stored as float.
    """

    expected: str
    types: tuple[type, ...]
    ok: Callable[[Any], object] = lambda v: True

    def __call__(self, v: object) -> Any:
        typed = isinstance(v, self.types) and (bool in self.types or not isinstance(v, bool))
        try:
            if typed and (not isinstance(v, float) or math.isfinite(v)) and self.ok(v):
                return float(v) if self.types == _NUM else v  # type: ignore[arg-type]
        except OverflowError:  # an integer too large for a float
            pass
        msg = f"expected {self.expected}, got {_show(v)}"
        if float in self.types and isinstance(v, str) and _EXPONENT.fullmatch(v):
            msg += " (YAML reads 1e-3 as text: write 1.0e-3)"
        raise _Invalid(msg)


def _one_of(choices: Sequence[str]) -> _Check:
    return _Check("one of " + ", ".join(choices), (str,), lambda v: v in choices)


def _is_ws_url(s: str) -> bool:
    try:
        u = urlsplit(s)
        return u.scheme in ("ws", "wss") and bool(u.hostname) and (u.port or 0) >= 0
    except ValueError:  # e.g. a port that is not a number
        return False


_POSITIVE = _Check("a number > 0", _NUM, lambda v: v > 0)
_NON_NEGATIVE = _Check("a number >= 0", _NUM, lambda v: v >= 0)
_AT_LEAST_ONE = _Check("an integer >= 1", (int,), lambda v: v >= 1)
_NAME = _Check("a non-empty string", (str,), bool)
_URL = _Check("a ws:// or wss:// URL with a host", (str,), _is_ws_url)
_DEFECT = _one_of(sc.DEFECTS)
_WAIT_ONE = replace(_NON_NEGATIVE, expected="a number >= 0 or a [min, max] list")
_CLOSE_CODE = _Check("an integer in [4000, 4999]", (int,), lambda v: 4000 <= v <= 4999)
_KEY = _Check("a scalar key", (object, bool))  # any constructed scalar
_JSON_SCALAR = _Check("a string, number, boolean or null", (str, int, float, bool, type(None)))

# --- YAML nodes -> values, with key paths and lines ---------------------------------------

_Parser = Callable[["_Ctx", str, Node], Any]
_Table = Mapping[str, "_Check | _Parser"]


def _join(parent: str, key: object) -> str:
    return f"{parent}.{key}" if parent else str(key)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class _Ctx:
    """One load: the file name for messages, a scalar constructor, and the line of every
    key path seen (for checks across sections)."""

    def __init__(self, source: str, *, with_lines: bool = True) -> None:
        self.source, self.with_lines = source, with_lines
        self.lines: dict[str, int] = {}
        self._constructor = yaml.SafeLoader("")

    def error(self, key: str, msg: str, node: Node | None = None) -> ScenarioError:
        line = node.start_mark.line + 1 if node is not None else self.lines.get(key)
        return ScenarioError(self.source, key, msg, line if self.with_lines else None)

    def value(self, key: str, node: Node, check: _Check) -> Any:
        """The scalar at ``node``, checked."""
        if not isinstance(node, ScalarNode):
            raise self.error(key, f"expected {check.expected}, got {_show(node)}", node)
        try:
            return check(self._constructor.construct_object(node))
        except _Invalid as e:
            raise self.error(key, str(e), node) from None
        except yaml.YAMLError as e:  # e.g. an unknown tag such as !!python/object
            raise self.error(key, f"invalid YAML: {getattr(e, 'problem', e)}", node) from None
        except ValueError as e:  # e.g. date 2024-13-01, or an integer of 5000 digits
            msg = f"invalid YAML value: {str(e).split(';')[0]}"
            raise self.error(key, msg, node) from None

    def mapping(self, key: str, node: Node, allowed: Collection[str] | None) -> dict[Any, Node]:
        """Key -> value node; unknown (when ``allowed`` is given) and duplicate keys are errors.

        An empty value (``key:`` with nothing after it) is the same as ``{}``.
        """
        if _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.error(key, f"expected a mapping, got {_show(node)}", node)
        self._plain_tag(key, node, "map")
        out: dict[Any, Node] = {}
        for k_node, v_node in node.value:
            if k_node.tag == "tag:yaml.org,2002:merge":
                raise self.error(key, "merge keys (<<) are not supported", k_node)
            k = self.value(key, k_node, _KEY)
            sub = _join(key, k)
            if allowed is not None and k not in allowed:
                raise self.error(sub, f"unknown key; allowed: {', '.join(sorted(allowed))}", k_node)
            if k in out:
                raise self.error(sub, f"duplicate key (first at line {self.lines[sub]})", k_node)
            out[k], self.lines[sub] = v_node, k_node.start_mark.line + 1
        return out

    def sequence(self, key: str, node: Node, expected: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.error(key, f"expected {expected}, got {_show(node)}", node)
        self._plain_tag(key, node, "seq")
        return list(node.value)

    def _plain_tag(self, key: str, node: Node, kind: str) -> None:
        if node.tag != f"tag:yaml.org,2002:{kind}":  # e.g. !!python/object on a mapping
            raise self.error(key, f"invalid YAML: unsupported tag {node.tag!r}", node)

    def fields(self, key: str, node: Node, table: _Table, required: Sequence[str] = ()) -> Any:
        """A section parsed by its table, as a dict of key -> value."""
        items = self.mapping(key, node, table)
        for name in required:
            if name not in items:
                raise self.error(_join(key, name), "required key missing", node)
        out: dict[str, Any] = {}
        for k, v_node in items.items():
            spec, sub = table[k], _join(key, k)
            out[k] = (
                self.value(sub, v_node, spec)
                if isinstance(spec, _Check)
                else spec(self, sub, v_node)
            )
        return out


def _section(cls: Callable[..., Any], table: _Table) -> _Parser:
    return lambda ctx, key, node: cls(**ctx.fields(key, node, table))
