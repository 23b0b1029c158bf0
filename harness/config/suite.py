"""Suite files (pure): which scenarios a suite runs, with which tags and overrides.

A suite is either a directory (every ``*.yaml`` scenario in it, by name) or a file::

    name: release-gate                 # optional; default: the file's name
    defaults:
      set: {target.url: "wss://staging.example/ws"}   # --set edits for every scenario
      secret_env: STAGING_JWT_SECRET   # or secret_file: PATH
    scenarios:
      - {file: smoke.yaml, tags: [smoke]}
      - {file: auth-matrix.yaml, tags: [auth], set: {load.duration: 20}}

Scenario paths are relative to the suite file. A scenario's ``set`` edits come after the
defaults' (the same key: the scenario's wins), each passed to its run as ``--set KEY=VALUE``
with VALUE the YAML as written. The file is read like a scenario (bounded, strict, every
mistake with its file, line and key), and every scenario is then checked with its edits, so
a typo in the third scenario stops the suite before the first one runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from harness.config.checks import NAME, SHORT_TEXT, VARIABLE_NAME, Check
from harness.config.loader import compose_file, load_scenario
from harness.config.nodes import NodeReader, Table
from harness.errors import HarnessError, ScenarioError, ScenarioErrors

#: The most scenarios a suite may name.
MAX_SUITE_SCENARIOS = 200
#: The most tags of one scenario, and ``--set`` edits of one scenario or the defaults.
MAX_TAGS = 32
MAX_SETS = 64
TAG = Check("a tag (letters, digits, '-', '_', '.')", (str,), lambda v: _is_tag(v))


def _is_tag(v: str) -> bool:
    return 0 < len(v) <= 64 and all(c.isalnum() or c in "-_." for c in v)


@dataclass(frozen=True)
class SuiteScenario:
    """One scenario of a suite.

    Attributes:
        file: the scenario file (resolved against the suite file's folder).
        shown: the path as the suite names it, for messages and the report.
        tags: its tags, for ``--tags``.
        sets: ``KEY=VALUE`` edits for its run: the defaults', then its own.
        planned_s: its run's planned duration (``load.duration`` with the edits), once
            :func:`load_suite` has checked it.
    """

    file: Path
    shown: str
    tags: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    planned_s: float = 0.0


@dataclass(frozen=True)
class Suite:
    """A suite: its name, where it came from, its scenarios in order, and the secret source
    every scenario's run is given (None: each scenario's own ``auth.secret``)."""

    name: str
    source: str
    scenarios: tuple[SuiteScenario, ...]
    secret_env: str | None = None
    secret_file: str | None = None

    def tagged(self, tags: Iterable[str]) -> tuple[SuiteScenario, ...]:
        """The scenarios with at least one of ``tags`` (all of them when ``tags`` is empty)."""
        wanted = set(tags)
        return tuple(s for s in self.scenarios if not wanted or wanted & set(s.tags))

    @property
    def tags(self) -> tuple[str, ...]:
        """Every tag used, sorted."""
        return tuple(sorted({t for s in self.scenarios for t in s.tags}))


def load_suite(
    path: str | Path, extra_sets: Sequence[str] = (), *, allow_hosts: Sequence[str] = ()
) -> Suite:
    """Read and check a suite (a directory or a suite file), and every scenario it names with
    its edits (and ``extra_sets``, the command line's, after them) and ``allow_hosts``
    (``--allow-host``).

    Raises:
        ScenarioError: the one mistake (file, line and key);
        ScenarioErrors: several (the suite file's first, then each scenario's).
        HarnessError: a directory with no scenario in it.
    """
    source = os.fspath(path)
    suite = _from_dir(Path(source)) if Path(source).is_dir() else _from_file(source)
    checked: list[SuiteScenario] = []
    errors: list[ScenarioError] = []
    for s in suite.scenarios:
        sets = (*s.sets, *extra_sets)
        try:
            planned = load_scenario(s.file, sets, allow_hosts=allow_hosts).load.duration
        except ScenarioErrors as exc:
            errors += (_in_suite(suite, s, e) for e in exc.errors)
            continue
        except ScenarioError as exc:
            errors.append(_in_suite(suite, s, exc))
            continue
        checked.append(SuiteScenario(s.file, s.shown, s.tags, sets, planned))
    suite = Suite(suite.name, suite.source, tuple(checked), suite.secret_env, suite.secret_file)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ScenarioErrors(errors)
    return suite


def _in_suite(suite: Suite, entry: SuiteScenario, error: ScenarioError) -> ScenarioError:
    """A mistake of an edit (``set``) names the suite and the scenario it was made for."""
    if error.path == os.fspath(entry.file):
        return error
    return ScenarioError(f"{suite.source}: {entry.shown}: {error.path}", error.key, error.msg)


def _from_dir(folder: Path) -> Suite:
    files = sorted(p for p in folder.glob("*.yaml") if p.is_file() and _is_scenario(p))
    if not files:
        raise HarnessError(f"{folder}: no scenario file (*.yaml with a 'name') in this directory")
    return Suite(
        folder.resolve().name,
        os.fspath(folder),
        tuple(SuiteScenario(p, os.fspath(p)) for p in files[:MAX_SUITE_SCENARIOS]),
    )


def _is_scenario(p: Path) -> bool:
    """A YAML file whose top level is a mapping with ``name`` and without ``scenarios``
    (a suite file in the same directory is not one of its scenarios)."""
    try:
        root = compose_file(os.fspath(p))
    except ScenarioError:
        return True  # a broken scenario: the check of the suite names its mistake
    if not isinstance(root, MappingNode):
        return True
    keys = {k.value for k, _ in root.value if isinstance(k, ScalarNode)}
    return "scenarios" not in keys


def _from_file(source: str) -> Suite:
    root = compose_file(source)
    reader = NodeReader(source)
    folder = Path(source).parent
    suite = None
    with reader.each():
        v = reader.fields("", root, _TOP, required=("scenarios",))
        defaults = v.get("defaults", {})
        base = defaults.get("set", ())
        scenarios = []
        for i, (shown, tags, sets) in enumerate(v["scenarios"]):
            p = Path(shown).expanduser()
            p = p if p.is_absolute() else Path(os.path.normpath(folder / p))
            if not p.is_file():
                node = reader.keys[f"scenarios[{i}].file"][1]
                reader.record(reader.error(f"scenarios[{i}].file", f"no such file: {p}", node))
                continue
            scenarios.append(SuiteScenario(p, shown, tags, (*base, *sets)))
        name = v.get("name") or Path(source).stem
        suite = Suite(
            name,
            source,
            tuple(scenarios),
            defaults.get("secret_env"),
            defaults.get("secret_file"),
        )
    if len(reader.errors) == 1:
        raise reader.errors[0]
    if reader.errors:
        raise ScenarioErrors(reader.errors)
    assert suite is not None
    return suite


def _sets(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    """A mapping of ``KEY.PATH: VALUE`` as ``KEY.PATH=VALUE`` texts (the value's YAML)."""
    out = []
    with r.whole():
        items = r.mapping(key, node, None)
        if len(items) > MAX_SETS:
            raise r.error(key, f"expected at most {MAX_SETS} edits, got {len(items)}", node)
        for k, value in items.items():
            with r.each():
                path = r.value(f"{key}.{k}", ScalarNode("tag:yaml.org,2002:str", str(k)), NAME)
                text = yaml.serialize(value, None, width=1 << 16)
                text = text.removesuffix("...\n").strip()
                out.append(f"{path}={text}")
    return tuple(out)


def _tags(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    out: list[str] = []
    with r.whole():
        items = r.sequence(key, node, "a list of tags")
        if len(items) > MAX_TAGS:
            raise r.error(key, f"expected at most {MAX_TAGS} tags, got {len(items)}", node)
        for i, item in enumerate(items):
            with r.each():
                if (tag := r.value(f"{key}[{i}]", item, TAG)) not in out:
                    out.append(tag)
    return tuple(out)


def _defaults(r: NodeReader, key: str, node: Node) -> dict[str, object]:
    v: dict[str, object] = r.fields(key, node, _DEFAULTS)
    if "secret_env" in v and "secret_file" in v:
        raise r.error(key, "expected at most one of secret_env, secret_file, got both", node)
    return v


_Entry = tuple[str, tuple[str, ...], tuple[str, ...]]


def _entry(r: NodeReader, key: str, node: Node) -> _Entry:
    v = r.fields(key, node, _ENTRY, required=("file",))
    return v["file"], v.get("tags", ()), v.get("set", ())


def _scenarios(r: NodeReader, key: str, node: Node) -> list[_Entry]:
    out = []
    with r.whole():
        items = r.sequence(key, node, "a list of scenarios ({file: PATH, tags: [...], set: {...}})")
        if not items or len(items) > MAX_SUITE_SCENARIOS:
            msg = f"expected 1 to {MAX_SUITE_SCENARIOS} scenarios, got {len(items)}"
            raise r.error(key, msg, node)
        for i, item in enumerate(items):
            with r.each():
                out.append(_entry(r, f"{key}[{i}]", item))
    return out


_DEFAULTS: Table = {"set": _sets, "secret_env": VARIABLE_NAME, "secret_file": NAME}
_ENTRY: Table = {"file": NAME, "tags": _tags, "set": _sets}
_TOP: Table = {
    "name": SHORT_TEXT,
    "description": Check("a text", (str,), lambda v: True),
    "defaults": _defaults,
    "scenarios": _scenarios,
}
