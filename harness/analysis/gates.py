"""Pure gate evaluation: ``metric[token_kind]@phase op threshold`` against a run summary.

Where a gate reads its number (see :mod:`harness.analysis.summary` for the layout):

- section metrics (counts per verdict, ``attempts``, ``success_rate``, ``abrupt_rate``,
  ``graceful_share``, handshake percentiles): the section of the gate's token kind, or the
  ``total`` section when it names none; with a ``phase``, that section inside
  ``summary["phases"][phase]``;
- ``recovery_s``: ``summary["recovery"][fault]["recovery_s"]`` (seconds; valid tokens only,
  so the gate's token kind and phase do not apply);
- ``findings``: how many of ``summary["findings"]`` have a severity at or above the gate's.

Rates and shares are 0..1, handshake percentiles milliseconds, recovery seconds, the rest
counts. A gate never passes vacuously: when its value is missing (no attempts of that kind
or in that phase, no counted attempts, no handshake completed, no refusal, a window that
did not recover, a summary without findings) it fails and says why.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.analysis.findings import severity_at_least
from harness.config.metrics import GATE_METRICS
from harness.config.scenario import GATE_OPS, SEVERITIES, Gate
from harness.numbers import finite
from harness.protocol.outcomes import Verdict

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

#: Metrics read straight from a section's key of the same name (0..1, None without data).
RATE_METRICS: frozenset[str] = frozenset({"success_rate", "abrupt_rate", "graceful_share"})

#: Metrics that read a part of the summary other than a section.
RUN_METRICS: frozenset[str] = frozenset({"recovery_s", "findings"})


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate.

    Attributes:
        name: the gate's name from the scenario.
        metric: one of :data:`harness.config.metrics.GATE_METRICS`.
        token_kind: the token kind the metric was read for (None: all kinds).
        op: one of :data:`harness.config.scenario.GATE_OPS`.
        threshold: the number the value is compared with (same unit as the metric).
        value: the metric's value, None when there was no data.
        passed: True only when there was a value and the comparison held.
        message: one line, e.g. ``FAIL invalid_accepted[empty] == 0: got 37``.
        phase: the phase the metric was read in (None: the whole run).
        fault: the chaos window of a ``recovery_s`` gate.
        severity: the lowest severity a ``findings`` gate counts.
    """

    name: str
    metric: str
    token_kind: str | None
    op: str
    threshold: float
    value: float | None
    passed: bool
    message: str
    phase: str | None = None
    fault: str | None = None
    severity: str | None = None

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


def _section(
    summary: Mapping[str, Any], token_kind: str | None, phase: str | None = None
) -> Mapping[str, Any] | None:
    """The section a metric is read from: of a kind (or ``total``), of a phase (or the run)."""
    holder: Any = summary
    if phase is not None:
        holder = (summary.get("phases") or {}).get(phase)
        if not isinstance(holder, Mapping):
            return None
    sec = (
        holder.get("total")
        if token_kind is None
        else (holder.get("token_kinds") or {}).get(token_kind)
    )
    return sec if isinstance(sec, Mapping) else None


def _recovery(summary: Mapping[str, Any], fault: str | None) -> Mapping[str, Any] | None:
    rec = (summary.get("recovery") or {}).get(fault) if fault is not None else None
    return rec if isinstance(rec, Mapping) else None


def _findings_count(summary: Mapping[str, Any], severity: str | None) -> float | None:
    found = summary.get("findings")
    if severity not in SEVERITIES or not isinstance(found, list):
        return None
    return float(
        sum(
            1
            for f in found
            if isinstance(f, Mapping)
            and f.get("severity") in SEVERITIES
            and severity_at_least(str(f["severity"]), str(severity))
        )
    )


