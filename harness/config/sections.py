"""Scenario sections as data: each section is a table from its keys to a check or a parser.

The parsers turn nested YAML nodes (target, secret, claims, mix, session, gates, chaos
windows with their fault parameters) into the frozen dataclasses of
:mod:`harness.config.scenario`; the checks and :class:`~harness.config.checks._Ctx` they use are in
:mod:`harness.config.checks`. :data:`_TOP` is the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields, replace
from types import MappingProxyType
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config import scenario as sc
from harness.config.checks import (
    _AT_LEAST_ONE,
    _CLOSE_CODE,
    _DEFECT,
    _JSON_SCALAR,
    _NAME,
    _NON_NEGATIVE,
    _NUM,
    _POSITIVE,
    _URL,
    _WAIT_ONE,
    _Check,
    _Ctx,
    _Invalid,
    _is_null,
    _join,
    _one_of,
    _section,
    _show,
    _Table,
)
from harness.protocol.outcomes import APP_CLOSE_CLASSES, TOKEN_KINDS

#: Gate metrics that are shares in [0, 1]: a threshold of 99 there is a percent by mistake.
RATE_METRICS: frozenset[str] = frozenset({"success_rate", "abrupt_rate", "graceful_share"})
#: Claims the token minter sets per token kind; a fixed value would break the kinds.
TIME_CLAIMS: frozenset[str] = frozenset({"exp", "nbf", "iat"})
_MAX_DEPTH = 32  # nesting limit of claim values (a recursive YAML alias would never end)


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
