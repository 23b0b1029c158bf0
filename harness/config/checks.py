"""Value checks (pure): a rule for one scalar, with the ``expected X, got Y`` message.

A :class:`Check` takes a Python value (constructed from YAML, or given on the command
line) and returns the checked value or raises :class:`Invalid`. The YAML walker
(:mod:`harness.config.nodes`), the section tables (:mod:`harness.config.sections`) and the
command-line overrides share these, so a flag and a key say the same thing about the
same value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from harness.config import scenario as sc


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
_EXPONENT = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+")  # YAML 1.1 reads 1e-3 as text


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
        if float in self.types and isinstance(v, str) and _EXPONENT.fullmatch(v):
            msg += " (YAML reads 1e-3 as text: write 1.0e-3)"
        raise Invalid(msg)


def one_of(choices: Sequence[str]) -> Check:
    """A string that is one of ``choices`` (listed in their order in the message)."""
    return Check("one of " + ", ".join(choices), (str,), lambda v: v in choices)


def is_ws_url(s: str) -> bool:
    """A ``ws://`` or ``wss://`` URL with a host (and a numeric port, if any)."""
    try:
        u = urlsplit(s)
        return u.scheme in ("ws", "wss") and bool(u.hostname) and (u.port or 0) >= 0
    except ValueError:  # e.g. a port that is not a number
        return False


POSITIVE = Check("a number > 0", NUM, lambda v: v > 0)
NON_NEGATIVE = Check("a number >= 0", NUM, lambda v: v >= 0)
SHARE = Check("a number in [0, 1]", NUM, lambda v: 0 <= v <= 1)
NUMBER = Check("a number", NUM)
AT_LEAST_ONE = Check("an integer >= 1", (int,), lambda v: v >= 1)
COUNT = Check("an integer >= 0", (int,), lambda v: v >= 0)
BOOL = Check("true or false", (bool,))
TEXT = Check("a string", (str,))
NAME = Check("a non-empty string", (str,), bool)
URL = Check("a ws:// or wss:// URL with a host", (str,), is_ws_url)
DEFECT = one_of(sc.DEFECTS)
WAIT_ONE = replace(NON_NEGATIVE, expected="a number >= 0 or a [min, max] list")
CLOSE_CODE = Check("an integer in [4000, 4999]", (int,), lambda v: 4000 <= v <= 4999)
KEY = Check("a scalar key", (object, bool))  # any constructed scalar
JSON_SCALAR = Check("a string, number, boolean or null", (str, int, float, bool, type(None)))
VARIABLE_NAME = Check("a variable name", (str,), re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch)
PATH = Check("a path", (str,), bool)
HEADER_NAME = Check("a header name", (str,), re.compile(r"[!#$%&'*+.^_`|~\w-]+").fullmatch)
