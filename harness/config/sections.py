"""Scenario sections as data: each section is a table from its keys to a check or a parser.

The parsers turn nested YAML nodes (target, secret, claims, mix, session, gates, chaos
windows with their fault parameters) into the frozen dataclasses of
:mod:`harness.config.scenario`, with a :class:`~harness.config.nodes.NodeReader`. Each
parser checks what its own section says (e.g. a target is exactly one of ``embedded`` and
``url``); references from one section to another (a gate's token kind in ``load.mix``, its
window in ``chaos``) are checked by :mod:`harness.config.loader` once every section is
read. :data:`TOP` is the whole file (``docs/scenario.md`` documents every key).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import Field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.config import scenario as sc
from harness.config.checks import (
    BOOL,
    CLOSE_CODE,
    COOKIE_NAME,
    DEFAULT_POOL_S,
    DEFECT,
    DURATION,
    FLOW_TEMPLATE,
    HEADER_NAME,
    HOOK,
    HOST,
    HTTP_STATUS,
    IP_ADDRESS,
    JSON_SCALAR,
    MAX_ARRIVAL_RATE,
    MAX_BACKOFF_FACTOR,
    MAX_CONNECTIONS,
    MAX_DECLARED_CONNECTIONS,
    MAX_DURATION,
    MAX_FLOW_DEPTH,
    MAX_FLOW_RUN,
    MAX_FLOW_STEPS,
    MAX_FRAGMENTS,
    MAX_HOSTS,
    MAX_LIFETIME,
    MAX_LIMIT_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_MESSAGES,
    MAX_NAMES,
    MAX_PID,
    MAX_RECONNECTS,
    MAX_REFUSAL_CODES,
    MAX_REPEAT,
    MAX_RSS_MB,
    MAX_STAGES,
    MAX_TARGET_PROCESSES,
    MAX_TIMEOUT,
    MAX_USERS,
    MAX_WEIGHT,
    NAME,
    NUM,
    NUMBER,
    REFUSAL_CODE,
    SCHEME,
    SHARE,
    SHORT_TEXT,
    SOCKETIO_URL,
    SPAWN_RATE,
    TEXT,
    TIMEOUT,
    TOKEN_TEMPLATE,
    URL,
    USERS,
    VARIABLE_NAME,
    Check,
    Invalid,
    bounded,
    normal_host,
    one_of,
    show,
)
from harness.config.faults import FAULT_SPECS, fmt_num, param_bounds, param_is_integer
from harness.config.files import Unreadable, read_limited
from harness.config.metrics import GATE_METRICS, GateMetric
from harness.config.nodes import NodeReader, Table, is_null, join, section

#: Claims the token minter sets per token kind; a fixed value would break the kinds.
TIME_CLAIMS: frozenset[str] = frozenset({"exp", "nbf", "iat"})
#: Target keys that only an external (``url``) target takes.
EXTERNAL_ONLY: tuple[str, ...] = ("pid", "pid_file", "cgroup", "restart_command", "tls")
#: The largest ``target.tls.ca_file``, in bytes (a CA bundle of the system is about 200 KiB).
MAX_CA_FILE_BYTES = 1 << 20
MAX_CLAIM_DEPTH = 32  # nesting limit of claim values, below auth.claims

# --- target -----------------------------------------------------------------------------


def _defects(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    out: list[str] = []
    with r.whole():
        for i, item in enumerate(r.sequence(key, node, "a list of defect names")):
            with r.each():
                if (name := r.value(f"{key}[{i}]", item, DEFECT)) in out:
                    raise r.error(f"{key}[{i}]", f"{name!r} is listed twice", item)
                out.append(name)
    return tuple(out)


def _embedded(r: NodeReader, key: str, node: Node) -> sc.EmbeddedTarget:
    if isinstance(node, ScalarNode) and not is_null(node):
        r.value(key, node, Check("a mapping of options or true", (bool,), bool))
        return sc.EmbeddedTarget()
    v = r.fields(key, node, _EMBEDDED)
    processes = v.get("processes", 1)
    if processes > v.get("max_connections", sc.EmbeddedTarget.max_connections):
        raise r.error(
            f"{key}.processes",
            f"max_connections is split over the processes: expected at most max_connections "
            f"({v.get('max_connections', sc.EmbeddedTarget.max_connections)}), got {processes}",
        )
    return sc.EmbeddedTarget(**v)


def _allow_hosts(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    """Host names or IP addresses, each as compared (:func:`~harness.config.checks.normal_host`)."""
    out: list[str] = []
    with r.whole():
        items = [] if is_null(node) else r.sequence(key, node, "a list of hosts")
        if len(items) > MAX_HOSTS:
            raise r.error(key, f"expected at most {MAX_HOSTS} hosts, got {len(items)}", node)
        for i, item in enumerate(items):
            with r.each():
                if (host := normal_host(r.value(f"{key}[{i}]", item, HOST))) in out:
                    raise r.error(f"{key}[{i}]", f"{host!r} is listed twice", item)
                out.append(host)
    return tuple(out)


def _source_addresses(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    """Local IP addresses (literals, each once) the users' connections are bound to."""
    out: list[str] = []
    with r.whole():
        items = [] if is_null(node) else r.sequence(key, node, "a list of IP addresses")
        if len(items) > MAX_HOSTS:
            raise r.error(key, f"expected at most {MAX_HOSTS} addresses, got {len(items)}", node)
        for i, item in enumerate(items):
            with r.each():
                text = r.value(f"{key}[{i}]", item, IP_ADDRESS)
                address = str(ipaddress.ip_address(text))
                if address in out:
                    raise r.error(f"{key}[{i}]", f"{address!r} is listed twice", item)
                out.append(address)
    return tuple(out)


