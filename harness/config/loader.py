"""Strict scenario loading: a YAML file (and ``--set`` edits) in, a frozen Scenario out.

Every mistake is a :class:`~harness.errors.ScenarioError` naming the file as given, the
line and the dotted key path (list items as ``gates[1]``), e.g.
``scenarios/x.yaml:12: load.mix.expired: expected a number >= 0, got 'ten'``; a mistake
in a ``--set`` names the set instead of a line. One pass finds every mistake:
:func:`validate_scenario` returns them all, :func:`load_scenario` raises the one, or a
:class:`~harness.errors.ScenarioErrors` with all of them in file order.

The steps: the file (a regular file of at most :data:`MAX_SCENARIO_BYTES`) is composed
into YAML nodes, safe, with lines, within the bounds of :mod:`harness.config.compose`
(nesting, nodes, aliases); the ``--set`` edits are applied to the nodes
(:mod:`harness.config.sets`); the tree, aliases expanded, is measured once more; each
section is checked and built by its table (:mod:`harness.config.sections`); then this
module checks what sections say about each other (a gate's token kind must be in
``load.mix``, its phase and fault must name chaos windows, a window must start before the
run ends), and the guards (:mod:`harness.config.guards`: a target host outside loopback
must be allowed, a named target PID must be one the harness may touch). The signing
secret is never read here (see :mod:`harness.config.secret`). ``docs/scenario.md``
documents every key and bound.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from yaml.nodes import Node

from harness.config import scenario as sc
from harness.config.checks import HOST, Invalid
from harness.config.compose import check_expansion, compose_bounded
from harness.config.files import Unreadable, read_limited, size_text
from harness.config.guards import check_guards
from harness.config.metrics import GATE_METRICS
from harness.config.nodes import NodeReader
from harness.config.overrides import with_allowed_hosts
from harness.config.sections import TOP
from harness.config.sets import SetEdit, apply_set, parse_set
from harness.errors import ScenarioError, ScenarioErrors

#: The largest scenario file, in bytes (a scenario is a few KiB).
MAX_SCENARIO_BYTES = 1 << 20

# --- Public API ---------------------------------------------------------------------------


def load_scenario(
    path: str | Path, sets: Sequence[str] = (), *, allow_hosts: Sequence[str] = ()
) -> sc.Scenario:
    """Read and check a scenario file (schema: ``docs/scenario.md``).

    Args:
        path: the YAML file; messages name it exactly as given.
        sets: ``--set KEY.PATH=VALUE`` edits, applied in order to the file's YAML before
            it is checked (see :mod:`harness.config.sets`).
        allow_hosts: ``--allow-host HOST`` values: added to ``target.allow_hosts`` before
            the target URL (of the file or of a set) is checked.

    Raises:
        ScenarioError: the one mistake: the file is unreadable, too large, not YAML, or
            breaks a rule of the schema, or a set or an allowed host is malformed or
            breaks one.
        ScenarioErrors: several mistakes, all of them, in file order (then the sets',
            then the allowed hosts').
    """
    scenario, errors = _read(path, sets, allow_hosts)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ScenarioErrors(errors)
    assert scenario is not None
    return scenario


def validate_scenario(
    path: str | Path, sets: Sequence[str] = (), *, allow_hosts: Sequence[str] = ()
) -> list[ScenarioError]:
    """Every mistake of a scenario file and its sets, in file order; empty: it is valid.

    Takes the same arguments as :func:`load_scenario`, and never raises for a bad file.
    """
    return _read(path, sets, allow_hosts)[1]


# --- Steps --------------------------------------------------------------------------------


def _read(
    path: str | Path, sets: Sequence[str], allow_hosts: Sequence[str]
) -> tuple[sc.Scenario | None, list[ScenarioError]]:
    """The scenario (None when there are errors) and every error, in file order."""
    source = os.fspath(path)
    edits: list[SetEdit] = []
    set_errors: list[ScenarioError] = []
    order: dict[str, int] = {}  # a set's label -> its place on the command line
    for i, text in enumerate(sets):
        try:
            edits.append(edit := parse_set(text))
            order.setdefault(edit.label, i)
        except ScenarioError as e:
            set_errors.append(e)
            order.setdefault(e.path, i)
    hosts: list[str] = []
    host_errors: list[ScenarioError] = []
    for host in allow_hosts:
        try:
            hosts.append(HOST(host))
        except Invalid as e:
            host_errors.append(ScenarioError("--allow-host", "", str(e)))
    try:
        root = compose_file(source)
    except ScenarioError as e:
        return None, [e, *set_errors, *host_errors]
    reader = NodeReader(source)
    for edit in edits:
        with reader.each():
            root = apply_set(reader, root, edit)
    scenario = None
    with reader.each():
        check_expansion(reader, root)
        fields = reader.fields("", root, TOP, required=("name",))
        scenario = with_allowed_hosts(sc.Scenario(source=source, **fields), hosts)
    if scenario is not None and not reader.errors:
        check_references(reader, scenario)
        check_guards(reader, scenario)
    in_file = sorted((e for e in reader.errors if e.path == source), key=lambda e: e.line or 0)
    from_sets = sorted(
        [*set_errors, *(e for e in reader.errors if e.path != source)],
        key=lambda e: order.get(e.path, len(order)),
    )
    errors = [*in_file, *from_sets, *host_errors]
    return (scenario if not errors else None), errors


def compose_file(source: str) -> Node:
    """The YAML node tree of a file (lines kept; nothing constructed yet), within the bounds
    of :mod:`harness.config.compose`.

    Raises:
        ScenarioError: the file is unreadable, not a regular file, larger than
            :data:`MAX_SCENARIO_BYTES`, empty, not YAML (with the line when known), or
            beyond a bound (nesting, nodes, aliases: with the key and line).
    """
    try:
        data = read_limited(source, MAX_SCENARIO_BYTES)
    except Unreadable as e:
        if e.reason == (too_large := f"larger than {size_text(MAX_SCENARIO_BYTES)}"):
            raise ScenarioError(source, "", f"{too_large}, the limit of a scenario file") from None
        raise ScenarioError(source, "", f"cannot read: {e.reason}") from None
    try:
        root = compose_bounded(data, source)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        detail = ", ".join(p for p in (e.context, e.problem) if p)
        line = mark.line + 1 if mark else None
        raise ScenarioError(source, "", f"invalid YAML: {detail}", line) from None
    except yaml.reader.ReaderError as e:  # bytes that are not text, or a control character
        what = f"character #x{e.character:04x}" if e.encoding == "unicode" else "byte"
        msg = f"invalid YAML: {what} at position {e.position}: {e.reason}"
        raise ScenarioError(source, "", msg, _line_at(data, e)) from None
    if root is None:
        raise ScenarioError(source, "", "empty file; expected a mapping with at least 'name'")
    return root


def _line_at(data: bytes, e: yaml.reader.ReaderError) -> int:
    """The 1-based line of a reader error: its position counts characters of the decoded
    text for a character that is not allowed, bytes for bytes that do not decode."""
    if e.encoding != "unicode":
        return data.count(b"\n", 0, e.position) + 1
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8", errors="replace")
    return text.count("\n", 0, e.position) + 1


def check_references(reader: NodeReader, scenario: sc.Scenario) -> None:
    """Record errors where one section names what another must hold.

    A gate's ``token_kind`` must have a weight in ``load.mix``; its ``phase`` and
    ``fault`` must name windows of ``chaos``; ``recovery_s`` needs a ``fault`` and
    ``findings`` a ``severity``; a window must start before ``load.duration`` ends.
    """
    kinds = {k for k, w in scenario.load.mix.items() if w > 0}
    kinds |= {"valid"} if "expired_reused" in kinds else set()  # its first use counts as valid
    for i, gate in enumerate(scenario.gates):
        with reader.each():
            if gate.token_kind is not None and gate.token_kind not in kinds:
                msg = f"{gate.token_kind!r} is not in load.mix, so this gate would have no attempts"
                raise reader.error(f"gates[{i}].token_kind", msg)
            _check_gate_refs(reader, scenario, i, gate)
    _check_protocol(reader, scenario)
    ses = scenario.load.session
    if scenario.target.protocol == "socketio" and (ses.flow or ses.hook is not None):
        key = "load.session.flow" if ses.flow else "load.session.hook"
        msg = "speaks plain WebSocket, not Socket.IO; remove it, or target.protocol: websocket"
        reader.record(reader.error(key, msg))
    for i, entry in enumerate(scenario.chaos):
        if entry.at >= scenario.load.duration:
            msg = f"starts after the run ends (load.duration is {scenario.load.duration:g} s)"
            reader.record(reader.error(f"chaos[{i}].at", msg))


#: Token placements a Socket.IO client cannot use: the session is Engine.IO's, not ours.
NOT_SOCKETIO_PLACEMENTS: frozenset[str] = frozenset({"subprotocol", "first_message"})


def _check_protocol(reader: NodeReader, scenario: sc.Scenario) -> None:
    """The token placement must be one the target's protocol can carry."""
    target, placement = scenario.target, scenario.auth.placement
    embedded = target.embedded.placement if target.embedded else None
    socketio = target.protocol == "socketio"
    for key, where in (("auth.placement", placement), ("target.embedded.placement", embedded)):
        with reader.each():
            if where == "socketio_auth" and not socketio:
                raise reader.error(key, "socketio_auth needs target.protocol: socketio")
            if where in NOT_SOCKETIO_PLACEMENTS and socketio:
                msg = (
                    f"{where} cannot carry a token to a Socket.IO service; "
                    "use socketio_auth, query, header or cookie"
                )
                raise reader.error(key, msg)


def _check_gate_refs(reader: NodeReader, scenario: sc.Scenario, i: int, gate: sc.Gate) -> None:
    """A gate's phase, relative_to and fault must name windows of this scenario's chaos list."""
    labels = [w.label for w in scenario.chaos]
    known = ", ".join(labels) or "none: this scenario has no chaos"
    scope = GATE_METRICS[gate.metric].scope
    if scope == "recovery" and gate.fault is None:
        raise reader.error(f"gates[{i}].fault", f"required for {gate.metric}; windows: {known}")
    if scope == "findings" and gate.severity is None:
        raise reader.error(
            f"gates[{i}].severity",
            f"required for {gate.metric}; one of {', '.join(sc.SEVERITIES)}",
        )
    if gate.fault is not None and gate.fault not in labels:
        raise reader.error(
            f"gates[{i}].fault", f"unknown chaos window {gate.fault!r}; windows: {known}"
        )
    for key, phase in (("phase", gate.phase), ("relative_to", gate.relative_to)):
        if phase and phase != "baseline":
            label = phase.split(" ", 1)[1]
            if not all(part in labels for part in label.split(" + ")):
                msg = f"unknown chaos window in {phase!r}; windows: {known}"
                raise reader.error(f"gates[{i}].{key}", msg)
