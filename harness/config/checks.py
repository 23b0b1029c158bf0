"""Value checks (pure): a rule for one scalar, with the ``expected X, got Y`` message.

A :class:`Check` takes a Python value (constructed from YAML, or given on the command
line) and returns the checked value or raises :class:`Invalid`. The YAML walker
(:mod:`harness.config.nodes`), the section tables (:mod:`harness.config.sections`) and the
command-line overrides share these, so a flag and a key say the same thing about the
same value.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from harness.config import scenario as sc
from harness.config.faults import fmt_num


class Invalid(ValueError):
    """A value failed a check; the message reads ``expected X, got Y``."""


def show(v: object) -> str:
    """A bad value for messages: strings by repr (cut at 60), YAML spelling for the rest.

    A YAML node is shown as what it holds: a scalar by its value, ``a mapping``, ``a list``.
    """
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


#: The types of a number: integers and floats, stored as float.
NUM: tuple[type, ...] = (int, float)
#: A number YAML 1.1 reads as text: an exponent without a dot before it or a sign in it.
_EXPONENT = re.compile(r"([-+]?)([0-9]+)(\.[0-9]*)?[eE]([-+]?)([0-9]+)")


@dataclass(frozen=True)
class Check:
    """A rule for one scalar: its type(s) and a predicate; ``expected`` reads "a number > 0".

    Booleans pass only where ``bool`` is listed (they are not numbers); floats must be
    finite; a number checked as :data:`NUM` is stored as float.
    """

    expected: str
    types: tuple[type, ...]
    ok: Callable[[Any], object] = lambda v: True

    def __call__(self, v: object) -> Any:
        """The checked value (a number of :data:`NUM` as float).

        Raises:
            Invalid: ``expected <self.expected>, got <v>`` (with a hint for ``1e-3``).
        """
        typed = isinstance(v, self.types) and (bool in self.types or not isinstance(v, bool))
        try:
            if typed and (not isinstance(v, float) or math.isfinite(v)) and self.ok(v):
                return float(v) if self.types == NUM else v  # type: ignore[arg-type]
        except OverflowError:  # an integer too large for a float
            pass
        msg = f"expected {self.expected}, got {show(v)}"
        if float in self.types and isinstance(v, str) and (m := _EXPONENT.fullmatch(v)):
            sign, whole, dot, exp_sign, exp = m.groups()
            spelled = f"{sign}{whole}{dot or '.0'}e{exp_sign or '+'}{exp}"
            if spelled != v:  # else it was quoted: text on purpose
                msg += f" (YAML reads {v} as text: write {spelled})"
        raise Invalid(msg)


def one_of(choices: Sequence[str]) -> Check:
    """A string that is one of ``choices`` (listed in their order in the message)."""
    return Check("one of " + ", ".join(choices), (str,), lambda v: v in choices)


def bounded(kind: str, low: float, high: float, *, low_open: bool = False) -> Check:
    """A ``"number"`` or an ``"integer"`` in [low, high] (``low_open``: in (low, high]).

    The message says the bounds: ``expected an integer in [1, 100000], got 0``.
    """
    integer = kind == "integer"
    text = f"{'an integer' if integer else 'a number'} in {'(' if low_open else '['}"
    text += f"{fmt_num(low)}, {fmt_num(high)}]"
    if low_open:
        return Check(text, (int,) if integer else NUM, lambda v: low < v <= high)
    return Check(text, (int,) if integer else NUM, lambda v: low <= v <= high)


_HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


def normal_host(host: str) -> str:
    """A host as compared: lowercase, no trailing dot, no IPv6 brackets, an IP address in
    its short form (``[::0001]`` -> ``::1``)."""
    h = host.strip().lower().rstrip(".")
    h = h[1:-1] if h.startswith("[") and h.endswith("]") else h
    try:
        return str(ipaddress.ip_address(h))
    except ValueError:
        return h


def is_ip_address(s: str) -> bool:
    """An IPv4 or IPv6 address literal (no brackets, no host name)."""
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def is_host(s: str) -> bool:
    """A host name (dot-separated labels of letters, digits, ``-``, ``_``; at most 253
    characters) or an IPv4 or IPv6 address (brackets allowed)."""
    h = normal_host(s)
    try:
        ipaddress.ip_address(h)
        return True
    except ValueError:
        pass
    labels = h.split(".")
    return 0 < len(h) <= 253 and all(_HOST_LABEL.fullmatch(x) for x in labels)


def is_ws_url(s: str) -> bool:
    """A ``ws://`` or ``wss://`` URL with a host (:func:`is_host`) and a numeric port, if any."""
    try:
        u = urlsplit(s)
        host = u.hostname
        return (
            u.scheme in ("ws", "wss") and bool(host) and is_host(host or "") and (u.port or 0) >= 0
        )
    except ValueError:  # e.g. a port that is not a number
        return False


