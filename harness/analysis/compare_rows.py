"""The rows of a comparison (pure): two run summaries in, a :class:`Comparison` out.

Metrics are compared overall, per token kind, and per chaos phase when both runs have the
same phases; gates are compared by name. Each row is judged by
:func:`harness.analysis.compare_rules.judge`; warnings say why a comparison may mislead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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
from harness.numbers import finite

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
    """One side of a comparison: where it came from and its summary (``summary.json``)."""

    label: str  # "A" or "B"
    path: Path | None  # the run directory; None for a summary built by hand
    run_id: str
    scenario: str
    summary: Mapping[str, Any]


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
                "complete": bool(info.summary.get("complete")),
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


def section_metrics(sec: Mapping[str, Any], seconds: float | None) -> dict[str, float | None]:
    """The judged values of one summary section; ``seconds`` is its length (rate), if known.

    A metric that does not apply to the section's expected outcome (valid refusals of
    kinds that expect a rejection, and the reverse) or has no value in it is left out.
    """
    counted = int(sec.get("counted") or 0)
    verdicts: Mapping[str, Any] = sec.get("verdicts") or {}
    hs: Mapping[str, Any] = sec.get("handshake_ms") or {}
    expected = sec.get("expected")
    out: dict[str, float | None] = {
        "success_rate": finite(sec.get("success_rate")),
        "abrupt_rate": finite(sec.get("abrupt_rate")),
        "graceful_share": finite(sec.get("graceful_share")),
    }
    for verdict, metric, skip in (
        ("valid_refused", "valid_refused_rate", "reject"),
        ("invalid_accepted", "invalid_accepted_rate", "accept"),
    ):
        if expected != skip:
            out[metric] = int(verdicts.get(verdict, 0)) / counted if counted else None
    for key in ("p50", "p95", "p99"):
        out[f"handshake_{key}_ms"] = finite(hs.get(key))
    if seconds:
        out["attempts_per_s"] = int(sec.get("attempts") or 0) / seconds
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


def _span_s(phase: Mapping[str, Any]) -> float | None:
    start, end = finite(phase.get("start_s")), finite(phase.get("end_s"))
    return end - start if start is not None and end is not None and end > start else None


def _gate_rows(ga: Sequence[Mapping[str, Any]], gb: Sequence[Mapping[str, Any]]) -> list[Row]:
    """One row per gate name in either run: pass (1) or fail (0) in A and in B."""
    by_a = {str(g.get("name")): g for g in ga}
    by_b = {str(g.get("name")): g for g in gb}
    rows = []
    for name in [*by_a, *(n for n in by_b if n not in by_a)]:
        a, b = by_a.get(name), by_b.get(name)
        va = None if a is None else float(bool(a.get("passed")))
        vb = None if b is None else float(bool(b.get("passed")))
        verdict, note = judge("gate", va, vb, DEFAULT_TOLERANCE)
        if a is None or b is None:
            verdict, note = INFO, f"gate only in {'B' if a is None else 'A'}"
        message = str((b or a or {}).get("message") or "")
        rows.append(_row("gate", name, va, vb, verdict, "; ".join(x for x in (note, message) if x)))
    return rows


def _warnings(sa: Mapping[str, Any], sb: Mapping[str, Any], load_a: Any, load_b: Any) -> list[str]:
    """Why the comparison may mislead: other scenario or load, a run cut short, generator faults."""
    out = []
    if sa.get("scenario") != sb.get("scenario"):
        out.append(
            f"WARNING: the runs are of different scenarios ({sa.get('scenario')!r} vs"
            f" {sb.get('scenario')!r}): differences may come from the scenarios."
        )
    if isinstance(load_a, dict) and isinstance(load_b, dict) and load_a != load_b:
        keys = sorted(k for k in load_a.keys() | load_b.keys() if load_a.get(k) != load_b.get(k))
        out.append(f"WARNING: the runs' load settings differ ({', '.join(keys)}).")
    for label, s in (("A", sa), ("B", sb)):
        if not s.get("complete", False):
            out.append(f"WARNING: run {label} was cut short; it covers only part of its run.")
        if share := finite(s.get("generator_fault_share")):
            out.append(
                f"WARNING: {share:.1%} of run {label}'s attempts failed inside the load"
                " generator (the harness's own failure, not the target's)."
            )
    return out


def compare_summaries(
    summary_a: Mapping[str, Any],
    summary_b: Mapping[str, Any],
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    *,
    samples: tuple[Samples | None, Samples | None] = (None, None),
    scenarios: tuple[Mapping[str, Any], Mapping[str, Any]] = ({}, {}),
    paths: tuple[Path | None, Path | None] = (None, None),
) -> Comparison:
    """Compare two run summaries (pure; see :mod:`harness.analysis.summary` for their layout).

    Args:
        summary_a, summary_b: the baseline's and the candidate's ``summary.json``.
        tolerance: how much worse B may be.
        samples: raw handshake times per scope of A and B (see :data:`Samples`) for the
            latency rule's sample-size and confidence checks; None: not checked.
        scenarios: the runs' ``scenario.json`` (differing load settings give a warning).
        paths: the run directories, kept for the charts.
    """
    sa, sb, tol = summary_a, summary_b, tolerance
    rows: list[Row] = []

    def add(
        scope: str,
        phase: str | None,
        kind: str | None,
        xa: Any,
        xb: Any,
        secs: tuple[float | None, float | None] = (None, None),
    ) -> None:
        ma, mb = section_metrics(xa or {}, secs[0]), section_metrics(xb or {}, secs[1])
        for metric in (m for m in METRICS if m in ma or m in mb):
            a, b = ma.get(metric), mb.get(metric)
            if metric == "graceful_share" and a is None and b is None:
                continue  # no refusals in either run: nothing to compare
            raw = [None if s is None else s.get((phase, kind), np.empty(0)) for s in samples]
            verdict, note = judge(metric, a, b, tol, raw[0], raw[1])
            rows.append(_row(metric, scope, a, b, verdict, note, phase, kind))

    ka, kb = dict(sa.get("token_kinds") or {}), dict(sb.get("token_kinds") or {})
    add(
        "all",
        None,
        None,
        sa.get("total"),
        sb.get("total"),
        (finite(sa.get("duration_s")), finite(sb.get("duration_s"))),
    )
    gen = [finite(s.get("generator_fault_share")) for s in (sa, sb)]
    rows.append(_row("generator_fault_share", "all", gen[0], gen[1], INFO, "the harness's own"))
    for kind in (k for k in ka if k in kb):
        add(kind, None, kind, ka[kind], kb[kind])
    warns = _warnings(sa, sb, scenarios[0].get("load"), scenarios[1].get("load"))
    pa, pb = dict(sa.get("phases") or {}), dict(sb.get("phases") or {})
    if list(pa) != list(pb):
        warns.append(
            f"WARNING: the runs' chaos phases differ (A: {', '.join(pa) or 'none'};"
            f" B: {', '.join(pb) or 'none'}): phases are not compared."
        )
    elif list(pa) != ["baseline"]:  # a run without chaos: its one phase is the whole run
        for name, xa in pa.items():
            xb = pb[name]
            add(
                f"{name} / all",
                name,
                None,
                xa.get("total"),
                xb.get("total"),
                (_span_s(xa), _span_s(xb)),
            )
            pka, pkb = xa.get("token_kinds") or {}, xb.get("token_kinds") or {}
            for kind in (k for k in pka if k in pkb):
                add(f"{name} / {kind}", name, kind, pka[kind], pkb[kind])
    rows += _gate_rows(list(sa.get("gates") or []), list(sb.get("gates") or []))
    only_a, only_b = [k for k in ka if k not in kb], [k for k in kb if k not in ka]
    for label, only in (("A", only_a), ("B", only_b)):
        if only:
            warns.append(f"Token kinds only in run {label} (not compared): {', '.join(only)}.")
    infos = [
        RunInfo(label, path, str(s.get("run_id") or ""), str(s.get("scenario") or ""), s)
        for label, path, s in (("A", paths[0], sa), ("B", paths[1], sb))
    ]
    return Comparison(
        infos[0], infos[1], tol, tuple(rows), tuple(warns), tuple(only_a), tuple(only_b)
    )