def _close_codes(r: NodeReader, key: str, node: Node) -> Mapping[int, str]:
    classes, out = one_of(sc.APP_CLOSE_CLASSES), {}
    with r.whole():
        for k, v_node in r.mapping(key, node, None).items():
            with r.each():
                try:
                    code = CLOSE_CODE(k)
                except Invalid as e:
                    raise r.error(join(key, k), str(e)) from None
                out[code] = r.value(join(key, k), v_node, classes)
    return MappingProxyType(out)


def _http_statuses(r: NodeReader, key: str, node: Node) -> Mapping[int, str]:
    classes, out = one_of(sc.HTTP_STATUS_CLASSES), {}
    with r.whole():
        for k, v_node in r.mapping(key, node, None).items():
            with r.each():
                try:
                    status = HTTP_STATUS(k)
                except Invalid as e:
                    raise r.error(join(key, k), str(e)) from None
                out[status] = r.value(join(key, k), v_node, classes)
    return MappingProxyType(out)


def _names(r: NodeReader, key: str, node: Node, check: Check, what: str) -> tuple[str, ...]:
    """A non-empty list of distinct strings, each passing ``check``, at most
    :data:`MAX_NAMES` of them."""
    out: list[str] = []
    with r.whole():
        items = r.sequence(key, node, what)
        if not items or len(items) > MAX_NAMES:
            raise r.error(key, f"expected 1 to {MAX_NAMES} entries, got {len(items)}", node)
        for i, item in enumerate(items):
            with r.each():
                if (name := r.value(f"{key}[{i}]", item, check)) in out:
                    raise r.error(f"{key}[{i}]", f"{name!r} is listed twice", item)
                out.append(name)
    return tuple(out)