def is_socketio_url(s: str) -> bool:
    """A ``ws(s)://`` URL (:func:`is_ws_url`) or an ``http(s)://`` one with a host and a port,
    if any: a Socket.IO service is reached at either."""
    try:
        u = urlsplit(s)
    except ValueError:
        return False
    if u.scheme in ("http", "https"):
        return is_ws_url(urlunsplit(u._replace(scheme="ws" if u.scheme == "http" else "wss")))
    return is_ws_url(s)


# --- Upper bounds: every number of a scenario has one (docs/scenario.md, "Bounds") --------

MIB = 1 << 20
MAX_USERS = 100_000  # concurrent users, across all workers
MAX_SPAWN_RATE = 10_000  # users started per second
MAX_DURATION = 7 * 86_400  # s: a week-long soak; also hold, chaos at and for
MAX_TIMEOUT = 3_600  # s: every timeout and wait, client's and embedded target's
MAX_MESSAGES = 1_000_000  # messages per connection
MAX_MESSAGE_BYTES = 16 * MIB  # bytes of one message a user sends
MAX_LIMIT_BYTES = 64 * MIB  # bytes of load.limits (frame, message)
MAX_FRAGMENTS = 65_536  # frames of one message
MAX_WEIGHT = 1_000_000  # a token kind's weight in load.mix
MAX_LIFETIME = 365 * 86_400  # s: a valid token's lifetime
MAX_CONNECTIONS = 100_000  # the embedded target's connection limit
MAX_DECLARED_CONNECTIONS = 100_000_000  # a service's declared limit (target.expect)
MAX_REFUSAL_CODES = 16  # HTTP statuses and close codes in target.expect.refusals
MAX_TARGET_PROCESSES = 64  # processes of the embedded target sharing its port
MAX_RSS_MB = 1 << 20  # MB: the embedded target's memory threshold (1 TiB)
MAX_PID = 1 << 22  # Linux's largest pid_max
MAX_HOSTS = 256  # entries of target.allow_hosts
MAX_RECONNECTS = 1_000_000  # load.reconnect.max_attempts: reconnects per lost connection
MAX_BACKOFF_FACTOR = 100  # load.reconnect.factor
MAX_NAMES = 64  # entries of a list or mapping of names (transports, error patterns, events)
MAX_SHORT_TEXT = 200  # characters of a name or pattern (a Socket.IO event, an error pattern)
MAX_STAGES = 50  # entries of load.stages
MAX_ARRIVAL_RATE = 10_000  # new sessions per second of an arrival-rate stage
#: an arrival-rate stage's users by default: enough for sessions up to this long (s)
DEFAULT_POOL_S = 10


