"""The rows of a comparison (pure): two run summaries in, a :class:`Comparison` out.

Metrics are compared overall, per token kind, and per chaos phase when both runs have the
same phases; gates are compared by name. Each row is judged by
:func:`harness.analysis.compare_rules.judge`; warnings say why a comparison may mislead.
The raw handshake times the latency rule needs come from each run's attempts
(:func:`handshake_samples`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.compare_rules import (
    DEFAULT_TOLERANCE,
    IMPROVEMENT,
    INFO,
    METRICS,
    REGRESSION,
    Tolerance,
    judge,
)
from harness.analysis.run import Run
from harness.analysis.summary import GateResult, Phase, Section, Summary
from harness.protocol.outcomes import Verdict

COMPARE_SCHEMA_VERSION = 1

#: Handshake times (ms) of one run, per (phase or None, token kind or None = all kinds).
Samples = Mapping[tuple[str | None, str | None], np.ndarray[Any, np.dtype[np.float64]]]


@dataclass(frozen=True)
class Row:
    """One metric in one scope, A against B.

    Attributes:
        metric: a key of :data:`METRICS`.
        scope: ``all``, a token kind, ``<phase> / <kind or all>``, or a gate's name.
        a, b: the values in A and B (unit of the metric; None: no data).
        delta: ``b - a``; ratio: ``b / a`` (None when a value is missing or ``a`` is 0).
        verdict: :data:`REGRESSION`, :data:`IMPROVEMENT`, :data:`SAME`, :data:`INFO`
            or :data:`NO_DATA`.
        note: why, in a few words (tolerance, samples, gate messages).
        phase, kind: the scope's parts (None: whole run / all kinds).
    """

    metric: str
    scope: str
    a: float | None
    b: float | None
    delta: float | None
    ratio: float | None
    verdict: str
    note: str = ""
    phase: str | None = None
    kind: str | None = None

    @property
    def regression(self) -> bool:
        """B is worse than A beyond the tolerance."""
        return self.verdict == REGRESSION

    @property
    def improvement(self) -> bool:
        """B is better than A beyond the tolerance."""
        return self.verdict == IMPROVEMENT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields plus ``regression`` and ``improvement``."""
        return {**asdict(self), "regression": self.regression, "improvement": self.improvement}


@dataclass(frozen=True)
class RunInfo:
    """One side of a comparison: where it came from, its summary and (when at hand) its run.

    Attributes:
        label: "A" (the baseline) or "B" (the candidate).
        path: the run directory; None for a summary built by hand.
        run_id: the run's id.
        scenario: its scenario's name.
        summary: its summary, with gates.
        run: the run itself (attempts for the latency rule and the charts); None: not at hand.
    """

    label: str
    path: Path | None
    run_id: str
    scenario: str
    summary: Summary
    run: Run | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Comparison:
    """Run A against run B: every row, the warnings, the token kinds only one run has."""

    a: RunInfo
    b: RunInfo
    tolerance: Tolerance
    rows: tuple[Row, ...]
    warnings: tuple[str, ...] = ()
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[Row]:
        """The rows where B is worse than A beyond the tolerance."""
        return [r for r in self.rows if r.regression]

    @property
    def improvements(self) -> list[Row]:
        """The rows where B is better than A beyond the tolerance."""
        return [r for r in self.rows if r.improvement]

    def to_dict(self) -> dict[str, Any]:
        """The ``compare.json`` document."""

        def run(info: RunInfo) -> dict[str, Any]:
            return {
                "path": None if info.path is None else str(info.path),
                "run_id": info.run_id,
                "scenario": info.scenario,
                "complete": info.summary.complete,
            }

        return {
            "schema_version": COMPARE_SCHEMA_VERSION,
            "a": run(self.a),
            "b": run(self.b),
            "tolerance": asdict(self.tolerance),
            "regression": bool(self.regressions),
            "warnings": list(self.warnings),
            "only_in_a": list(self.only_in_a),
            "only_in_b": list(self.only_in_b),
            "regressions": [r.to_dict() for r in self.regressions],
            "improvements": [r.to_dict() for r in self.improvements],
            "rows": [r.to_dict() for r in self.rows],
        }