def _transports(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    return _names(r, key, node, one_of(sc.SOCKETIO_TRANSPORTS), "a list of transports")


def _patterns(r: NodeReader, key: str, node: Node) -> tuple[str, ...]:
    return _names(r, key, node, SHORT_TEXT, "a list of texts")


def _socketio_events(r: NodeReader, key: str, node: Node) -> Mapping[str, str]:
    classes, out = one_of(sc.SOCKETIO_EVENT_CLASSES), {}
    with r.whole():
        items = r.mapping(key, node, None)
        if len(items) > MAX_NAMES:
            raise r.error(key, f"expected at most {MAX_NAMES} events, got {len(items)}", node)
        for k, v_node in items.items():
            with r.each():
                try:
                    name = SHORT_TEXT(k)
                except Invalid as e:
                    raise r.error(join(key, str(k)), str(e)) from None
                out[name] = r.value(join(key, name), v_node, classes)
    return MappingProxyType(out)


def _refusals(r: NodeReader, key: str, node: Node) -> tuple[int, ...]:
    """The declared refusals: HTTP statuses and close codes, each once, at least one."""
    out: list[int] = []
    with r.whole():
        items = r.sequence(key, node, "a list of HTTP statuses and close codes")
        if not items or len(items) > MAX_REFUSAL_CODES:
            raise r.error(key, f"expected 1 to {MAX_REFUSAL_CODES} codes, got {len(items)}", node)
        for i, item in enumerate(items):
            with r.each():
                if (code := r.value(f"{key}[{i}]", item, REFUSAL_CODE)) in out:
                    raise r.error(f"{key}[{i}]", f"{code} is listed twice", item)
                out.append(code)
    return tuple(out)


def _tls(r: NodeReader, key: str, node: Node) -> sc.Tls:
    """``target.tls``; a ``ca_file`` (relative: to the scenario file's folder) is read now,
    with a limit, so a missing file, a directory or a FIFO is an error naming the key."""
    v = r.fields(key, node, _TLS)
    if v.get("ca_file") is not None:
        if v.get("insecure"):
            raise r.error(key, "expected at most one of ca_file, insecure: true, got both", node)
        p = Path(v["ca_file"]).expanduser()
        p = p if p.is_absolute() else Path(r.source).parent / p
        try:
            read_limited(p, MAX_CA_FILE_BYTES)
        except Unreadable as e:
            raise r.error(f"{key}.ca_file", f"cannot read {p}: {e.reason}") from None
        v["ca_file"] = os.path.abspath(p)
    return sc.Tls(**v)


def _target(r: NodeReader, key: str, node: Node) -> sc.Target:
    v = r.fields(key, node, _TARGET)
    if ("embedded" in v) == ("url" in v):
        msg = f"expected exactly one of embedded, url, got {'both' if 'url' in v else 'neither'}"
        at = node
        for name in ("embedded", "url"):  # a --set that added one: name it, not the file
            held = r.keys.get(f"{key}.{name}")
            if held is not None and r.origin(held[1]) is not None:
                at = held[1]
                msg += f"; to replace the target, --set '{key}={{url: URL}}' or --target-url URL"
        raise r.error(key, msg, at)
    if "url" in v and "path" in v:
        raise r.error(f"{key}.path", "only used with the embedded target; put the path in url")
    for name in EXTERNAL_ONLY:
        if name in v and "embedded" in v:
            raise r.error(f"{key}.{name}", "only for a url target (the embedded one is known)")
    if "pid" in v and "pid_file" in v:
        raise r.error(key, "expected at most one of pid, pid_file, got both", node)
    socketio = v.get("protocol") == "socketio"
    emb = v.get("embedded")
    if socketio and emb and emb.processes > 1 and "polling" in emb.socketio_transports:
        raise r.error(
            f"{key}.embedded.processes",
            f"{emb.processes} processes serve Socket.IO over WebSocket only (an Engine.IO "
            "polling session lives in one process and its next request may reach another): "
            f"set {key}.embedded.socketio_transports: [websocket]",
        )
    if "socketio" in v and not socketio:
        raise r.error(f"{key}.socketio", "only used with target.protocol: socketio")
    if emb and emb.disconnect_after > 0 and not socketio:
        raise r.error(f"{key}.embedded.disconnect_after", "only with target.protocol: socketio")
    url = v.get("url")
    if url is not None:
        held = r.keys.get(f"{key}.url")
        try:
            (SOCKETIO_URL if socketio else URL)(url)
        except Invalid as e:
            hint = ""
            if not socketio and urlsplit(url).scheme in ("http", "https"):
                hint = " (http:// and https:// need target.protocol: socketio)"
            raise r.error(f"{key}.url", f"{e}{hint}", held[1] if held else node) from None
    if url is not None and socketio:
        path = urlsplit(url).path
        engine = v.get("socketio", sc.SocketIO()).path
        if path not in ("", "/", engine):
            raise r.error(
                f"{key}.url",
                f"the path of a Socket.IO URL is the Engine.IO path, {engine!r} "
                f"(target.socketio.path), got {path!r}; the namespace is target.socketio.namespace",
            )
    return sc.Target(**v)


# --- chaos ------------------------------------------------------------------------------


def param_check(f: Field[Any]) -> Check:
    """The check of one fault parameter, from its dataclass field and ``param()`` metadata."""
    meta = f.metadata
    if meta.get("choices"):
        return one_of(meta["choices"])
    if isinstance(f.default, bool):
        return BOOL
    lo, hi, lo_open = meta.get("low"), meta.get("high"), meta.get("low_open", False)
    integer = param_is_integer(f)
    what = "an integer" if integer else "a number"
    if bounds := param_bounds(f):
        what += f" {bounds}"
    if meta.get("unit"):
        what += f" ({meta['unit']})"

    def ok(v: float) -> bool:
        low_ok = lo is None or (v > lo if lo_open else v >= lo)
        return low_ok and (hi is None or v <= hi)

    return Check(what, (int,) if integer else NUM, ok)


_WINDOW: Table = {
    "fault": NAME,
    "at": bounded("number", 0, MAX_DURATION),
    "for": DURATION,
    "optional": BOOL,
}


def _window(r: NodeReader, key: str, node: Node, counts: dict[str, int]) -> sc.ChaosEntry:
    """One chaos window: its fault's name first, then its keys by the fault's schema.

    ``counts`` (fault name -> windows so far) numbers the window's label, ``<fault>#<n>``.
    """
    fault_node = _fault_node(r, key, node)
    if fault_node is None:
        raise r.error(f"{key}.fault", "required key missing", node)
    name = r.value(f"{key}.fault", fault_node, NAME)
    if name not in FAULT_SPECS:
        msg = f"unknown fault {name!r}; known: {', '.join(FAULT_SPECS)}"
        raise r.error(f"{key}.fault", msg, fault_node)
    counts[name] = counts.get(name, 0) + 1
    specs = {f.name: f for f in fields(FAULT_SPECS[name].params)}
    table: dict[str, Any] = {**_WINDOW, **{p: param_check(f) for p, f in specs.items()}}
    v = r.fields(key, node, table)
    return sc.ChaosEntry(
        fault=name,
        at=v.get("at", 0.0),
        duration=v.get("for"),
        params=MappingProxyType({p: v[p] for p in v if p in specs}),
        optional=v.get("optional", False),
        label=f"{name}#{counts[name]}",
    )


def _fault_node(r: NodeReader, key: str, node: Node) -> Node | None:
    """The value node of a window's ``fault`` key (None: absent); its other keys are checked
    later, by the fault's schema.

    Raises:
        ScenarioError: the window is not a mapping.
    """
    if not isinstance(node, MappingNode):
        r.mapping(key, node, None)  # raises for anything but null
        return None
    pairs: list[tuple[Node, Node]] = node.value
    for k_node, v_node in pairs:
        if isinstance(k_node, ScalarNode) and k_node.value == "fault":
            return v_node
    return None


def _chaos(r: NodeReader, key: str, node: Node) -> tuple[sc.ChaosEntry, ...]:
    out: list[sc.ChaosEntry] = []
    counts: dict[str, int] = {}
    with r.whole():
        items = [] if is_null(node) else r.sequence(key, node, "a list of faults")
        for i, item in enumerate(items):
            with r.each():
                out.append(_window(r, f"{key}[{i}]", item, counts))
    return tuple(out)


# --- auth -------------------------------------------------------------------------------


def _secret(r: NodeReader, key: str, node: Node) -> sc.Secret:
    if isinstance(node, ScalarNode) and not is_null(node):  # never echo: it may be the secret
        msg = "expected {env: NAME} or {file: PATH}, not the secret itself"
        raise r.error(key, msg, node)
    if len(v := r.fields(key, node, _SECRET)) > 1:
        raise r.error(key, "expected exactly one of env, file, got both", node)
    return sc.Secret(**v)


def _json(r: NodeReader, key: str, node: Node, depth: int = 0) -> Any:
    """A claim value: a JSON scalar, or a list or mapping of them."""
    if depth > MAX_CLAIM_DEPTH:
        raise r.error(key, f"nested deeper than {MAX_CLAIM_DEPTH} levels", node)
    if isinstance(node, SequenceNode):
        items = r.sequence(key, node, "a list")
        out_list: list[Any] = []
        with r.whole():
            for i, n in enumerate(items):
                with r.each():
                    out_list.append(_json(r, f"{key}[{i}]", n, depth + 1))
        return out_list
    if not isinstance(node, MappingNode):
        return r.value(key, node, JSON_SCALAR)
    out: dict[str, Any] = {}
    with r.whole():
        for k, v_node in r.mapping(key, node, None).items():
            with r.each():
                if not isinstance(k, str):
                    raise r.error(join(key, k), f"expected a string key, got {show(k)}")
                if depth == 0 and k in TIME_CLAIMS:
                    msg = "set by the harness for each token kind; remove it"
                    raise r.error(join(key, k), msg)
                out[k] = _json(r, join(key, k), v_node, depth + 1)
    return out


def _claims(r: NodeReader, key: str, node: Node) -> Mapping[str, Any]:
    if not isinstance(node, MappingNode):
        raise r.error(key, f"expected a mapping of claims, got {show(node)}", node)
    return MappingProxyType(_json(r, key, node))


# --- load -------------------------------------------------------------------------------


def _mix(r: NodeReader, key: str, node: Node) -> Mapping[str, float]:
    weights = r.fields(key, node, dict.fromkeys(sc.TOKEN_KINDS, _WEIGHT))
    if not any(w > 0 for w in weights.values()):
        raise r.error(key, "expected at least one weight > 0", node)
    return MappingProxyType(weights)


def _session(r: NodeReader, key: str, node: Node) -> sc.Session:
    v = r.fields(key, node, _SESSION)
    if "wait" in v:
        v["wait_min"], v["wait_max"] = v.pop("wait")
    _custom_session(r, key, node, v)
    if v.get("pace") == "closed_loop" and v.get("expect_reply") is False:
        msg = "closed_loop sends each message once the last one's reply came: it needs replies"
        raise r.error(f"{key}.expect_reply", msg)
    return sc.Session(**v)


def _wait(r: NodeReader, key: str, node: Node) -> tuple[float, float]:
    if not isinstance(node, SequenceNode):
        one = r.value(key, node, replace(_WAIT, expected=f"{_WAIT.expected} or a [min, max] list"))
        return one, one
    if len(items := r.sequence(key, node, "[min, max]")) != 2:
        raise r.error(key, f"expected [min, max], got a list of {len(items)}", node)
    lo, hi = (r.value(f"{key}[{i}]", n, _WAIT) for i, n in enumerate(items))
    if lo > hi:
        raise r.error(key, f"expected [min, max] with min <= max, got [{lo:g}, {hi:g}]", node)
    return lo, hi


# --- load.session.flow, load.session.hook --------------------------------------------------

#: Keys of the plain session (hold, send, await the echo) that a flow or a hook replaces.
FLOW_REPLACES: tuple[str, ...] = (
    "hold",
    "messages",
    "message_bytes",
    "expect_reply",
    "ping_interval",
    "ping_timeout",
    "pace",
)


def _custom_session(r: NodeReader, key: str, node: Node, v: dict[str, Any]) -> None:
    """A flow or a hook replaces the plain session: at most one of them, and without the
    plain session's keys (they would be silently unused)."""
    flow, hook = v.get("flow"), v.get("hook")
    if flow and hook is not None:
        raise r.error(key, "expected at most one of flow, hook, got both", node)
    used = "flow" if flow else "hook" if hook is not None else None
    for name in FLOW_REPLACES if used else ():
        if name in v:
            msg = f"not used with {used} (the {used} says what the session does); remove it"
            raise r.error(join(key, name), msg)


def _hook(r: NodeReader, key: str, node: Node) -> str | None:
    """``module:function``, or ``file.py:function`` with the file (relative: to the scenario
    file's folder) made absolute; the file must exist. It is imported by the load edge
    (:mod:`harness.load.flow`), never here."""
    spec = r.value(key, node, HOOK)
    if spec is None:
        return None
    where, function = spec.rsplit(":", 1)
    if not where.endswith(".py"):
        return str(spec)
    p = Path(where)
    try:
        p = p.expanduser()
        p = p if p.is_absolute() else Path(r.source).parent / p
        found = p.is_file()
    except (OSError, RuntimeError, ValueError):  # a name too long, an unknown ~user
        found = False
    if not found:
        raise r.error(key, f"no such file: {p}", node)
    return f"{os.path.abspath(p)}:{function}"


def _flow(r: NodeReader, key: str, node: Node) -> tuple[sc.FlowStep, ...]:
    """``load.session.flow``: its steps, bounded in number written and in number run."""
    steps = () if is_null(node) else _flow_steps(r, key, node)
    written, run = flow_size(steps)
    if written > MAX_FLOW_STEPS:
        msg = f"expected at most {MAX_FLOW_STEPS} steps (those in repeats included), got {written}"
        raise r.error(key, msg, node)
    if run > MAX_FLOW_RUN:
        msg = f"runs {run} steps per attempt (repeats expanded), more than {MAX_FLOW_RUN}"
        raise r.error(key, msg, node)
    return steps


def flow_size(steps: tuple[sc.FlowStep, ...]) -> tuple[int, int]:
    """Steps written (repeats and the steps in them) and steps one attempt runs (repeats
    expanded; a repeat itself is not run)."""
    written = run = 0
    for step in steps:
        if step.repeat is not None:
            inner_written, inner_run = flow_size(step.steps)
            written, run = written + 1 + inner_written, run + step.repeat * inner_run
        else:
            written, run = written + 1, run + 1
    return written, run


def _flow_steps(r: NodeReader, key: str, node: Node) -> tuple[sc.FlowStep, ...]:
    out: list[sc.FlowStep] = []
    with r.whole():
        for i, item in enumerate(r.sequence(key, node, "a list of steps")):
            with r.each():
                out.append(_flow_step(r, f"{key}[{i}]", item))
    return tuple(out)


#: The kinds of flow step, each by the keys that make it.
FLOW_STEP_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"send": ("send", "expect", "timeout"), "think": ("think",), "repeat": ("repeat", "steps")}
)


