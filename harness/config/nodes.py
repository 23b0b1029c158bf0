"""The YAML node walker (pure): YAML nodes in, checked values out, every error with its key.

A :class:`NodeReader` walks the node tree of one scenario (``yaml.compose``, so every
node keeps its line) with a section table: a mapping from each allowed key to a
:class:`~harness.config.checks.Check` (a scalar) or a :data:`Parser` (a nested node).
Errors are collected, not raised at the first: an error inside a key is recorded in
:attr:`NodeReader.errors` and the walk goes on with the key's siblings, so one pass finds
every mistake of a file. A value with an error in one of its parts is unusable; its parser
raises :class:`Reported` (the errors are recorded already), and the parent goes on.

A node that came from the command line (``--set KEY.PATH=VALUE``) rather than the file is
marked with :meth:`NodeReader.mark_origin`; its errors name the set, not a file line.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config.checks import KEY, Check, Invalid, show
from harness.errors import ScenarioError

#: Parses one nested node: ``(reader, key path, node) -> value``.
Parser = Callable[["NodeReader", str, Node], Any]
#: A section: each allowed key, and the check or parser of its value.
Table = Mapping[str, "Check | Parser"]

NULL_TAG = "tag:yaml.org,2002:null"


def join(parent: str, key: object) -> str:
    """The key path of ``key`` inside ``parent`` (``load`` + ``users`` -> ``load.users``)."""
    return f"{parent}.{key}" if parent else str(key)


def is_null(node: Node) -> bool:
    """The node is YAML null (``~``, ``null``, or nothing after ``key:``)."""
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


class Reported(Exception):
    """A value has errors that are recorded already: it is unusable; go on with its siblings."""


class NodeReader:
    """One walk of one scenario's nodes: the file name for messages, and the errors found.

    Attributes:
        source: the file, as the user named it.
        with_lines: put line numbers in messages (False for data that is not the user's file).
        errors: every error found so far, in the order found.
        keys: the key node and value node of every key path seen, list items as
            ``gates[1]`` (for checks across sections, and "first at line N").
    """

    def __init__(self, source: str, *, with_lines: bool = True) -> None:
        self.source, self.with_lines = source, with_lines
        self.errors: list[ScenarioError] = []
        self.keys: dict[str, tuple[Node, Node]] = {}
        self._origins: dict[int, tuple[Node, str]] = {}  # id(node) -> (node, label)
        self._constructor = yaml.SafeLoader("")

    # --- Where a node came from ---------------------------------------------------------

    def mark_origin(self, node: Node, label: str) -> None:
        """``node`` and all under it came from ``label`` (e.g. ``--set load.users=5``)."""
        stack, seen = [node], set()
        while stack:
            n = stack.pop()
            if id(n) in seen:  # an alias seen twice
                continue
            seen.add(id(n))
            self._origins[id(n)] = (n, label)
            if isinstance(n, SequenceNode):
                stack.extend(n.value)
            elif isinstance(n, MappingNode):
                stack.extend(x for pair in n.value for x in pair)

    def origin(self, node: Node | None) -> str | None:
        """The label of the command-line value ``node`` came from; None: the file."""
        held = self._origins.get(id(node)) if node is not None else None
        return held[1] if held is not None and held[0] is node else None

    # --- Errors -------------------------------------------------------------------------

    def error(self, key: str, msg: str, node: Node | None = None) -> ScenarioError:
        """An error at ``key``, located at ``node`` (None: where the key was seen)."""
        line_node = node
        label = self.origin(node)
        if node is None and (seen := self._seen(key)) is not None:
            line_node, value_node = seen
            label = self.origin(value_node) or self.origin(line_node)
        if label is not None:
            return ScenarioError(label, key, msg)
        line = line_node.start_mark.line + 1 if line_node is not None else None
        return ScenarioError(self.source, key, msg, line if self.with_lines else None)

    def _seen(self, key: str) -> tuple[Node, Node] | None:
        """The nodes of ``key``, or of the nearest enclosing key or item that was seen."""
        while key:
            if key in self.keys:
                return self.keys[key]
            key = key[: max(key.rfind("."), key.rfind("["), 0)]
        return None

    def record(self, error: ScenarioError) -> None:
        """Add an error and go on."""
        self.errors.append(error)

    @contextmanager
    def each(self) -> Iterator[None]:
        """One of several siblings: an error in it is recorded, and the caller goes on."""
        try:
            yield
        except ScenarioError as e:
            self.errors.append(e)
        except Reported:
            pass

    @contextmanager
    def whole(self) -> Iterator[None]:
        """A value made of parts: when a part recorded an error, raise :class:`Reported`."""
        start = len(self.errors)
        yield
        if len(self.errors) > start:
            raise Reported

    # --- Nodes -> values ----------------------------------------------------------------

    def value(self, key: str, node: Node, check: Check) -> Any:
        """The scalar at ``node``, checked.

        Raises:
            ScenarioError: not a scalar, not constructible, or refused by ``check``.
        """
        if not isinstance(node, ScalarNode):
            raise self.error(key, f"expected {check.expected}, got {show(node)}", node)
        try:
            return check(self._constructor.construct_object(node))
        except Invalid as e:
            raise self.error(key, str(e), node) from None
        except yaml.YAMLError as e:  # e.g. an unknown tag such as !!python/object
            raise self.error(key, f"invalid YAML: {getattr(e, 'problem', e)}", node) from None
        except ValueError as e:  # e.g. date 2024-13-01, or an integer of 5000 digits
            msg = f"invalid YAML value: {str(e).split(';')[0]}"
            raise self.error(key, msg, node) from None

    def mapping(self, key: str, node: Node, allowed: Collection[str] | None) -> dict[Any, Node]:
        """Key -> value node of a mapping; unknown (when ``allowed`` is given) and duplicate
        keys are recorded as errors and left out.

        An empty value (``key:`` with nothing after it) is the same as ``{}``. Call it inside
        :meth:`whole` when the result is built into a value.

        Raises:
            ScenarioError: the node is not a plain mapping.
        """
        if is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            raise self.error(key, f"expected a mapping, got {show(node)}", node)
        self._plain_tag(key, node, "map")
        out: dict[Any, Node] = {}
        for k_node, v_node in node.value:
            with self.each():
                if k_node.tag == "tag:yaml.org,2002:merge":
                    raise self.error(key, "merge keys (<<) are not supported", k_node)
                k = self.value(key, k_node, KEY)
                sub = join(key, k)
                if allowed is not None and k not in allowed:
                    msg = f"unknown key; allowed: {', '.join(sorted(allowed))}"
                    raise self.error(sub, msg, k_node)
                if k in out:
                    first = self.keys[sub][0].start_mark.line + 1
                    raise self.error(sub, f"duplicate key (first at line {first})", k_node)
                out[k], self.keys[sub] = v_node, (k_node, v_node)
        return out

    def sequence(self, key: str, node: Node, expected: str) -> list[Node]:
        """The item nodes of a plain list.

        Raises:
            ScenarioError: the node is not a plain list (``expected`` says what it should be).
        """
        if not isinstance(node, SequenceNode):
            raise self.error(key, f"expected {expected}, got {show(node)}", node)
        self._plain_tag(key, node, "seq")
        for i, item in enumerate(node.value):
            self.keys[f"{key}[{i}]"] = (item, item)
        return list(node.value)

    def _plain_tag(self, key: str, node: Node, kind: str) -> None:
        if node.tag != f"tag:yaml.org,2002:{kind}":  # e.g. !!python/object on a mapping
            raise self.error(key, f"invalid YAML: unsupported tag {node.tag!r}", node)

    def fields(self, key: str, node: Node, table: Table, required: Sequence[str] = ()) -> Any:
        """A section parsed by its table, as a dict of key -> value.

        Every key is checked (and every missing required key reported) before
        :class:`Reported` is raised for a section with errors.
        """
        out: dict[str, Any] = {}
        with self.whole():
            items = self.mapping(key, node, table)
            for name in required:
                if name not in items:
                    self.record(self.error(join(key, name), "required key missing", node))
            for k, v_node in items.items():
                with self.each():
                    spec, sub = table[k], join(key, k)
                    out[k] = (
                        self.value(sub, v_node, spec)
                        if isinstance(spec, Check)
                        else spec(self, sub, v_node)
                    )
        return out


def section(cls: Callable[..., Any], table: Table) -> Parser:
    """A parser that builds ``cls`` from a section's fields (no checks across its keys)."""
    return lambda reader, key, node: cls(**reader.fields(key, node, table))