# --- Building the rows (pure) ------------------------------------------------------------


def section_metrics(sec: Section, seconds: float | None) -> dict[str, float | None]:
    """The judged values of one summary section; ``seconds`` is its length (rate), if known.

    A metric that does not apply to the section's expected outcome (valid refusals of
    kinds that expect a rejection, and the reverse) or has no value in it is left out.
    """
    out: dict[str, float | None] = {
        "success_rate": sec.success_rate,
        "abrupt_rate": sec.abrupt_rate,
        "graceful_share": sec.graceful_share,
    }
    for verdict, metric, skip in (
        (Verdict.VALID_REFUSED, "valid_refused_rate", "reject"),
        (Verdict.INVALID_ACCEPTED, "invalid_accepted_rate", "accept"),
    ):
        if sec.expected != skip:
            out[metric] = sec.verdict(verdict) / sec.counted if sec.counted else None
    out["handshake_p50_ms"] = sec.handshake_ms.p50
    out["handshake_p95_ms"] = sec.handshake_ms.p95
    out["handshake_p99_ms"] = sec.handshake_ms.p99
    if seconds:
        out["attempts_per_s"] = sec.attempts / seconds
    return out


def handshake_samples(run: Run) -> Samples | None:
    """Raw handshake times (ms) of a run per (phase, kind) scope; None without attempts."""
    attempts = run.attempts
    if attempts.empty:
        return None
    phase = attempts["phase"].astype(str).to_numpy()
    kind = attempts["token_kind"].astype(str).to_numpy()
    ms = attempts["handshake_ms"].to_numpy(dtype=float, na_value=np.nan)
    has = ~np.isnan(ms)
    out: dict[tuple[str | None, str | None], np.ndarray[Any, np.dtype[np.float64]]] = {}
    for p in [None, *sorted(set(phase))]:
        for k in [None, *sorted(set(kind))]:
            mask = has & (True if p is None else phase == p) & (True if k is None else kind == k)
            out[(p, k)] = ms[mask]
    return out


def _row(
    metric: str,
    scope: str,
    a: float | None,
    b: float | None,
    verdict: str,
    note: str,
    phase: str | None = None,
    kind: str | None = None,
) -> Row:
    delta = None if a is None or b is None else b - a
    ratio = None if a is None or b is None or a == 0 else b / a
    return Row(metric, scope, a, b, delta, ratio, verdict, note, phase, kind)


def _span_s(phase: Phase) -> float | None:
    start, end = phase.start_s, phase.end_s
    return end - start if start is not None and end is not None and end > start else None


def gate_rows(ga: Sequence[GateResult], gb: Sequence[GateResult]) -> list[Row]:
    """One row per gate name in either run: pass (1) or fail (0) in A and in B."""
    by_a = {g.name: g for g in ga}
    by_b = {g.name: g for g in gb}
    rows = []
    for name in [*by_a, *(n for n in by_b if n not in by_a)]:
        a, b = by_a.get(name), by_b.get(name)
        va = None if a is None else float(a.passed)
        vb = None if b is None else float(b.passed)
        verdict, note = judge("gate", va, vb, DEFAULT_TOLERANCE)
        if a is None or b is None:
            verdict, note = INFO, f"gate only in {'B' if a is None else 'A'}"
        shown = b or a
        message = shown.message if shown is not None else ""
        rows.append(_row("gate", name, va, vb, verdict, "; ".join(x for x in (note, message) if x)))
    return rows