def _flow_step(r: NodeReader, key: str, node: Node) -> sc.FlowStep:
    """One step: exactly one kind (:data:`FLOW_STEP_KINDS`), with the keys it needs."""
    v = r.fields(key, node, _FLOW_STEP)
    kinds = [kind for kind, names in FLOW_STEP_KINDS.items() if any(n in v for n in names)]
    if len(kinds) != 1:
        got = " and ".join(kinds) if kinds else "none"
        msg = f"expected one kind of step: send/expect, think, or repeat with steps, got {got}"
        raise r.error(key, msg, node)
    if "timeout" in v and "expect" not in v:
        raise r.error(f"{key}.timeout", "only with expect (the reply it waits for)")
    for have, need in (("repeat", "steps"), ("steps", "repeat")):
        if have in v and need not in v:
            raise r.error(f"{key}.{need}", f"required key missing (with {have})", node)
    return sc.FlowStep(**v)


def _repeat_steps(r: NodeReader, key: str, node: Node) -> tuple[sc.FlowStep, ...]:
    if key.count(".steps") > MAX_FLOW_DEPTH:
        raise r.error(key, f"repeats nested deeper than {MAX_FLOW_DEPTH} levels", node)
    steps = _flow_steps(r, key, node)
    if not steps:
        raise r.error(key, "expected at least one step", node)
    return steps


