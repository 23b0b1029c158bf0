"""Pure gate evaluation: ``metric[token_kind]@phase op threshold`` against a run summary.

Which metrics exist, their units and where each is read (its scope) come from the
gate-metric registry, :data:`harness.config.metrics.GATE_METRICS`; how each value is read
from the summary is :data:`SECTION_READERS` here:

- ``section`` metrics (counts per verdict, ``attempts``, ``success_rate``, ``abrupt_rate``,
  ``graceful_share``, handshake percentiles): the section of the gate's token kind, or the
  ``total`` section when it names none; with a ``phase``, that section of the phase;
- ``recovery`` (``recovery_s``): the recovery of the chaos window named by the gate's
  ``fault`` (seconds; valid tokens only, so its token kind and phase do not apply);
- ``findings``: how many findings have a severity at or above the gate's ``severity``.

Rates and shares are 0..1, handshake percentiles milliseconds, recovery seconds, the rest
counts. A gate never passes vacuously: when its value is missing (no attempts of that kind
or in that phase, no counted attempts, no handshake completed, no refusal, a window that
did not recover, a severity that is not one) it fails and says why.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from harness.analysis.rules import severity_at_least
from harness.analysis.summary import GateResult, Section, Summary
from harness.config.metrics import GATE_METRICS
from harness.config.scenario import GATE_OPS, SEVERITIES, Gate
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


def _count(verdict: Verdict) -> Callable[[Section], float | None]:
    """A verdict count, None without counted attempts (so ``invalid_accepted == 0`` cannot
    pass when no such token was ever tried); generator faults need only attempts."""
    if verdict is Verdict.GENERATOR_FAULT:
        return lambda s: float(s.verdict(verdict))
    return lambda s: float(s.verdict(verdict)) if s.counted else None


#: How each ``section`` metric is read from a section (a section without attempts has none).
SECTION_READERS: Mapping[str, Callable[[Section], float | None]] = {
    "success_rate": lambda s: s.success_rate,
    "abrupt_rate": lambda s: s.abrupt_rate,
    "graceful_share": lambda s: s.graceful_share,
    "attempts": lambda s: float(s.attempts),
    "ok": _count(Verdict.OK),
    "valid_refused": _count(Verdict.VALID_REFUSED),
    "invalid_accepted": _count(Verdict.INVALID_ACCEPTED),
    "abrupt": _count(Verdict.ABRUPT),
    "wrong_rejection": _count(Verdict.WRONG_REJECTION),
    "generator_fault": _count(Verdict.GENERATOR_FAULT),
    "handshake_p50_ms": lambda s: s.handshake_ms.p50,
    "handshake_p95_ms": lambda s: s.handshake_ms.p95,
    "handshake_p99_ms": lambda s: s.handshake_ms.p99,
}
assert set(SECTION_READERS) == {n for n, m in GATE_METRICS.items() if m.scope == "section"}, (
    "every section metric of the registry needs a reader, and only those"
)


def format_value(value: float | None) -> str:
    """A metric value for messages: integers without decimals, others to 6 significant digits."""
    if value is None:
        return "no data"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6g}"


def gate_section(summary: Summary, token_kind: str | None, phase: str | None) -> Section | None:
    """The section a metric is read from: of a kind (or ``total``), of a phase (or the run)."""
    if phase is not None:
        holder = summary.phases.get(phase)
        if holder is None:
            return None
        return holder.total if token_kind is None else holder.token_kinds.get(token_kind)
    return summary.total if token_kind is None else summary.token_kinds.get(token_kind)


def findings_count(summary: Summary, severity: str | None) -> float | None:
    """Findings at or above ``severity``; None when it is not a severity."""
    if severity not in SEVERITIES:
        return None
    return float(sum(1 for f in summary.findings if severity_at_least(f.severity, severity)))


def metric_value(
    summary: Summary,
    metric: str,
    token_kind: str | None = None,
    *,
    phase: str | None = None,
    fault: str | None = None,
    severity: str | None = None,
) -> float | None:
    """The value of ``metric`` for ``token_kind`` (None: all kinds), or None when there is none.

    Args:
        summary: the run summary.
        metric: a name of :data:`harness.config.metrics.GATE_METRICS`.
        token_kind: the token kind whose section is read; None: the ``total`` section.
        phase: read the section of this phase (``baseline``, ``during <label>``,
            ``after <label>``); None: the whole run.
        fault: the chaos window label of a ``recovery`` metric.
        severity: the lowest severity a ``findings`` metric counts.

    Raises:
        ValueError: ``metric`` is not a gate metric.
    """
    spec = GATE_METRICS.get(metric)
    if spec is None:
        raise ValueError(f"unknown gate metric {metric!r}; allowed: {', '.join(GATE_METRICS)}")
    if spec.scope == "recovery":
        rec = summary.recovery.get(fault) if fault is not None else None
        return None if rec is None else rec.recovery_s
    if spec.scope == "findings":
        return findings_count(summary, severity)
    sec = gate_section(summary, token_kind, phase)
    if sec is None or not sec.attempts:
        return None
    return SECTION_READERS[metric](sec)


def no_data_reason(summary: Summary, gate: Gate) -> str:
    """Why ``gate`` has no value, for its message (``no data (...)``)."""
    scope = GATE_METRICS[gate.metric].scope
    if scope == "recovery":
        return _no_recovery_reason(summary, gate.fault)
    if scope == "findings":
        return f"no data (severity {gate.severity!r} is not one of {', '.join(SEVERITIES)})"
    if gate.phase is not None and gate.phase not in summary.phases:
        known = ", ".join(summary.phases) or "none"
        return f"no data (no phase {gate.phase!r} in this run; phases: {known})"
    sec = gate_section(summary, gate.token_kind, gate.phase)
    what = f"of kind {gate.token_kind!r}" if gate.token_kind else "at all"
    where = f" in phase {gate.phase!r}" if gate.phase else ""
    if sec is None or not sec.attempts:
        return f"no data (no attempts {what}{where})"
    if gate.metric.startswith("handshake_"):
        return f"no data (no handshake completed{where})"
    if gate.metric == "graceful_share":
        return f"no data (no refusals {what}{where})"
    return f"no data (no counted attempts {what}{where}; all excluded or generator faults)"


def _no_recovery_reason(summary: Summary, fault: str | None) -> str:
    if fault is None:
        return "no data (recovery_s needs a fault: the chaos window's label)"
    rec = summary.recovery.get(fault)
    if rec is None:
        known = ", ".join(summary.recovery) or "none"
        return f"no data (no chaos window {fault!r} in this run; windows: {known})"
    return (
        f"{fault} {rec.status}"
        if rec.status == "did not recover"
        else (f"no data ({fault}: {rec.status})")
    )


def evaluate_gate(summary: Summary, gate: Gate) -> GateResult:
    """Evaluate one gate against a summary (pure); unknown metrics or operators fail it."""
    desc = gate.describe()
    value: float | None = None
    spec = GATE_METRICS.get(gate.metric)
    if spec is None:
        passed, detail = False, f"unknown metric {gate.metric!r}"
    elif gate.op not in OPS:
        passed, detail = False, f"unknown operator {gate.op!r}"
    else:
        own = metric_value(
            summary,
            gate.metric,
            gate.token_kind,
            phase=gate.phase,
            fault=gate.fault,
            severity=gate.severity,
        )
        value, reference = own, None
        if gate.relative_to is not None and own is not None:
            reference = metric_value(summary, gate.metric, gate.token_kind, phase=gate.relative_to)
            value = own / reference if reference else None
        if value is None:
            passed = False
            if own is None:
                detail = no_data_reason(summary, gate)
            elif reference is None:  # the reference phase has no value
                ref = replace(gate, phase=gate.relative_to, relative_to=None)
                detail = no_data_reason(summary, ref).replace("no data (", "no data (reference: ")
            else:
                detail = f"no data (the value in {gate.relative_to!r} is 0: no ratio)"
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
        unit=("ratio" if gate.relative_to else spec.unit) if spec else "",
        relative_to=gate.relative_to,
    )


def evaluate_gates(summary: Summary, gates: Sequence[Gate]) -> list[GateResult]:
    """Evaluate every gate against a summary (pure), in the gates' order."""
    return [evaluate_gate(summary, gate) for gate in gates]


def all_passed(results: Sequence[GateResult]) -> bool:
    """True when every gate passed (and trivially when there are none)."""
    return all(r.passed for r in results)


def with_gates(summary: Summary, gates: Sequence[Gate]) -> Summary:
    """The summary with its ``gates`` evaluated and ``passed`` set (pure)."""
    results = evaluate_gates(summary, gates)
    return replace(summary, gates=tuple(results), passed=all_passed(results))