def comparison_warnings(sa: Summary, sb: Summary, load_a: Any, load_b: Any) -> list[str]:
    """Why the comparison may mislead: other scenario or load, a run cut short, generator faults."""
    out = []
    if sa.scenario != sb.scenario:
        out.append(
            f"WARNING: the runs are of different scenarios ({sa.scenario!r} vs"
            f" {sb.scenario!r}): differences may come from the scenarios."
        )
    if isinstance(load_a, dict) and isinstance(load_b, dict) and load_a != load_b:
        keys = sorted(k for k in load_a.keys() | load_b.keys() if load_a.get(k) != load_b.get(k))
        out.append(f"WARNING: the runs' load settings differ ({', '.join(keys)}).")
    for label, s in (("A", sa), ("B", sb)):
        if not s.complete:
            out.append(f"WARNING: run {label} was cut short; it covers only part of its run.")
        if s.generator_fault_share:
            out.append(
                f"WARNING: {s.generator_fault_share:.1%} of run {label}'s attempts failed inside"
                " the load generator (the harness's own failure, not the target's)."
            )
    return out


def compare_summaries(
    summary_a: Summary,
    summary_b: Summary,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    *,
    runs: tuple[Run | None, Run | None] = (None, None),
) -> Comparison:
    """Compare two run summaries (pure).

    Args:
        summary_a, summary_b: the baseline's and the candidate's summary (with gates).
        tolerance: how much worse B may be.
        runs: the runs themselves, when at hand: their raw handshake times feed the latency
            rule's sample-size and confidence checks (without them, not checked), their
            scenarios' differing ``load`` settings give a warning, their directories are
            kept for the charts.
    """
    sa, sb, tol = summary_a, summary_b, tolerance
    rows: list[Row] = []
    samples = [None if r is None else handshake_samples(r) for r in runs]
    loads = [None if r is None else r.scenario.get("load") for r in runs]

    def add(
        scope: str,
        phase: str | None,
        kind: str | None,
        xa: Section,
        xb: Section,
        secs: tuple[float | None, float | None] = (None, None),
    ) -> None:
        ma, mb = section_metrics(xa, secs[0]), section_metrics(xb, secs[1])
        for metric in (m for m in METRICS if m in ma or m in mb):
            a, b = ma.get(metric), mb.get(metric)
            if metric == "graceful_share" and a is None and b is None:
                continue  # no refusals in either run: nothing to compare
            raw = [None if s is None else s.get((phase, kind), np.empty(0)) for s in samples]
            verdict, note = judge(metric, a, b, tol, raw[0], raw[1])
            rows.append(_row(metric, scope, a, b, verdict, note, phase, kind))

    ka, kb = sa.token_kinds, sb.token_kinds
    add("all", None, None, sa.total, sb.total, (sa.duration_s, sb.duration_s))
    gen = (sa.generator_fault_share, sb.generator_fault_share)
    rows.append(_row("generator_fault_share", "all", gen[0], gen[1], INFO, "the harness's own"))
    for kind in (k for k in ka if k in kb):
        add(kind, None, kind, ka[kind], kb[kind])
    warns = comparison_warnings(sa, sb, loads[0], loads[1])
    pa, pb = sa.phases, sb.phases
    if list(pa) != list(pb):
        warns.append(
            f"WARNING: the runs' chaos phases differ (A: {', '.join(pa) or 'none'};"
            f" B: {', '.join(pb) or 'none'}): phases are not compared."
        )
    elif list(pa) != ["baseline"]:  # a run without chaos: its one phase is the whole run
        for name, xa in pa.items():
            xb = pb[name]
            add(f"{name} / all", name, None, xa.total, xb.total, (_span_s(xa), _span_s(xb)))
            for kind in (k for k in xa.token_kinds if k in xb.token_kinds):
                add(f"{name} / {kind}", name, kind, xa.token_kinds[kind], xb.token_kinds[kind])
    rows += gate_rows(sa.gates, sb.gates)
    only_a, only_b = [k for k in ka if k not in kb], [k for k in kb if k not in ka]
    for label, only in (("A", only_a), ("B", only_b)):
        if only:
            warns.append(f"Token kinds only in run {label} (not compared): {', '.join(only)}.")
    infos = [
        RunInfo(label, None if run is None else run.path, s.run_id, s.scenario, s, run)
        for label, run, s in (("A", runs[0], sa), ("B", runs[1], sb))
    ]
    return Comparison(
        infos[0], infos[1], tol, tuple(rows), tuple(warns), tuple(only_a), tuple(only_b)
    )
