"""Strict scenario loading: a YAML file in, a frozen :class:`~harness.config.scenario.Scenario` out.

Every mistake is a :class:`~harness.errors.ScenarioError` naming the file as given, the
dotted key path (list items as ``gates[1]``) and the line, e.g.
``scenarios/x.yaml:12: load.mix.expired: expected a number >= 0, got 'ten'``.

Rules are data: each section is a table from its keys to a :class:`_Check` (pure: a
Python value in, the checked value out, shared with :func:`apply_overrides`) or to a
parser of a nested YAML node. The signing secret is never read while loading, only
where it comes from; :func:`resolve_secret` reads it and never puts it in a message.
``docs/scenario.md`` documents every key.

The checks and the node walker (:class:`_Ctx`) are in :mod:`harness.config.checks`, the
section tables and their parsers in :mod:`harness.config.sections`; this module holds the
public API.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.nodes import Node

from harness.config import scenario as sc
from harness.config.checks import _AT_LEAST_ONE, _DEFECT, _POSITIVE, _URL, _Check, _Ctx, _Invalid
from harness.config.sections import _EXTERNAL_ONLY, _TOP, RATE_METRICS, TIME_CLAIMS, _gates
from harness.errors import HarnessError, ScenarioError

__all__ = [
    "RATE_METRICS",
    "TIME_CLAIMS",
    "apply_overrides",
    "gates_from_dicts",
    "load_scenario",
    "resolve_secret",
    "scenario_to_dict",
]

# --- Public API ---------------------------------------------------------------------------


def load_scenario(path: str | Path) -> sc.Scenario:
    """Read and check a scenario file (schema: ``docs/scenario.md``).

    Args:
        path: the YAML file; messages name it exactly as given.

    Raises:
        ScenarioError: the file is unreadable, not YAML, or breaks a rule of the schema.
    """
    source = os.fspath(path)
    try:
        root = yaml.compose(Path(source).read_bytes(), Loader=yaml.SafeLoader)
    except OSError as e:
        raise ScenarioError(source, "", f"cannot read: {e.strerror or e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        detail = ", ".join(p for p in (e.context, e.problem) if p)
        line = mark.line + 1 if mark else None
        raise ScenarioError(source, "", f"invalid YAML: {detail}", line) from None
    except yaml.reader.ReaderError as e:  # bytes that are not text, or a control character
        what = f"character #x{e.character:04x}" if e.encoding == "unicode" else "byte"
        msg = f"invalid YAML: {what} at position {e.position}: {e.reason}"
        raise ScenarioError(source, "", msg) from None
    if root is None:
        raise ScenarioError(source, "", "empty file; expected a mapping with at least 'name'")
    ctx = _Ctx(source)
    scenario = sc.Scenario(source=source, **ctx.fields("", root, _TOP, required=("name",)))
    kinds = {k for k, w in scenario.load.mix.items() if w > 0}
    kinds |= {"valid"} if "expired_reused" in kinds else set()  # its first use counts as valid
    for i, gate in enumerate(scenario.gates):
        if gate.token_kind is not None and gate.token_kind not in kinds:
            msg = f"{gate.token_kind!r} is not in load.mix, so this gate would have no attempts"
            raise ctx.error(f"gates[{i}].token_kind", msg)
        _check_gate_refs(ctx, scenario, i, gate)
    for i, entry in enumerate(scenario.chaos):
        if entry.at >= scenario.load.duration:
            msg = f"starts after the run ends (load.duration is {scenario.load.duration:g} s)"
            raise ctx.error(f"chaos[{i}].at", msg)
    return scenario


def _check_gate_refs(ctx: _Ctx, scenario: sc.Scenario, i: int, gate: sc.Gate) -> None:
    """A gate's phase and fault must name windows of this scenario's chaos list."""
    labels = [w.label for w in scenario.chaos]
    known = ", ".join(labels) or "none: this scenario has no chaos"
    if gate.metric == "recovery_s" and gate.fault is None:
        raise ctx.error(f"gates[{i}].fault", f"required for recovery_s; windows: {known}")
    if gate.metric == "findings" and gate.severity is None:
        raise ctx.error(
            f"gates[{i}].severity", f"required for findings; one of {', '.join(sc.SEVERITIES)}"
        )
    if gate.fault is not None and gate.fault not in labels:
        raise ctx.error(
            f"gates[{i}].fault", f"unknown chaos window {gate.fault!r}; windows: {known}"
        )
    if gate.phase and gate.phase != "baseline":
        label = gate.phase.split(" ", 1)[1]
        if not all(part in labels for part in label.split(" + ")):
            msg = f"unknown chaos window in {gate.phase!r}; windows: {known}"
            raise ctx.error(f"gates[{i}].phase", msg)


def _flag(flag: str, check: _Check, value: object) -> Any:
    try:
        return check(value)
    except _Invalid as e:
        raise HarnessError(f"{flag}: {e}") from None


def apply_overrides(
    s: sc.Scenario,
    *,
    duration: float | None = None,
    users: int | None = None,
    spawn_rate: float | None = None,
    target_url: str | None = None,
    defects: Sequence[str] = (),
) -> sc.Scenario:
    """A copy of ``s`` with command-line overrides, checked like the YAML keys.

    Args:
        s: the loaded scenario.
        duration: ``--duration``, seconds (> 0).
        users: ``--users``, concurrent users (integer >= 1).
        spawn_rate: ``--spawn-rate``, users started per second (> 0).
        target_url: ``--target-url``, a ws:// or wss:// URL that replaces the target
            (the scenario's close-code table is kept).
        defects: ``--defect`` names, added to the embedded target's defects.

    Raises:
        HarnessError: a value is invalid; the message names the flag.
    """
    load, target = s.load, s.target
    if duration is not None:
        load = replace(load, duration=_flag("--duration", _POSITIVE, duration))
    if users is not None:
        load = replace(load, users=_flag("--users", _AT_LEAST_ONE, users))
    if spawn_rate is not None:
        load = replace(load, spawn_rate=_flag("--spawn-rate", _POSITIVE, spawn_rate))
    if target_url is not None:
        url = _flag("--target-url", _URL, target_url)
        target = sc.Target(url=url, close_codes=target.close_codes)
    if defects:
        if target.embedded is None:
            msg = f"only the embedded target has defects; this scenario targets {target.url}"
            raise HarnessError(f"--defect: {msg}")
        added = [_flag("--defect", _DEFECT, d) for d in defects]
        merged = tuple(dict.fromkeys([*target.embedded.defects, *added]))
        target = replace(target, embedded=replace(target.embedded, defects=merged))
    return replace(s, load=load, target=target)


def resolve_secret(s: sc.Scenario) -> str | None:
    """The signing secret named by ``auth.secret``, or None: generate one for this run.

    A relative ``file`` is resolved against the scenario file's directory, and its
    trailing newline is stripped. No message ever contains the secret.

    Raises:
        ScenarioError: the variable is unset or empty, the file is unreadable or empty,
            or no secret is named although the target is an external URL.
    """
    sec = s.auth.secret
    if sec.env:
        if not (value := os.environ.get(sec.env)):
            state = "is not set" if value is None else "is empty"
            msg = f"environment variable {sec.env} {state}"
            raise ScenarioError(s.source, "auth.secret.env", msg)
        return value
    if sec.file:
        p = Path(sec.file).expanduser()
        p = p if p.is_absolute() else Path(s.source).parent / p
        try:
            value = p.read_bytes().decode("utf-8").rstrip("\r\n")
        except OSError as e:
            msg = f"cannot read {p}: {e.strerror or type(e).__name__}"
            raise ScenarioError(s.source, "auth.secret.file", msg) from None
        except UnicodeDecodeError:  # its message would quote a byte of the secret
            raise ScenarioError(s.source, "auth.secret.file", f"{p} is not UTF-8 text") from None
        if not value:
            raise ScenarioError(s.source, "auth.secret.file", f"{p} is empty")
        return value
    if not s.target.is_embedded:
        msg = "required for an external target (give env: NAME or file: PATH)"
        raise ScenarioError(s.source, "auth.secret", msg)
    return None


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
        external = {k: getattr(t, k) for k in _EXTERNAL_ONLY if getattr(t, k) is not None}
        target: dict[str, Any] = {"url": t.url, **external}
    else:
        target = {"embedded": _plain(t.embedded)}
    if t.embedded is not None:
        target["path"] = t.path
    where = {k: v for k, v in _plain(secret).items() if v} or None
    session = {k: v for k, v in _plain(ses).items() if k not in ("wait_min", "wait_max")}
    return {
        "name": s.name,
        "source": s.source,
        "description": s.description,
        "target": {**target, "close_codes": dict(sorted(t.close_codes.items()))},
        "auth": {**_plain(s.auth), "secret": where},
        "load": {**_plain(s.load), "session": {**session, "wait": [ses.wait_min, ses.wait_max]}},
        "gates": [{k: v for k, v in _plain(g).items() if v is not None} for g in s.gates],
        "chaos": [_window_dict(c) for c in s.chaos],
    }


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
            ``token_kind`` (None or absent: all kinds).
        source: the file they were read from, for messages.

    Raises:
        ScenarioError: an item is not a valid gate; the message names ``gates[N].key``.
    """
    try:
        plain = [{k: v for k, v in g.items() if v is not None} for g in items]
        node = yaml.compose(yaml.safe_dump(plain), Loader=yaml.SafeLoader)
    except (AttributeError, TypeError, yaml.YAMLError):
        raise ScenarioError(source, "gates", "expected a list of mappings") from None
    return _gates(_Ctx(source, with_lines=False), "gates", cast(Node, node))