def _expect(r: NodeReader, key: str, node: Node) -> sc.Expect:
    """``expect``: a field and its value, the value kept as text (its JSON text when it is
    not a string); no value: any."""
    v = r.fields(key, node, _EXPECT, required=("field",))
    value = v.get("value")
    text = value if value is None or isinstance(value, str) else json.dumps(value)
    return sc.Expect(field=v["field"], value=text)


def _load(r: NodeReader, key: str, node: Node) -> sc.Load:
    """The load section; an echo larger than ``limits.max_message_bytes`` is refused here
    (the client would fail every connection with 1009 when the reply came). With
    ``stages``, ``users`` and ``duration`` are derived from them (:func:`_derive_from_stages`)."""
    v = r.fields(key, node, _LOAD)
    if v.get("stages"):
        v["stages"] = _resolve_stages(v["stages"], v.get("spawn_rate", sc.Load.spawn_rate))
        _derive_from_stages(r, key, v)
    load = sc.Load(**v)
    ses, lim = load.session, load.limits
    if ses.expect_reply and ses.messages and ses.message_bytes > lim.max_message_bytes:
        size, limit = f"{key}.session.message_bytes", f"{key}.limits.max_message_bytes"
        msg = (
            f"the echo of a {ses.message_bytes}-byte message would exceed {limit} "
            f"({lim.max_message_bytes}): raise that limit, or set expect_reply: false"
        )
        if size not in r.keys:  # the limit was lowered below the default size
            msg = (
                f"below {size} ({ses.message_bytes}): the echo of every message would "
                "fail the connection (1009)"
            )
            size = limit
        raise r.error(size, msg)
    return load


# --- load.stages ------------------------------------------------------------------------


def _stages(r: NodeReader, key: str, node: Node) -> tuple[dict[str, Any], ...]:
    """``load.stages``: each stage's keys as written (null: no stages). Defaults that depend
    on ``load.spawn_rate`` are filled by :func:`_resolve_stages`, once the section is read."""
    if is_null(node):
        return ()
    out: list[dict[str, Any]] = []
    with r.whole():
        items = r.sequence(key, node, "a list of stages")
        if not items or len(items) > MAX_STAGES:
            raise r.error(key, f"expected 1 to {MAX_STAGES} stages, got {len(items)}")
        for i, item in enumerate(items):
            with r.each():
                out.append(_stage(r, f"{key}[{i}]", item))
        if len(out) == len(items):  # across the stages once each is right
            with r.each():
                _check_stages(r, key, out)
    return tuple(out)


