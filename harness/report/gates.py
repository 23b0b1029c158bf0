"""Pure gate evaluation: ``metric[token_kind] op threshold`` against a run summary.

A gate reads one number from the summary (see :mod:`harness.report.summary`): the
section of its token kind, or the ``total`` section when it names no kind. Rates
are shares in 0..1, handshake percentiles milliseconds, the rest counts of attempts.

A gate never passes vacuously: when its value is missing (no attempts of that kind,
no counted attempts, no handshake completed) it fails and says there was no data.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.outcomes import Verdict
from harness.scenario import GATE_METRICS, GATE_OPS, Gate

#: Comparison of each gate operator: ``OPS[op](value, threshold)``.
OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
assert set(OPS) == set(GATE_OPS), "every gate operator needs a comparison"

#: Metrics read from a section's ``verdicts`` counts.
VERDICT_METRICS: frozenset[str] = frozenset(v.value for v in Verdict) & frozenset(GATE_METRICS)

#: Metrics read from a section's ``handshake_ms`` percentiles (metric -> percentile key).
HANDSHAKE_METRICS: Mapping[str, str] = {
    "handshake_p50_ms": "p50",
    "handshake_p95_ms": "p95",
    "handshake_p99_ms": "p99",
}


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate.

    Attributes:
        name: the gate's name from the scenario.
        metric: one of :data:`harness.scenario.GATE_METRICS`.
        token_kind: the token kind the metric was read for (None: all kinds).
        op: one of :data:`harness.scenario.GATE_OPS`.
        threshold: the number the value is compared with (same unit as the metric).
        value: the metric's value, None when there was no data.
        passed: True only when there was a value and the comparison held.
        message: one line, e.g. ``FAIL invalid_accepted[empty] == 0: got 37``.
    """

    name: str
    metric: str
    token_kind: str | None
    op: str
    threshold: float
    value: float | None
    passed: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields."""
        return asdict(self)


def format_value(value: float | None) -> str:
    """A metric value for messages: integers without decimals, others to 6 significant digits."""
    if value is None:
        return "no data"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def _section(summary: Mapping[str, Any], token_kind: str | None) -> Mapping[str, Any] | None:
    if token_kind is None:
        sec = summary.get("total")
    else:
        sec = (summary.get("token_kinds") or {}).get(token_kind)
    return sec if isinstance(sec, Mapping) else None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def metric_value(summary: Mapping[str, Any], metric: str, token_kind: str | None) -> float | None:
    """The value of ``metric`` for ``token_kind`` (None: all kinds), or None when there is none.

    Counts (``attempts`` and the verdicts) are None when the section has no attempts
    (``attempts``) or no counted attempts (verdicts), so that a gate such as
    ``invalid_accepted[empty] == 0`` cannot pass when no empty token was ever tried.

    Raises:
        ValueError: ``metric`` is not one of :data:`harness.scenario.GATE_METRICS`.
    """
    if metric not in GATE_METRICS:
        raise ValueError(f"unknown gate metric {metric!r}; allowed: {', '.join(GATE_METRICS)}")
    sec = _section(summary, token_kind)
    if sec is None or not sec.get("attempts"):
        return None
    if metric == "attempts":
        return _number(sec.get("attempts"))
    if metric in ("success_rate", "abrupt_rate"):
        return _number(sec.get(metric))
    if metric in HANDSHAKE_METRICS:
        return _number((sec.get("handshake_ms") or {}).get(HANDSHAKE_METRICS[metric]))
    if metric in VERDICT_METRICS:
        if not sec.get("counted"):
            return None
        return _number((sec.get("verdicts") or {}).get(metric, 0))
    raise AssertionError(f"gate metric {metric!r} has no reader")  # pragma: no cover


def _no_data_reason(summary: Mapping[str, Any], gate: Gate) -> str:
    sec = _section(summary, gate.token_kind)
    what = f"of kind {gate.token_kind!r}" if gate.token_kind else "at all"
    if sec is None or not sec.get("attempts"):
        return f"no data (no attempts {what})"
    if gate.metric in HANDSHAKE_METRICS:
        return "no data (no handshake completed)"
    return f"no data (no counted attempts {what}; all excluded)"


def evaluate_gate(summary: Mapping[str, Any], gate: Gate) -> GateResult:
    """Evaluate one gate against a summary (pure); unknown metrics or operators fail it."""
    desc = gate.describe()
    value: float | None = None
    if gate.metric not in GATE_METRICS:
        passed, detail = False, f"unknown metric {gate.metric!r}"
    elif gate.op not in OPS:
        passed, detail = False, f"unknown operator {gate.op!r}"
    else:
        value = metric_value(summary, gate.metric, gate.token_kind)
        if value is None:
            passed, detail = False, _no_data_reason(summary, gate)
        else:
            passed = bool(OPS[gate.op](value, float(gate.threshold)))
            detail = f"got {format_value(value)}"
    return GateResult(
        name=gate.name,
        metric=gate.metric,
        token_kind=gate.token_kind,
        op=gate.op,
        threshold=float(gate.threshold),
        value=value,
        passed=passed,
        message=f"{'PASS' if passed else 'FAIL'} {desc}: {detail}",
    )


def evaluate_gates(summary: Mapping[str, Any], gates: Sequence[Gate]) -> list[GateResult]:
    """Evaluate every gate against a summary (pure), in the gates' order."""
    return [evaluate_gate(summary, gate) for gate in gates]


def all_passed(results: Sequence[GateResult]) -> bool:
    """True when every gate passed (and trivially when there are none)."""
    return all(r.passed for r in results)
