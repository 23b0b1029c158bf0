"""Strict scenario loading: a YAML file in, a frozen :class:`~harness.scenario.Scenario` out.

Every mistake is a :class:`~harness.errors.ScenarioError` naming the file as given, the
dotted key path (list items as ``gates[1]``) and the line, e.g.
``scenarios/x.yaml:12: load.mix.expired: expected a number >= 0, got 'ten'``.

Rules are data: each section is a table from its keys to a :class:`_Check` (pure: a
Python value in, the checked value out, shared with :func:`apply_overrides`) or to a
parser of a nested YAML node. The signing secret is never read while loading, only
where it comes from; :func:`resolve_secret` reads it and never puts it in a message.
``docs/scenario.md`` documents every key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness import scenario as sc
from harness.errors import HarnessError, ScenarioError
from harness.outcomes import APP_CLOSE_CLASSES, TOKEN_KINDS

#: Gate metrics that are shares in [0, 1]: a threshold of 99 there is a percent by mistake.
RATE_METRICS: frozenset[str] = frozenset({"success_rate", "abrupt_rate", "graceful_share"})
#: Claims the token minter sets per token kind; a fixed value would break the kinds.
TIME_CLAIMS: frozenset[str] = frozenset({"exp", "nbf", "iat"})
_MAX_DEPTH = 32  # nesting limit of claim values (a recursive YAML alias would never end)

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


def _defects(ctx: _Ctx, key: str, node: Node) -> tuple[str, ...]:
    out: list[str] = []
    for i, item in enumerate(ctx.sequence(key, node, "a list of defect names")):
        if (name := ctx.value(f"{key}[{i}]", item, _DEFECT)) in out:
            raise ctx.error(f"{key}[{i}]", f"{name!r} is listed twice", item)
        out.append(name)
    return tuple(out)


def _embedded(ctx: _Ctx, key: str, node: Node) -> sc.EmbeddedTarget:
    if isinstance(node, ScalarNode) and not _is_null(node):
        ctx.value(key, node, _Check("a mapping of options or true", (bool,), bool))
        return sc.EmbeddedTarget()
    return sc.EmbeddedTarget(**ctx.fields(key, node, _EMBEDDED))


def _close_codes(ctx: _Ctx, key: str, node: Node) -> Mapping[int, str]:
    classes, out = _one_of(APP_CLOSE_CLASSES), {}
    for k, v_node in ctx.mapping(key, node, None).items():
        try:
            code = _CLOSE_CODE(k)
        except _Invalid as e:
            raise ctx.error(_join(key, k), str(e)) from None
        out[code] = ctx.value(_join(key, k), v_node, classes)
    return MappingProxyType(out)


def _target(ctx: _Ctx, key: str, node: Node) -> sc.Target:
    v = ctx.fields(key, node, _TARGET)
    if ("embedded" in v) == ("url" in v):
        got = "both" if "url" in v else "neither"
        raise ctx.error(key, f"expected exactly one of embedded, url, got {got}", node)
    if "url" in v and "path" in v:
        raise ctx.error(f"{key}.path", "only used with the embedded target; put the path in url")
    for name in _EXTERNAL_ONLY:
        if name in v and "embedded" in v:
            raise ctx.error(f"{key}.{name}", "only for a url target (the embedded one is known)")
    if "pid" in v and "pid_file" in v:
        raise ctx.error(key, "expected at most one of pid, pid_file, got both", node)
    return sc.Target(**v)


def _param_check(f: Any) -> _Check:
    """The check of one fault parameter, from its dataclass field and ``param()`` metadata."""
    from harness.chaos.base import fmt_num

    meta, default = f.metadata, f.default
    if meta.get("choices"):
        return _one_of(meta["choices"])
    if isinstance(default, bool):
        return _Check("true or false", (bool,))
    lo, hi, lo_open = meta.get("low"), meta.get("high"), meta.get("low_open", False)
    integer = isinstance(default, int) or f.type in ("int", int)
    what = "an integer" if integer else "a number"
    if lo is not None and hi is not None:
        what += f" in {'(' if lo_open else '['}{fmt_num(lo)}, {fmt_num(hi)}]"
    elif lo is not None:
        what += f" {'>' if lo_open else '>='} {fmt_num(lo)}"
    elif hi is not None:
        what += f" <= {fmt_num(hi)}"
    if meta.get("unit"):
        what += f" ({meta['unit']})"

    def ok(v: float) -> bool:
        low_ok = lo is None or (v > lo if lo_open else v >= lo)
        return low_ok and (hi is None or v <= hi)

    return _Check(what, (int,) if integer else _NUM, ok)


_WINDOW: _Table = {
    "fault": _NAME,
    "at": _NON_NEGATIVE,
    "for": _POSITIVE,
    "optional": _Check("true or false", (bool,)),
}


def _chaos(ctx: _Ctx, key: str, node: Node) -> tuple[sc.ChaosEntry, ...]:
    from harness.chaos import load_faults

    faults = load_faults()
    out: list[sc.ChaosEntry] = []
    items = [] if _is_null(node) else ctx.sequence(key, node, "a list of faults")
    counts: dict[str, int] = {}
    for i, item in enumerate(items):
        k = f"{key}[{i}]"
        raw = ctx.mapping(k, item, None)
        if "fault" not in raw:
            raise ctx.error(f"{k}.fault", "required key missing", item)
        name = ctx.value(f"{k}.fault", raw["fault"], _NAME)
        if name not in faults:
            msg = f"unknown fault {name!r}; known: {', '.join(faults)}"
            raise ctx.error(f"{k}.fault", msg, raw["fault"])
        specs = {f.name: f for f in fields(faults[name].Params)}
        table: dict[str, Any] = {**_WINDOW, **{p: _param_check(f) for p, f in specs.items()}}
        v = ctx.fields(k, item, table)
        params = {p: v.pop(p) for p in list(v) if p in specs}
        counts[name] = counts.get(name, 0) + 1
        out.append(
            sc.ChaosEntry(
                fault=name,
                at=v.get("at", 0.0),
                duration=v.get("for"),
                params=MappingProxyType(params),
                optional=v.get("optional", False),
                label=f"{name}#{counts[name]}",
            )
        )
    return tuple(out)


def _secret(ctx: _Ctx, key: str, node: Node) -> sc.Secret:
    if isinstance(node, ScalarNode) and not _is_null(node):  # never echo: it may be the secret
        msg = "expected {env: NAME} or {file: PATH}, not the secret itself"
        raise ctx.error(key, msg, node)
    if len(v := ctx.fields(key, node, _SECRET)) > 1:
        raise ctx.error(key, "expected exactly one of env, file, got both", node)
    return sc.Secret(**v)


def _json(ctx: _Ctx, key: str, node: Node, depth: int = 0) -> Any:
    """A claim value: a JSON scalar, or a list or mapping of them."""
    if depth > _MAX_DEPTH:
        raise ctx.error(key, f"nested deeper than {_MAX_DEPTH} levels", node)
    if isinstance(node, SequenceNode):
        items = ctx.sequence(key, node, "a list")
        return [_json(ctx, f"{key}[{i}]", n, depth + 1) for i, n in enumerate(items)]
    if not isinstance(node, MappingNode):
        return ctx.value(key, node, _JSON_SCALAR)
    out = {}
    for k, v_node in ctx.mapping(key, node, None).items():
        if not isinstance(k, str):
            raise ctx.error(_join(key, k), f"expected a string key, got {_show(k)}")
        if depth == 0 and k in TIME_CLAIMS:
            raise ctx.error(_join(key, k), "set by the harness for each token kind; remove it")
        out[k] = _json(ctx, _join(key, k), v_node, depth + 1)
    return out


def _claims(ctx: _Ctx, key: str, node: Node) -> Mapping[str, Any]:
    if not isinstance(node, MappingNode):
        raise ctx.error(key, f"expected a mapping of claims, got {_show(node)}", node)
    return MappingProxyType(_json(ctx, key, node))


def _mix(ctx: _Ctx, key: str, node: Node) -> Mapping[str, float]:
    weights = ctx.fields(key, node, dict.fromkeys(TOKEN_KINDS, _NON_NEGATIVE))
    if not any(w > 0 for w in weights.values()):
        raise ctx.error(key, "expected at least one weight > 0", node)
    return MappingProxyType(weights)


def _session(ctx: _Ctx, key: str, node: Node) -> sc.Session:
    v = ctx.fields(key, node, _SESSION)
    if "wait" in v:
        v["wait_min"], v["wait_max"] = v.pop("wait")
    return sc.Session(**v)


def _wait(ctx: _Ctx, key: str, node: Node) -> tuple[float, float]:
    if not isinstance(node, SequenceNode):
        one = ctx.value(key, node, _WAIT_ONE)
        return one, one
    if len(items := ctx.sequence(key, node, "[min, max]")) != 2:
        raise ctx.error(key, f"expected [min, max], got a list of {len(items)}", node)
    lo, hi = (ctx.value(f"{key}[{i}]", n, _NON_NEGATIVE) for i, n in enumerate(items))
    if lo > hi:
        raise ctx.error(key, f"expected [min, max] with min <= max, got [{lo:g}, {hi:g}]", node)
    return lo, hi


def _gates(ctx: _Ctx, key: str, node: Node) -> tuple[sc.Gate, ...]:
    out: list[sc.Gate] = []
    items = [] if _is_null(node) else ctx.sequence(key, node, "a list of gates")
    for i, item in enumerate(items):
        v = ctx.fields(f"{key}[{i}]", item, _GATE, required=("metric", "op", "threshold"))
        if v["metric"] in RATE_METRICS and not 0 <= v["threshold"] <= 1:
            msg = f"expected a number in [0, 1] ({v['metric']} is a share, not a percent)"
            raise ctx.error(f"{key}[{i}].threshold", f"{msg}, got {v['threshold']:g}")
        gate = sc.Gate(**{"name": "", **v})
        gate = gate if gate.name else replace(gate, name=gate.describe())
        if gate.name in (names := [g.name for g in out]):
            msg = f"same name as {key}[{names.index(gate.name)}]: {gate.name!r}"
            raise ctx.error(f"{key}[{i}]", msg, item)
        out.append(gate)
    return tuple(out)


_EMBEDDED: _Table = {
    "rejection": _one_of(sc.REJECTION_MODES),
    "capacity_rejection": _one_of(sc.REJECTION_MODES),
    "max_connections": _AT_LEAST_ONE,
    "max_rss_mb": _POSITIVE,
    "max_cpu_percent": _Check("a number in (0, 800]", _NUM, lambda v: 0 < v <= 800),
    "handshake_timeout": _POSITIVE,
    "ping_interval": _NON_NEGATIVE,
    "ping_timeout": _POSITIVE,
    "defects": _defects,
    "drop_probability": _Check("a number in [0, 1]", _NUM, lambda v: 0 <= v <= 1),
    "cache_ttl": _POSITIVE,
}
_TARGET: _Table = {
    "embedded": _embedded,
    "url": _URL,
    "path": _Check("a path starting with '/'", (str,), lambda v: v.startswith("/")),
    "close_codes": _close_codes,
    "pid": _Check("an integer > 1", (int,), lambda v: v > 1),
    "pid_file": _NAME,
    "cgroup": _NAME,
    "restart_command": _NAME,
}
_EXTERNAL_ONLY = ("pid", "pid_file", "cgroup", "restart_command")
_SECRET: _Table = {
    "env": _Check("a variable name", (str,), re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch),
    "file": _NAME,
}
_AUTH: _Table = {
    "secret": _secret,
    "algorithm": _one_of(sc.HS_ALGORITHMS),
    "claims": _claims,
    "lifetime": _POSITIVE,
    "placement": _one_of(sc.PLACEMENTS),
    "query_param": _NAME,
    "header": _Check("a header name", (str,), re.compile(r"[!#$%&'*+.^_`|~\w-]+").fullmatch),
}
_SESSION: _Table = {
    "hold": _NON_NEGATIVE,
    "messages": _Check("an integer >= 0", (int,), lambda v: v >= 0),
    "message_bytes": _AT_LEAST_ONE,
    "expect_reply": _Check("true or false", (bool,)),
    "reply_timeout": _POSITIVE,
    "wait": _wait,
}
_LOAD: _Table = {
    "users": _AT_LEAST_ONE,
    "spawn_rate": _POSITIVE,
    "duration": _POSITIVE,
    "mix": _mix,
    "session": _session,
    "timeouts": _section(sc.Timeouts, {"connect": _POSITIVE, "handshake": _POSITIVE}),
}
_GATE: _Table = {
    "name": _NAME,
    "metric": _one_of(sc.GATE_METRICS),
    "token_kind": _one_of(TOKEN_KINDS),
    "op": _one_of(sc.GATE_OPS),
    "threshold": _Check("a number", _NUM),
    "phase": _Check(
        "baseline, 'during <label>' or 'after <label>'",
        (str,),
        re.compile(r"baseline|(during|after) \S.*").fullmatch,
    ),
    "fault": _NAME,
    "severity": _one_of(sc.SEVERITIES),
}
_TOP: _Table = {
    "name": _NAME,
    "description": _Check("a string", (str,)),
    "target": _target,
    "auth": _section(sc.Auth, _AUTH),
    "load": _section(sc.Load, _LOAD),
    "gates": _gates,
    "chaos": _chaos,
}

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
