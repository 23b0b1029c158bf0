"""Two capacity searches compared (pure): a candidate release's capacity against a baseline's.

Input: two ``capacity.json`` objects (:mod:`harness.series.capacity`). The capacity, the
highest passing users, is judged: B below A by more than ``drop`` (a share of A) is a
regression, above by more is an improvement. What each sustained at its capacity
(handshakes/s, valid sessions/s, connections open, handshake p95) is shown, not judged:
those are figures of different loads.

A capacity is measured only when its search ended on the service's limit or at the top of
its range (``limited_by`` ``service`` or ``range``). A search the load generator's own limit
ended gives a lower bound: B's lower bound at or above A's capacity is still no regression,
anything else cannot be judged (the comparison says why, and is not a pass).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REGRESSION = "regression"
IMPROVED = "improved"
SAME = "ok"
INFO = "info"
NOT_JUDGED = "not judged"

#: Default allowed drop of the capacity, a share of the baseline's (10 %).
DEFAULT_CAPACITY_DROP = 0.1

#: Figures at the capacity shown beside it: (key of highest_passing, label).
SHOWN: tuple[tuple[str, str], ...] = (
    ("handshakes_per_s", "handshakes/s at capacity"),
    ("sessions_per_s", "valid sessions/s at capacity"),
    ("concurrent_connections", "connections open at capacity"),
    ("handshake_p95_ms", "handshake p95 ms at capacity"),
)


@dataclass(frozen=True)
class CapacityRow:
    metric: str
    a: float | None
    b: float | None
    verdict: str

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class CapacityComparison:
    """The comparison: who was compared, the rows, what could not be judged and why."""

    a: Mapping[str, Any]
    b: Mapping[str, Any]
    drop: float
    rows: tuple[CapacityRow, ...]
    warnings: tuple[str, ...] = ()
    regressions: tuple[str, ...] = ()
    judged: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "capacity-compare",
            "a": _who(self.a),
            "b": _who(self.b),
            "capacity_drop": self.drop,
            "judged": self.judged,
            "regressions": list(self.regressions),
            "warnings": list(self.warnings),
            "rows": [
                {"metric": r.metric, "a": r.a, "b": r.b, "delta": r.delta, "verdict": r.verdict}
                for r in self.rows
            ],
        }


def _who(c: Mapping[str, Any]) -> dict[str, Any]:
    best = c.get("highest_passing") or {}
    return {
        "capacity_id": c.get("capacity_id"),
        "scenario": c.get("scenario"),
        "limited_by": c.get("limited_by"),
        "load": best.get("load"),
        "verdict": c.get("verdict"),
    }


def _users(c: Mapping[str, Any]) -> float | None:
    best = c.get("highest_passing") or {}
    v = best.get("load", best.get("users"))
    return float(v) if isinstance(v, int | float) else None


def _measured(c: Mapping[str, Any]) -> bool:
    return c.get("limited_by") in ("service", "range")


def compare_capacities(
    a: Mapping[str, Any], b: Mapping[str, Any], *, drop: float = DEFAULT_CAPACITY_DROP
) -> CapacityComparison:
    """B's capacity against A's (see the module docstring)."""
    if not 0 <= drop < 1:
        raise ValueError(f"--capacity-drop: expected a share in [0, 1), got {drop:g}")
    warnings = []
    if a.get("scenario") != b.get("scenario"):
        warnings.append(f"different scenarios: A {a.get('scenario')}, B {b.get('scenario')}")
    if a.get("hold_s") != b.get("hold_s"):
        warnings.append(f"different hold: A {a.get('hold_s')} s, B {b.get('hold_s')} s")
    if a.get("range") != b.get("range"):
        warnings.append(f"different range: A {_range(a)}, B {_range(b)}")
    if a.get("axis", "users") != b.get("axis", "users"):
        raise ValueError(
            f"one search is of {a.get('axis', 'users')}, the other of {b.get('axis', 'users')}:"
            " compare searches of the same axis (--users or --rate)"
        )
    ua, ub = _users(a), _users(b)
    verdict, judged, why = _judge(a, b, ua, ub, drop)
    if why:
        warnings.append(why)
    unit = "users" if a.get("axis", "users") == "users" else "sessions/s"
    rows = [CapacityRow(f"capacity ({unit})", ua, ub, verdict)]
    best_a, best_b = a.get("highest_passing") or {}, b.get("highest_passing") or {}
    for key, label in SHOWN:
        rows.append(CapacityRow(label, _num(best_a.get(key)), _num(best_b.get(key)), INFO))
    regressions: tuple[str, ...] = ()
    if verdict == REGRESSION:
        regressions = (
            f"capacity dropped from {ua:g} to {ub or 0:g} {unit} "
            f"(more than {drop * 100:g}% below the baseline)",
        )
    return CapacityComparison(a, b, drop, tuple(rows), tuple(warnings), regressions, judged)


def _judge(
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    ua: float | None,
    ub: float | None,
    drop: float,
) -> tuple[str, bool, str]:
    """The capacity row's verdict, whether it was judged, and why not."""
    if not _measured(a):
        return NOT_JUDGED, False, f"A's capacity was not measured ({a.get('verdict')})"
    if ua is None:  # A failed even its first step: any B capacity is no regression
        return (IMPROVED if ub else SAME), True, ""
    if not _measured(b):
        if b.get("limited_by") == "generator" and ub is not None and ub >= ua:
            return SAME, True, "B's search ended at the load generator's limit, above A's capacity"
        return NOT_JUDGED, False, f"B's capacity was not measured ({b.get('verdict')})"
    if ub is None or ub < ua * (1 - drop):
        return REGRESSION, True, ""
    if a.get("limited_by") == "range" and ub >= ua:
        return SAME, True, "A passed its whole range: its capacity is at least its top"
    return (IMPROVED if ub > ua * (1 + drop) else SAME), True, ""


def _range(c: Mapping[str, Any]) -> str:
    r = c.get("range") or {}
    return f"{r.get('start')}:{r.get('stop')}:{r.get('step')}"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