def _stage(r: NodeReader, key: str, node: Node) -> dict[str, Any]:
    """One stage: its duration, and exactly one of users and rate."""
    v: dict[str, Any] = r.fields(key, node, _STAGE, required=("duration",))
    if ("users" in v) == ("rate" in v):
        got = "both" if "users" in v else "neither"
        msg = f"expected one of users (concurrent users) or rate (new sessions/s), got {got}"
        raise r.error(key, msg, node)
    if "max_users" in v and "rate" not in v:
        raise r.error(f"{key}.max_users", "only with rate (the users serving its arrivals)")
    return v


def _check_stages(r: NodeReader, key: str, stages: list[dict[str, Any]]) -> None:
    """Across the stages: one model for all, names unique, some load, a bounded total."""
    first = "rate" if "rate" in stages[0] else "users"
    names: dict[str, int] = {}
    for i, v in enumerate(stages):
        with r.each():
            kind = "rate" if "rate" in v else "users"
            if kind != first:
                msg = f"every stage has users, or every stage has rate: {key}[0] has {first}"
                raise r.error(f"{key}[{i}].{kind}", msg)
            name = v.get("name") or f"stage-{i + 1}"
            if name in names:
                raise r.error(f"{key}[{i}]", f"same name as {key}[{names[name]}]: {name!r}")
            names[name] = i
    total = math.fsum(v["duration"] for v in stages)
    if total > MAX_DURATION:
        msg = f"the stages last {fmt_num(total)} s in all, more than {fmt_num(MAX_DURATION)}"
        raise r.error(key, msg)
    if not any(v.get(first) for v in stages):
        raise r.error(key, f"expected at least one stage with {first} above 0")


def _resolve_stages(raw: tuple[dict[str, Any], ...], spawn_rate: float) -> tuple[sc.Stage, ...]:
    """The stages with every default filled in: ``stage-<n>`` names; ``spawn_rate`` the
    load's (an arrival stage's at least its rate, so its users start before its arrivals);
    an arrival stage's ``max_users`` enough for sessions of up to :data:`DEFAULT_POOL_S` s."""
    out = []
    for i, v in enumerate(raw):
        v = {"name": f"stage-{i + 1}", **v}
        if "rate" in v:
            v.setdefault("spawn_rate", max(spawn_rate, v["rate"]))
            v.setdefault("max_users", min(MAX_USERS, max(1, math.ceil(v["rate"] * DEFAULT_POOL_S))))
        else:
            v.setdefault("spawn_rate", spawn_rate)
        out.append(sc.Stage(**v))
    return tuple(out)


def _derive_from_stages(r: NodeReader, key: str, v: dict[str, Any]) -> None:
    """``users`` (the highest stage's users) and ``duration`` (the stages' sum) from the
    stages. Given as well, they must agree, except that stages from a ``--set`` replace
    the file's constant load: its ``users`` and ``duration`` give way."""
    stages: tuple[sc.Stage, ...] = v["stages"]
    users, duration = max(s.pool for s in stages), math.fsum(s.duration for s in stages)
    what = "max_users" if stages[0].is_rate else "users"
    derived = {
        "users": (users, f"its highest stage has {users} {what}"),
        "duration": (duration, f"its stages last {fmt_num(duration)} s in all"),
    }
    stages_node = r.keys[f"{key}.stages"][1]
    with r.whole():
        for name, (value, why) in derived.items():
            given = r.keys.get(f"{key}.{name}")
            if name not in v or v[name] == value or given is None:
                v[name] = value
                continue
            if r.origin(given[1]) is None and r.origin(stages_node) is not None:
                v[name] = value  # --set load.stages replaces the file's constant load
                continue
            msg = (
                f"{fmt_num(v[name])} disagrees with {key}.stages ({why}); leave"
                f" {key}.{name} out: with stages it is derived from them"
            )
            r.record(r.error(f"{key}.{name}", msg, given[1]))


def _reconnect(r: NodeReader, key: str, node: Node) -> sc.Reconnect:
    """``load.reconnect``: a policy or preset name, or a mapping (``preset`` first, then the
    keys that override it)."""
    names = (*sc.RECONNECT_POLICIES, *sc.RECONNECT_PRESETS)
    if isinstance(node, ScalarNode) and not is_null(node):
        name = r.value(key, node, one_of(names))
        return sc.RECONNECT_PRESETS.get(name) or sc.Reconnect(policy=name)
    v = r.fields(key, node, _RECONNECT)
    preset = v.pop("preset", None)
    base = sc.RECONNECT_PRESETS[preset] if preset else sc.Reconnect()
    if preset and "policy" not in v:
        v["policy"] = base.policy
    elif "policy" not in v:
        raise r.error(f"{key}.policy", f"required key missing (one of {', '.join(names)})", node)
    return replace(base, **v)


# --- gates ------------------------------------------------------------------------------

_UNIT_NOTE = {
    "share": "{} is a share, not a percent",
    "count": "{} is a count",
    "ms": "{} is in milliseconds",
    "s": "{} is in seconds",
}


def _threshold_error(metric: GateMetric, threshold: float) -> str | None:
    """Why ``threshold`` is out of the metric's bounds, or None."""
    if metric.accepts(threshold):
        return None
    note = _UNIT_NOTE[metric.unit].format(metric.name)
    return f"expected a number {metric.bounds_text()} ({note}), got {fmt_num(threshold)}"