SHARE = Check("a number in [0, 1]", NUM, lambda v: 0 <= v <= 1)
NUMBER = Check("a number", NUM)
BOOL = Check("true or false", (bool,))
TEXT = Check("a string", (str,))
NAME = Check("a non-empty string", (str,), bool)
URL = Check("a ws:// or wss:// URL with a host", (str,), is_ws_url)
#: a Socket.IO service's URL (target.protocol socketio)
SOCKETIO_URL = Check(
    "a ws://, wss://, http:// or https:// URL with a host", (str,), is_socketio_url
)
SHORT_TEXT = Check(
    f"a non-empty string of at most {MAX_SHORT_TEXT} characters",
    (str,),
    lambda v: 0 < len(v) <= MAX_SHORT_TEXT,
)
HOST = Check("a host name or an IP address", (str,), is_host)
IP_ADDRESS = Check("an IPv4 or IPv6 address", (str,), is_ip_address)
USERS = bounded("integer", 1, MAX_USERS)
SPAWN_RATE = bounded("number", 0, MAX_SPAWN_RATE, low_open=True)
DURATION = bounded("number", 0, MAX_DURATION, low_open=True)
TIMEOUT = bounded("number", 0, MAX_TIMEOUT, low_open=True)
DEFECT = one_of(sc.DEFECTS)
#: Close codes a server may send (RFC 6455 section 7.4); harness.protocol.frames holds the same
#: rule for frames, but config sits below protocol, so the set is spelt here too.
_WIRE_STANDARD_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))
CLOSE_CODE = Check(
    "a close code a server may send (1000-1003, 1007-1014, 3000-4999)",
    (int,),
    lambda v: v in _WIRE_STANDARD_CODES or 3000 <= v <= 4999,
)
HTTP_STATUS = Check("an HTTP status in [200, 599]", (int,), lambda v: 200 <= v <= 599)
#: what a service may refuse with (``target.expect.refusals``): a refused upgrade's status,
#: or a close code
REFUSAL_CODE = Check(
    "an HTTP status in [400, 599] or a close code a server may send (1000-1003, 1007-1014, "
    "3000-4999)",
    (int,),
    lambda v: 400 <= v <= 599 or v in _WIRE_STANDARD_CODES or 3000 <= v <= 4999,
)
KEY = Check("a scalar key", (object, bool))  # any constructed scalar
JSON_SCALAR = Check("a string, number, boolean or null", (str, int, float, bool, type(None)))
VARIABLE_NAME = Check("a variable name", (str,), re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch)
PATH = Check("a path", (str,), bool)
HEADER_NAME = Check("a header name", (str,), re.compile(r"[!#$%&'*+.^_`|~\w-]+").fullmatch)
#: an HTTP auth scheme (a token, RFC 9110 section 11.1), or "" for the bare token
SCHEME = Check(
    "a scheme name or an empty string", (str,), re.compile(r"[!#$%&'*+.^_`|~\w-]*").fullmatch
)
COOKIE_NAME = HEADER_NAME  # a cookie name is a token too (RFC 6265 section 4.1.1)
MAX_TEMPLATE_CHARS = 4096  # auth.subprotocol, auth.first_message.template
TOKEN_TEMPLATE = Check(
    f'a string holding "{{token}}" once, at most {MAX_TEMPLATE_CHARS} characters, one line',
    (str,),
    lambda v: (
        v.count("{token}") == 1 and len(v) <= MAX_TEMPLATE_CHARS and not {"\r", "\n"} & set(v)
    ),
)

# --- Session flows (load.session.flow, load.session.hook) ---------------------------------

MAX_FLOW_STEPS = 256  # steps written in load.session.flow, those inside repeats included
MAX_FLOW_DEPTH = 8  # repeats inside repeats
MAX_REPEAT = 1_000_000  # times one repeat runs its steps
MAX_FLOW_RUN = 1_000_000  # steps one attempt runs, repeats expanded (as load.session.messages)
MAX_FLOW_TEMPLATE_CHARS = 65_536  # characters of one flow message template
FLOW_TEMPLATE = Check(
    f"a string of at most {MAX_FLOW_TEMPLATE_CHARS} characters",
    (str,),
    lambda v: len(v) <= MAX_FLOW_TEMPLATE_CHARS,
)
MAX_HOOK_CHARS = 4096  # characters of load.session.hook
#: "module.name:function" or "path/to/file.py:function" (or null: no hook)
_HOOK_SPEC = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*|[^\r\n\0]+\.py):[A-Za-z_][A-Za-z0-9_]*"
)
HOOK = Check(
    f'"module:function" or "path/to/file.py:function" (at most {MAX_HOOK_CHARS} characters),'
    " or null",
    (str, type(None)),
    lambda v: v is None or (len(v) <= MAX_HOOK_CHARS and _HOOK_SPEC.fullmatch(v) is not None),
)
