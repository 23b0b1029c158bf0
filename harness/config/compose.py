"""YAML text to a node tree, bounded: nesting depth, nodes, aliases, and what aliases expand to.

A scenario is a few hundred YAML nodes, a few levels deep. Without bounds, a small file can
cost minutes and gigabytes: nine levels of ten aliases each ("billion laughs") expand to a
billion nodes when walked, a recursive alias never ends, and a document nested a few
thousand levels deep overflows the composer's recursion. So:

- :func:`compose_bounded` composes YAML (safe, lines kept) and stops at the first collection
  nested deeper than :data:`MAX_DEPTH`, at node number :data:`MAX_NODES` + 1 and at alias
  number :data:`MAX_ALIASES` + 1, each a :class:`~harness.errors.ScenarioError` with the
  key path and line where it happened (it fails fast: the rest is not parsed).
- :func:`check_expansion` measures the tree as a walker sees it, every alias expanded
  (the whole tree, after ``--set`` edits): more than :data:`MAX_NODES` nodes, deeper than
  :data:`MAX_DEPTH`, or an alias inside its own anchor is an error at the smallest key whose
  value is too large (``auth.claims.d: expands to more than 10000 nodes through aliases``).
  Each node is measured once, so this costs one pass over the composed nodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config.nodes import NodeReader, join
from harness.errors import ScenarioError

#: Deepest nesting of mappings and lists (the top-level mapping is level 1).
MAX_DEPTH = 64
#: Most YAML nodes (keys, values, items) a document may hold, aliases expanded.
MAX_NODES = 10_000
#: Most aliases (``*name``) a document may use.
MAX_ALIASES = 100


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer that counts as it goes and knows the key path it is at."""

    def __init__(self, text: str | bytes, source: str, prefix: str, with_lines: bool) -> None:
        super().__init__(text)
        self.source, self.with_lines = source, with_lines
        self.paths: list[str] = [prefix]  # key path of each collection being composed
        self.nodes = self.aliases = 0

    def _path(self, parent: Node | None, index: Any) -> str:
        """The key path of the node composed next, from its parent and its index in it."""
        at = self.paths[-1]
        if parent is None or index is None:  # the root, or a mapping key
            return at
        if isinstance(index, int):
            return f"{at}[{index}]"
        return join(at, index.value) if isinstance(index, ScalarNode) else at

    def _bound(self, path: str, msg: str) -> ScenarioError:
        line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
        return ScenarioError(self.source, path, msg, line if self.with_lines else None)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        path = self._path(parent, index)
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise self._bound(path, f"more than {MAX_ALIASES} aliases (*name)")
            return super().compose_node(parent, index)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self._bound(path, f"more than {MAX_NODES} YAML nodes (a scenario is far smaller)")
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        if len(self.paths) > MAX_DEPTH:  # paths: the prefix, then one per open collection
            raise self._bound(path, f"nested deeper than {MAX_DEPTH} levels")
        self.paths.append(path)
        try:
            return super().compose_node(parent, index)
        finally:
            self.paths.pop()


def compose_bounded(
    text: str | bytes, source: str, *, prefix: str = "", with_lines: bool = True
) -> Node | None:
    """The node tree of one YAML document (None: the document is empty), within the bounds.

    Args:
        text: the YAML (bytes are decoded as YAML says: UTF-8, or UTF-16 with a BOM).
        source: what messages name: the file, or the ``--set`` it came from.
        prefix: the key path of the document's root (a set's key, e.g. ``auth.claims``).
        with_lines: put line numbers in bound errors (False for a set: one line, no file).

    Raises:
        ScenarioError: nested deeper than :data:`MAX_DEPTH`, more than :data:`MAX_NODES`
            nodes or :data:`MAX_ALIASES` aliases (naming the key path and line).
        yaml.YAMLError: not YAML (the caller words it: it knows the source).
    """
    loader = _BoundedLoader(text, source, prefix, with_lines)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _children(node: Node, path: str) -> Iterator[tuple[Node, str, Node]]:
    """Each child of a collection: the node, its key path, and the node to locate it by."""
    if isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            yield item, f"{path}[{i}]", item
    elif isinstance(node, MappingNode):
        for k_node, v_node in node.value:
            sub = join(path, k_node.value) if isinstance(k_node, ScalarNode) else path
            yield k_node, path, k_node
            yield v_node, sub, k_node


def check_expansion(reader: NodeReader, root: Node, prefix: str = "") -> None:
    """The tree, every alias expanded, is at most :data:`MAX_NODES` nodes and
    :data:`MAX_DEPTH` levels, and no alias is inside its own anchor.

    Nodes are measured in document order, so an anchored value is measured where it is
    defined, and the error names the first (smallest) key whose value alone is too large.

    Raises:
        ScenarioError: at that key (its line, or the ``--set`` it came from).
    """
    size: dict[int, int] = {}  # id(node) -> nodes in it, aliases expanded (itself included)
    depth: dict[int, int] = {}  # id(node) -> levels of collections in it
    open_: set[int] = set()  # the nodes whose measuring is under way: the current path
    stack: list[tuple[Node, str, Node, bool]] = [(root, prefix, root, False)]
    while stack:
        node, path, at, measured = stack.pop()
        key = id(node)
        if measured:
            open_.discard(key)
            kids = [id(c) for c, _, _ in _children(node, path)]
            size[key] = 1 + sum(size[k] for k in kids)
            depth[key] = 1 + max((depth[k] for k in kids), default=0)
            if size[key] > MAX_NODES:
                raise reader.error(
                    path, f"expands to more than {MAX_NODES} nodes through aliases", at
                )
            if depth[key] > MAX_DEPTH:
                raise reader.error(
                    path, f"nested deeper than {MAX_DEPTH} levels through aliases", at
                )
            continue
        if key in size:
            continue
        if key in open_:
            raise reader.error(path, "an alias inside its own anchor (it would never end)", at)
        if isinstance(node, ScalarNode):
            size[key], depth[key] = 1, 0
            continue
        open_.add(key)
        stack.append((node, path, at, True))
        stack.extend((c, p, a, False) for c, p, a in reversed(list(_children(node, path))))
