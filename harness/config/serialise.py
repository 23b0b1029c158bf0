"""A scenario back to plain data (``scenario.json`` of a run), and its gates read back.

:func:`scenario_to_dict` gives the YAML schema's shape with every default filled in;
dumped as YAML (without its ``source`` key) it loads back into an equal scenario.
:func:`gates_from_dicts` checks the ``gates`` of such a dict as strictly as the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import Any, cast

import yaml
from yaml.nodes import Node

from harness.config import scenario as sc
from harness.config.nodes import NodeReader
from harness.config.sections import EXTERNAL_ONLY, FLOW_REPLACES, parse_gates
from harness.errors import ScenarioError, ScenarioErrors


def _plain(v: Any) -> Any:
    """Dataclasses, mappings and tuples as plain dicts and lists."""
    if is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    return [_plain(x) for x in v] if isinstance(v, list | tuple) else v


def scenario_to_dict(s: sc.Scenario) -> dict[str, Any]:
    """The resolved scenario as plain data: the YAML schema's shape, defaults filled in.

    The secret appears only as where it comes from (``{"env": NAME}``, ``{"file": PATH}``,
    or None: generated per run). Without its ``source`` key, the dict dumped as YAML
    loads back into an equal scenario.
    """
    t, ses, secret = s.target, s.load.session, s.auth.secret
    if t.embedded is None:
        external = {k: _plain(getattr(t, k)) for k in EXTERNAL_ONLY if getattr(t, k) is not None}
        target: dict[str, Any] = {"url": t.url, **external}
    else:
        target = {"embedded": _plain(t.embedded), "path": t.path}
    target["allow_hosts"] = list(t.allow_hosts)
    target["heartbeat_interval"] = t.heartbeat_interval
    target["expect"] = _plain(t.expect)
    if t.protocol != sc.Target.protocol:  # target.socketio is only taken with the protocol
        target["protocol"] = t.protocol
        target["socketio"] = _plain(t.socketio)
    where = {k: v for k, v in _plain(secret).items() if v} or None
    replaced = FLOW_REPLACES if ses.flow or ses.hook is not None else ()  # would be errors
    session = {k: v for k, v in _plain(ses).items() if k not in ("wait_min", "wait_max", *replaced)}
    return {
        "name": s.name,
        "source": s.source,
        "description": s.description,
        "target": {
            **target,
            "close_codes": dict(sorted(t.close_codes.items())),
            "http_statuses": dict(sorted(t.http_statuses.items())),
        },
        "auth": {**_plain(s.auth), "secret": where},
        "load": {
            **_plain(s.load),
            "session": {
                **session,
                "wait": [ses.wait_min, ses.wait_max],
                "flow": [_step_dict(x) for x in ses.flow],
            },
            "reconnect": {k: v for k, v in _plain(s.load.reconnect).items() if k != "preset" or v},
            # null: no stages; a stage's unset keys are absent (users or rate, never both)
            "stages": [{k: v for k, v in _plain(x).items() if v is not None} for x in s.load.stages]
            or None,
        },
        "gates": [{k: v for k, v in _plain(g).items() if v is not None} for g in s.gates],
        "chaos": [_window_dict(c) for c in s.chaos],
    }


def _step_dict(step: sc.FlowStep) -> dict[str, Any]:
    """A flow step as written: only the keys of its kind (an unset key is absent, not null)."""
    out: dict[str, Any] = {}
    for f in fields(step):
        v = getattr(step, f.name)
        if f.name == "steps" and v:
            out["steps"] = [_step_dict(x) for x in v]
        elif f.name != "steps" and v is not None:
            out[f.name] = _plain(v)
    return out


def _window_dict(c: sc.ChaosEntry) -> dict[str, Any]:
    out: dict[str, Any] = {"fault": c.fault, "at": c.at}
    if c.duration is not None:
        out["for"] = c.duration
    if c.optional:
        out["optional"] = True
    return {**out, **dict(c.params)}


def gates_from_dicts(
    items: Sequence[Mapping[str, Any]], source: str = "scenario.json"
) -> tuple[sc.Gate, ...]:
    """Gates from the ``"gates"`` list of :func:`scenario_to_dict`, checked like the YAML.

    Args:
        items: dicts with ``name``, ``metric``, ``op``, ``threshold`` and optionally
            ``token_kind``, ``phase``, ``fault``, ``severity`` (None or absent: not set).
        source: the file they were read from, for messages.

    Raises:
        ScenarioError: an item is not a valid gate; the message names ``gates[N].key``.
        ScenarioErrors: several mistakes.
    """
    try:
        plain = [{k: v for k, v in g.items() if v is not None} for g in items]
        node = yaml.compose(yaml.safe_dump(plain), Loader=yaml.SafeLoader)
    except (AttributeError, TypeError, yaml.YAMLError):
        raise ScenarioError(source, "gates", "expected a list of mappings") from None
    reader = NodeReader(source, with_lines=False)
    gates: tuple[sc.Gate, ...] = ()
    with reader.each():
        gates = parse_gates(reader, "gates", cast(Node, node))
    if len(reader.errors) == 1:
        raise reader.errors[0]
    if reader.errors:
        raise ScenarioErrors(reader.errors)
    return gates