def _scope_errors(v: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Keys of a gate that do not apply to its metric's scope, and why."""
    metric = GATE_METRICS[v["metric"]]
    out = []
    for name, scope in (("fault", "recovery"), ("severity", "findings")):
        if name in v and metric.scope != scope:
            users = ", ".join(m.name for m in GATE_METRICS.values() if m.scope == scope)
            out.append((name, f"only for {users}, not {metric.name}"))
    if metric.scope != "section":
        for name in ("token_kind", "phase", "relative_to"):
            if name in v:
                what = "one chaos window" if metric.scope == "recovery" else "the whole run"
                out.append((name, f"does not apply to {metric.name} (it reads {what})"))
    return out


def _gate(r: NodeReader, key: str, node: Node) -> sc.Gate:
    v = r.fields(key, node, _GATE, required=("metric", "op", "threshold"))
    with r.whole():
        if "relative_to" in v:
            if not 0 <= v["threshold"] <= MAX_RATIO:
                msg = f"expected a ratio in [0, {MAX_RATIO:g}] (with relative_to), got "
                r.record(r.error(f"{key}.threshold", msg + fmt_num(v["threshold"])))
            if v.get("phase", None) == v["relative_to"]:
                msg = "the same phase as phase: the ratio would always be 1"
                r.record(r.error(f"{key}.relative_to", msg))
        elif why := _threshold_error(GATE_METRICS[v["metric"]], v["threshold"]):
            r.record(r.error(f"{key}.threshold", why))
        for name, msg in _scope_errors(v):
            r.record(r.error(f"{key}.{name}", msg))
    gate = sc.Gate(**{"name": "", **v})
    return gate if gate.name else replace(gate, name=gate.describe())


def parse_gates(r: NodeReader, key: str, node: Node) -> tuple[sc.Gate, ...]:
    """The ``gates`` list: each gate checked, names unique (a default name is the condition)."""
    out: list[sc.Gate] = []
    with r.whole():
        items = [] if is_null(node) else r.sequence(key, node, "a list of gates")
        for i, item in enumerate(items):
            with r.each():
                gate = _gate(r, f"{key}[{i}]", item)
                if gate.name in (names := [g.name for g in out]):
                    msg = f"same name as {key}[{names.index(gate.name)}]: {gate.name!r}"
                    raise r.error(f"{key}[{i}]", msg, item)
                out.append(gate)
    return tuple(out)


# --- Tables -----------------------------------------------------------------------------

_WEIGHT = bounded("number", 0, MAX_WEIGHT)
_WAIT = bounded("number", 0, MAX_TIMEOUT)

_EMBEDDED: Table = {
    "placement": Check(  # null (the default): follows auth.placement
        f"one of {', '.join(sc.PLACEMENTS)}, or null",
        (str, type(None)),
        lambda v: v is None or v in sc.PLACEMENTS,
    ),
    "rejection": one_of(sc.REJECTION_MODES),
    "capacity_rejection": one_of(sc.REJECTION_MODES),
    "max_connections": bounded("integer", 1, MAX_CONNECTIONS),
    "max_rss_mb": bounded("number", 0, MAX_RSS_MB, low_open=True),
    "max_cpu_percent": bounded("number", 0, 800, low_open=True),
    "handshake_timeout": TIMEOUT,
    "ping_interval": bounded("number", 0, MAX_TIMEOUT),
    "ping_timeout": TIMEOUT,
    "defects": _defects,
    "drop_probability": SHARE,
    "cache_ttl": DURATION,
    "tls": BOOL,
    "socketio_transports": _transports,
    "disconnect_after": bounded("number", 0, MAX_DURATION),
    "processes": bounded("integer", 1, MAX_TARGET_PROCESSES),
}
_SOCKETIO: Table = {
    "path": Check("a path starting with '/'", (str,), lambda v: v.startswith("/")),
    "namespace": Check("a namespace starting with '/'", (str,), lambda v: v.startswith("/")),
    "transports": _transports,
    "upgrade": BOOL,
    "event": SHORT_TEXT,
    "auth_field": SHORT_TEXT,
    "auth_errors": _patterns,
    "capacity_errors": _patterns,
    "events": _socketio_events,
}
_TARGET_EXPECT: Table = {
    "max_connections": Check(  # null (the default): none declared
        f"an integer in [1, {MAX_DECLARED_CONNECTIONS}], or null",
        (int, type(None)),
        lambda v: v is None or 1 <= v <= MAX_DECLARED_CONNECTIONS,
    ),
    "refusals": _refusals,
}
_TARGET: Table = {
    "embedded": _embedded,
    "url": TEXT,  # checked for the protocol by _target
    "protocol": one_of(sc.PROTOCOLS),
    "socketio": section(sc.SocketIO, _SOCKETIO),
    "path": Check("a path starting with '/'", (str,), lambda v: v.startswith("/")),
    "close_codes": _close_codes,
    "http_statuses": _http_statuses,
    "allow_hosts": _allow_hosts,
    "pid": bounded("integer", 1, MAX_PID),
    "pid_file": NAME,
    "cgroup": NAME,
    "restart_command": NAME,
    "tls": _tls,
    "heartbeat_interval": Check(  # null (the default): unknown
        f"a number in (0, {fmt_num(MAX_TIMEOUT)}], or null",
        (int, float, type(None)),
        lambda v: v is None or 0 < v <= MAX_TIMEOUT,
    ),
    "expect": section(sc.ExpectedLimits, _TARGET_EXPECT),
}
_TLS: Table = {
    "ca_file": Check("a path, or null", (str, type(None)), lambda v: v is None or bool(v)),
    "insecure": BOOL,
}
_SECRET: Table = {"env": VARIABLE_NAME, "file": NAME}
_FIRST_MESSAGE: Table = {
    "template": TOKEN_TEMPLATE,
    "ack_field": NAME,
    "ack_value": TEXT,
    "timeout": TIMEOUT,
}
_AUTH: Table = {
    "secret": _secret,
    "algorithm": one_of(sc.HS_ALGORITHMS),
    "claims": _claims,
    "lifetime": bounded("number", 0, MAX_LIFETIME, low_open=True),
    "placement": one_of(sc.PLACEMENTS),
    "query_param": NAME,
    "header": HEADER_NAME,
    "scheme": SCHEME,
    "cookie": COOKIE_NAME,
    "subprotocol": TOKEN_TEMPLATE,
    "first_message": section(sc.FirstMessage, _FIRST_MESSAGE),
}
_SESSION: Table = {
    "hold": bounded("number", 0, MAX_DURATION),
    "messages": bounded("integer", 0, MAX_MESSAGES),
    "message_bytes": bounded("integer", 1, MAX_MESSAGE_BYTES),
    "expect_reply": BOOL,
    "reply_timeout": TIMEOUT,
    "wait": _wait,
    "ping_interval": bounded("number", 0, MAX_TIMEOUT),
    "ping_timeout": TIMEOUT,
    "flow": _flow,
    "hook": _hook,
    "pace": one_of(sc.PACES),
}
_FLOW_STEP: Table = {
    "send": FLOW_TEMPLATE,
    "expect": _expect,
    "timeout": TIMEOUT,
    "think": _wait,
    "repeat": bounded("integer", 1, MAX_REPEAT),
    "steps": _repeat_steps,
}
_EXPECT: Table = {"field": NAME, "value": JSON_SCALAR}
_TIMEOUTS: Table = dict.fromkeys(("connect", "handshake", "send", "close"), TIMEOUT)
_LIMITS: Table = {
    "max_frame_bytes": bounded("integer", 125, MAX_LIMIT_BYTES),  # a control frame: 125
    "max_message_bytes": bounded("integer", 1, MAX_LIMIT_BYTES),
    "max_fragments": bounded("integer", 1, MAX_FRAGMENTS),
}
_RECONNECT: Table = {
    "preset": one_of(tuple(sc.RECONNECT_PRESETS)),
    "policy": one_of(sc.RECONNECT_POLICIES),
    "delay": bounded("number", 0, MAX_TIMEOUT),
    "factor": bounded("number", 1, MAX_BACKOFF_FACTOR),
    "cap": bounded("number", 0, MAX_TIMEOUT),
    "max_attempts": bounded("integer", 0, MAX_RECONNECTS),
    "jitter": one_of(sc.JITTERS),
    "randomization": SHARE,
    "after_server_close": BOOL,
    "after_auth_failure": BOOL,
    "refresh": BOOL,
}
_LOAD: Table = {
    "users": USERS,
    "spawn_rate": SPAWN_RATE,
    "duration": DURATION,
    "mix": _mix,
    "session": _session,
    "timeouts": section(sc.Timeouts, _TIMEOUTS),
    "limits": section(sc.Limits, _LIMITS),
    "reconnect": _reconnect,
    "source_addresses": _source_addresses,
    "stages": _stages,
}
_STAGE: Table = {
    "duration": DURATION,
    "name": SHORT_TEXT,
    "users": bounded("integer", 0, MAX_USERS),
    "rate": bounded("number", 0, MAX_ARRIVAL_RATE),
    "spawn_rate": SPAWN_RATE,
    "max_users": USERS,
}
_PHASE = Check(
    "baseline, 'during <label>' or 'after <label>'",
    (str,),
    re.compile(r"baseline|(during|after) \S.*").fullmatch,
)
#: The largest ratio a gate with ``relative_to`` may name.
MAX_RATIO = 1e6
_GATE: Table = {
    "name": NAME,
    "metric": one_of(tuple(GATE_METRICS)),
    "token_kind": one_of(sc.TOKEN_KINDS),
    "op": one_of(sc.GATE_OPS),
    "threshold": NUMBER,
    "phase": _PHASE,
    "fault": NAME,
    "severity": one_of(sc.SEVERITIES),
    "relative_to": _PHASE,
}
#: The whole file: its top-level keys.
TOP: Table = {
    "name": NAME,
    "description": TEXT,
    "target": _target,
    "auth": section(sc.Auth, _AUTH),
    "load": _load,
    "gates": parse_gates,
    "chaos": _chaos,
}
#: Every section's table by its key path (``docs/scenario.md`` has one reference table each;
#: a test holds the documented bounds to these checks).
SECTIONS: Mapping[str, Table] = MappingProxyType(
    {
        "": TOP,
        "target": _TARGET,
        "target.embedded": _EMBEDDED,
        "target.tls": _TLS,
        "target.socketio": _SOCKETIO,
        "auth": _AUTH,
        "auth.secret": _SECRET,
        "auth.first_message": _FIRST_MESSAGE,
        "load": _LOAD,
        "load.session": _SESSION,
        "load.session.flow": _FLOW_STEP,
        "load.session.flow.expect": _EXPECT,
        "load.timeouts": _TIMEOUTS,
        "load.limits": _LIMITS,
        "load.reconnect": _RECONNECT,
        "load.stages": _STAGE,
        "gates": _GATE,
        "chaos": _WINDOW,
    }
)