def metric_value(
    summary: Mapping[str, Any],
    metric: str,
    token_kind: str | None,
    *,
    phase: str | None = None,
    fault: str | None = None,
    severity: str | None = None,
) -> float | None:
    """The value of ``metric`` for ``token_kind`` (None: all kinds), or None when there is none.

    Args:
        summary: the run summary.
        metric: one of :data:`harness.config.metrics.GATE_METRICS`.
        token_kind: the token kind whose section is read; None: the ``total`` section.
        phase: read the section of this phase (``baseline``, ``during <label>``,
            ``after <label>``); None: the whole run.
        fault: the chaos window label of ``recovery_s``.
        severity: the lowest severity ``findings`` counts (one of
            :data:`harness.config.scenario.SEVERITIES`).

    Section counts (``attempts`` and the verdicts) are None when the section has no attempts
    (``attempts``) or no counted attempts (verdicts), so that a gate such as
    ``invalid_accepted[empty] == 0`` cannot pass when no empty token was ever tried.

    Raises:
        ValueError: ``metric`` is not one of :data:`harness.config.metrics.GATE_METRICS`.
    """
    if metric not in GATE_METRICS:
        raise ValueError(f"unknown gate metric {metric!r}; allowed: {', '.join(GATE_METRICS)}")
    if metric == "recovery_s":
        return finite((_recovery(summary, fault) or {}).get("recovery_s"))
    if metric == "findings":
        return _findings_count(summary, severity)
    sec = _section(summary, token_kind, phase)
    if sec is None or not sec.get("attempts"):
        return None
    if metric == "attempts":
        return finite(sec.get("attempts"))
    if metric in RATE_METRICS:
        return finite(sec.get(metric))
    if metric in HANDSHAKE_METRICS:
        return finite((sec.get("handshake_ms") or {}).get(HANDSHAKE_METRICS[metric]))
    if metric in VERDICT_METRICS:
        if not sec.get("counted"):
            return None
        return finite((sec.get("verdicts") or {}).get(metric, 0))
    raise AssertionError(f"gate metric {metric!r} has no reader")  # pragma: no cover


def _no_data_reason(summary: Mapping[str, Any], gate: Gate) -> str:
    """Why ``gate`` has no value, for its message (``no data (...)``)."""
    if gate.metric == "recovery_s":
        return _no_recovery_reason(summary, gate.fault)
    if gate.metric == "findings":
        if gate.severity not in SEVERITIES:
            return f"no data (severity {gate.severity!r} is not one of {', '.join(SEVERITIES)})"
        return "no data (the summary has no findings list)"
    if gate.phase is not None and not isinstance(
        (summary.get("phases") or {}).get(gate.phase), Mapping
    ):
        known = ", ".join(summary.get("phases") or {}) or "none"
        return f"no data (no phase {gate.phase!r} in this run; phases: {known})"
    sec = _section(summary, gate.token_kind, gate.phase)
    what = f"of kind {gate.token_kind!r}" if gate.token_kind else "at all"
    where = f" in phase {gate.phase!r}" if gate.phase else ""
    if sec is None or not sec.get("attempts"):
        return f"no data (no attempts {what}{where})"
    if gate.metric in HANDSHAKE_METRICS:
        return f"no data (no handshake completed{where})"
    if gate.metric == "graceful_share":
        return f"no data (no refusals {what}{where})"
    return f"no data (no counted attempts {what}{where}; all excluded)"


def _no_recovery_reason(summary: Mapping[str, Any], fault: str | None) -> str:
    if fault is None:
        return "no data (recovery_s needs a fault: the chaos window's label)"
    rec = _recovery(summary, fault)
    if rec is None:
        known = ", ".join(summary.get("recovery") or {}) or "none"
        return f"no data (no chaos window {fault!r} in this run; windows: {known})"
    status = str(rec.get("status") or "no recovery time")
    return f"{fault} {status}" if status == "did not recover" else f"no data ({fault}: {status})"


def evaluate_gate(summary: Mapping[str, Any], gate: Gate) -> GateResult:
    """Evaluate one gate against a summary (pure); unknown metrics or operators fail it."""
    desc = gate.describe()
    value: float | None = None
    if gate.metric not in GATE_METRICS:
        passed, detail = False, f"unknown metric {gate.metric!r}"
    elif gate.op not in OPS:
        passed, detail = False, f"unknown operator {gate.op!r}"
    else:
        value = metric_value(
            summary,
            gate.metric,
            gate.token_kind,
            phase=gate.phase,
            fault=gate.fault,
            severity=gate.severity,
        )
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
        phase=gate.phase,
        fault=gate.fault,
        severity=gate.severity,
    )


def evaluate_gates(summary: Mapping[str, Any], gates: Sequence[Gate]) -> list[GateResult]:
    """Evaluate every gate against a summary (pure), in the gates' order."""
    return [evaluate_gate(summary, gate) for gate in gates]


def all_passed(results: Sequence[GateResult]) -> bool:
    """True when every gate passed (and trivially when there are none)."""
    return all(r.passed for r in results)
