"""``--set KEY.PATH=VALUE``: edits of a scenario's YAML node tree, before it is checked.

``KEY.PATH`` is dotted keys, each optionally followed by ``[N]`` indexes into an existing
list item (``load.users``, ``gates[0].threshold``, ``target.close_codes.4401``); ``VALUE``
is YAML (``5``, ``'{valid: 1}'``, ``ws://127.0.0.1:9/ws``; nothing after ``=`` is null).
A set replaces the value at the path, or adds the key, creating mappings on the way
(a missing or null section becomes a mapping). The edited tree is then checked exactly
as the file would be, so a set can break no rule the file cannot; its errors name the
set, then the key: ``--set load.users=ten: load.users: expected an integer >= 1, got 'ten'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config.checks import show
from harness.config.compose import compose_bounded
from harness.config.nodes import NULL_TAG, NodeReader, is_null, join
from harness.errors import ScenarioError
from harness.redact import REDACTED

_NAME = r"[^.\[\]=\s]+"
_PATH = re.compile(rf"{_NAME}(\[[0-9]+\])*(\.{_NAME}(\[[0-9]+\])*)*")
_PART = re.compile(rf"({_NAME})|\[([0-9]+)\]")
#: What a list's items are called in "no such item (the file has 2 gates)".
_ITEM_NOUNS = {"gates": "gate", "chaos": "chaos window", "defects": "defect"}
#: Key paths whose value is a name or a path, never the secret itself.
_SECRET_SOURCES = ("auth.secret.env", "auth.secret.file")


@dataclass(frozen=True)
class SetEdit:
    """One parsed ``--set``.

    Attributes:
        label: how messages name it: ``--set KEY.PATH=VALUE`` (a value that may hold a
            secret is shown as ``<redacted>``).
        key: the key path as given, e.g. ``gates[0].threshold``.
        path: its parts: key names, and list indexes as ints.
        value: the VALUE as a YAML node (null when empty).
    """

    label: str
    key: str
    path: tuple[str | int, ...]
    value: Node


def parse_set(text: str) -> SetEdit:
    """``KEY.PATH=VALUE`` as a :class:`SetEdit` (the value is parsed, not checked).

    Raises:
        ScenarioError: no ``=``, a malformed key path (``--set load.users: expected
            KEY.PATH=VALUE``), a value that is not YAML, or one beyond the bounds of
            :mod:`harness.config.compose` (nesting, nodes, aliases).
    """
    key, eq, value_text = text.partition("=")
    if not eq or not _PATH.fullmatch(key):
        raise ScenarioError(f"--set {_shown(text, key)}", "", "expected KEY.PATH=VALUE")
    label = f"--set {_shown(text, key)}"
    path = tuple(name or int(index) for name, index in _PART.findall(key))
    try:
        node = compose_bounded(value_text, label, prefix=key, with_lines=False)
    except yaml.MarkedYAMLError as e:
        detail = ", ".join(p for p in (e.context, e.problem) if p)
        raise ScenarioError(label, key, f"invalid YAML: {detail}") from None
    except yaml.YAMLError as e:  # e.g. a control character
        raise ScenarioError(label, key, f"invalid YAML: {e}") from None
    return SetEdit(label, key, path, node if node is not None else ScalarNode(NULL_TAG, ""))


def _shown(text: str, key: str) -> str:
    """The set as messages show it: the value hidden when it might be the secret."""
    if "secret" in text.lower() and key not in _SECRET_SOURCES:
        return f"{key}={REDACTED}" if "=" in text else key
    return text


def apply_set(reader: NodeReader, root: Node, edit: SetEdit) -> Node:
    """The tree with ``edit`` applied (nodes are changed in place; the root may be replaced).

    The new nodes are marked as coming from the set (:meth:`NodeReader.mark_origin`).

    Raises:
        ScenarioError: ``[N]`` is no item of a list
            (``gates[3]: no such item (the file has 2 gates)``), or a part of the path
            is neither a mapping nor null, or not a list where ``[N]`` indexes it.
    """
    reader.mark_origin(edit.value, edit.label)
    return _put(reader, edit, root, 0, "")


def _put(reader: NodeReader, edit: SetEdit, node: Node | None, i: int, where: str) -> Node:
    """``node`` with the rest of ``edit.path`` (from part ``i``) set in it."""
    if i == len(edit.path):
        return edit.value
    part = edit.path[i]
    if isinstance(part, int):
        return _put_item(reader, edit, node, i, where)
    if node is None or is_null(node):
        node = MappingNode("tag:yaml.org,2002:map", [])
        reader.mark_origin(node, edit.label)
    if not isinstance(node, MappingNode):
        msg = f"expected a mapping to set {part!r} in, got {show(node)}"
        raise ScenarioError(edit.label, where, msg)
    key = _key_node(part)
    wanted = _construct(key)
    for n, (k_node, v_node) in enumerate(node.value):
        if isinstance(k_node, ScalarNode) and _construct(k_node) == wanted:
            node.value[n] = (k_node, _put(reader, edit, v_node, i + 1, join(where, part)))
            return node
    reader.mark_origin(key, edit.label)
    node.value.append((key, _put(reader, edit, None, i + 1, join(where, part))))
    return node


def _put_item(reader: NodeReader, edit: SetEdit, node: Node | None, i: int, where: str) -> Node:
    index = edit.path[i]
    assert isinstance(index, int)
    if node is not None and not is_null(node) and not isinstance(node, SequenceNode):
        msg = f"expected a list to index with [{index}], got {show(node)}"
        raise ScenarioError(edit.label, where, msg)
    items = node.value if isinstance(node, SequenceNode) else []
    if index >= len(items):
        noun = _ITEM_NOUNS.get(where.rsplit(".", 1)[-1].split("[")[0], "item")
        has = f"{len(items)} {noun}{'' if len(items) == 1 else 's'}" if items else f"no {noun}s"
        raise ScenarioError(edit.label, f"{where}[{index}]", f"no such item (the file has {has})")
    assert isinstance(node, SequenceNode)
    items[index] = _put(reader, edit, items[index], i + 1, f"{where}[{index}]")
    return node


def _key_node(name: str) -> ScalarNode:
    """A mapping key as the file would spell it: ``4401`` is the integer, ``users`` text."""
    resolver = yaml.SafeLoader("")
    tag: str = resolver.resolve(ScalarNode, name, (True, False))  # type: ignore[no-untyped-call]
    return ScalarNode(tag, name)


def _construct(node: ScalarNode) -> object:
    """The key's value for matching (an unconstructible key matches nothing)."""
    try:
        return yaml.SafeLoader("").construct_object(node)
    except (yaml.YAMLError, ValueError):
        return object()
