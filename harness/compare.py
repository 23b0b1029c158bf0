"""Compare two runs, a baseline release A against a candidate B: what regressed, what improved.

Each run is read from its ``summary.json`` (rebuilt with :func:`harness.report.build_report`
when missing) and, for the latency rule, its raw handshake times (``attempts.jsonl``).
Metrics are compared overall, per token kind, and per chaos phase when both runs have the
same phases; gates are compared by name. The rules are data (:data:`METRICS`): a change is
a regression only when B is worse than A by *more* than its :class:`Tolerance`, and an
improvement when B is better by more than the same amount:

=====================  =====  ==========================================================
metric                 unit   regression when B ...
=====================  =====  ==========================================================
success_rate           share  drops by more than ``success_rate_drop`` (absolute)
abrupt_rate            share  rises by more than ``abrupt_rate_rise``
graceful_share         share  drops by more than ``graceful_share_drop``
valid_refused_rate     share  rises by more than ``valid_refused_rise``
invalid_accepted_rate  share  rises at all (``invalid_accepted_rise`` = 0)
handshake_p95_ms       ms     exceeds A x ``latency_ratio`` and A + ``latency_floor_ms``,
                              both runs have ``latency_min_samples`` handshakes, and the
                              two p95s' confidence intervals do not overlap
attempts_per_s         1/s    drops by more than ``attempts_rate_drop`` (relative; shown,
                              not judged, by default)
gate                   -      passed in A and fails in B
=====================  =====  ==========================================================

``handshake_p50_ms``, ``handshake_p99_ms`` and ``generator_fault_share`` are shown, not
judged; generator faults (the load generator's own failures) give a warning, never a
regression of the target. Shares are per counted attempt (interrupted ones excluded).
Rendering (``compare.md``, charts, ``index.html``) lives in :mod:`harness.compare_html`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError, RunDirError

COMPARE_SCHEMA_VERSION = 1
COMPARE_FILE = "compare.json"

#: Row verdicts.
REGRESSION = "regression"
IMPROVEMENT = "improvement"
SAME = "within tolerance"
INFO = "not judged"
NO_DATA = "no data"

#: A change must exceed its tolerance by more than this (float noise: 1.0 - 0.99 > 0.01).
_EPS = 1e-9

#: Handshake times (ms) of one run, per (phase or None, token kind or None = all kinds).
Samples = Mapping[tuple[str | None, str | None], np.ndarray[Any, np.dtype[np.float64]]]


@dataclass(frozen=True)
class Tolerance:
    """How much worse run B may be than run A before a change is a regression.

    A change must be *more* than its tolerance; the same amount the other way is an
    improvement. Defaults suit short loopback runs of the embedded target.
    """

    # Rates: absolute, as shares of counted attempts (0.01 = 1 percentage point)
    success_rate_drop: float = 0.01
    abrupt_rate_rise: float = 0.01
    valid_refused_rise: float = 0.01
    invalid_accepted_rise: float = 0.0  # security: any rise is a regression
    graceful_share_drop: float = 0.05  # share of refusals that gave a reason
    # Latency: handshake p95
    latency_ratio: float = 1.25  # B's p95 may be up to 1.25 x A's ...
    latency_floor_ms: float = 2.0  # ... and differences under 2 ms are loopback noise
    latency_min_samples: int = 100  # handshakes each run needs in a scope to judge its p95
    latency_confidence: float | None = 0.95  # the p95s' CIs must not overlap; None: no check
    # Throughput
    attempts_rate_drop: float | None = None  # relative (0.25: 25% fewer/s); None: not judged

    def __post_init__(self) -> None:
        shares = [f.name for f in fields(self) if f.name.endswith(("_drop", "_rise"))]
        for name in shares:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"tolerance {name}: expected a share in [0, 1], got {value!r}")
        if not self.latency_ratio >= 1.0 or not self.latency_floor_ms >= 0.0:
            raise ValueError("tolerance: latency_ratio must be >= 1 and latency_floor_ms >= 0")
        conf = self.latency_confidence
        if self.latency_min_samples < 0 or (conf is not None and not 0.0 < conf < 1.0):
            raise ValueError("tolerance: latency_min_samples >= 0, latency_confidence in (0, 1)")


#: The default tolerances (a module constant: a frozen dataclass is safe as a default).
DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True)
class Metric:
    """How one metric is shown and judged.

    Attributes:
        unit: ``share`` (0..1, shown in %), ``ms``, ``per_s`` (1/s) or ``gate`` (1 pass, 0 fail).
        higher_is_better: the good direction; None: shown, not judged.
        tolerance: the :class:`Tolerance` field that bounds a worsening (None: special rule).
        relative: the tolerance is a share of A's value rather than an absolute amount.
    """

    unit: str
    higher_is_better: bool | None
    tolerance: str | None = None
    relative: bool = False


#: Every compared metric, in display order (see the table in the module docstring).
METRICS: Mapping[str, Metric] = {
    "success_rate": Metric("share", True, "success_rate_drop"),
    "abrupt_rate": Metric("share", False, "abrupt_rate_rise"),
    "graceful_share": Metric("share", True, "graceful_share_drop"),
    "valid_refused_rate": Metric("share", False, "valid_refused_rise"),
    "invalid_accepted_rate": Metric("share", False, "invalid_accepted_rise"),
    "handshake_p50_ms": Metric("ms", None),
    "handshake_p95_ms": Metric("ms", False),  # the latency rule
    "handshake_p99_ms": Metric("ms", None),
    "attempts_per_s": Metric("per_s", True, "attempts_rate_drop", relative=True),
    "generator_fault_share": Metric("share", None),
    "gate": Metric("gate", True),
}


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


# --- Rules (pure) -----------------------------------------------------------------------


def quantile_ci(
    values: Sequence[float] | np.ndarray[Any, Any], q: float, confidence: float
) -> tuple[float, float] | None:
    """A distribution-free confidence interval of the ``q`` quantile, from order statistics.

    The count of samples below the true quantile is Binomial(n, q); the interval runs from
    the sample of rank ``floor(n q - z s)`` to that of rank ``ceil(n q + z s) + 1``
    (``s = sqrt(n q (1 - q))``, normal approximation, clipped to the sample), which is
    slightly conservative. Returns (low, high) in the values' unit, None without values.
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n == 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = z * math.sqrt(n * q * (1.0 - q))
    lo = min(n, max(1, math.floor(n * q - spread)))
    hi = min(n, max(1, math.ceil(n * q + spread) + 1))
    return float(ordered[lo - 1]), float(ordered[hi - 1])


def _latency(a: float, b: float, tol: Tolerance, sa: Any, sb: Any) -> tuple[str, str]:
    """The handshake p95 rule (see the module docstring); ``sa``/``sb`` raw ms or None."""
    worse = b > a * tol.latency_ratio + _EPS and b - a > tol.latency_floor_ms + _EPS
    better = a > b * tol.latency_ratio + _EPS and a - b > tol.latency_floor_ms + _EPS
    limit = f"x{tol.latency_ratio:g} and {tol.latency_floor_ms:g} ms allowed"
    if not (worse or better):
        return SAME, f"within {limit}"
    verdict = REGRESSION if worse else IMPROVEMENT
    if sa is None or sb is None:
        return verdict, f"beyond {limit} (no raw samples)"
    if min(len(sa), len(sb)) < tol.latency_min_samples:
        return INFO, (
            f"too few handshakes to judge p95 ({len(sa)} / {len(sb)};"
            f" need {tol.latency_min_samples})"
        )
    conf = tol.latency_confidence
    ca = None if conf is None else quantile_ci(sa, 0.95, conf)
    cb = None if conf is None else quantile_ci(sb, 0.95, conf)
    if ca is None or cb is None:
        return verdict, f"beyond {limit}"
    cis = f"{conf:.0%} CI A {ca[0]:.1f}-{ca[1]:.1f} ms, B {cb[0]:.1f}-{cb[1]:.1f} ms"
    if (worse and cb[0] <= ca[1]) or (better and ca[0] <= cb[1]):
        return SAME, f"beyond {limit} but within noise ({cis} overlap)"
    return verdict, f"beyond {limit}; {cis}"


def judge(
    metric: str,
    a: float | None,
    b: float | None,
    tol: Tolerance,
    samples_a: Any = None,
    samples_b: Any = None,
) -> tuple[str, str]:
    """The verdict and note of one metric, A against B (pure).

    Args:
        metric: a key of :data:`METRICS`; a and b its values in its unit.
        tol: the tolerances.
        samples_a, samples_b: raw handshake times (ms) of the scope, for
            ``handshake_p95_ms`` only; None when the run's attempts are not at hand.
    """
    rule = METRICS[metric]
    if a is None or b is None:
        return NO_DATA, "no data in " + (
            "A and B" if a is None and b is None else "A" if a is None else "B"
        )
    if rule.higher_is_better is None:
        return INFO, ""
    if metric == "handshake_p95_ms":
        return _latency(a, b, tol, samples_a, samples_b)
    if metric == "gate":
        if a == b:
            return SAME, ""
        return (REGRESSION, "passed in A, fails in B") if a > b else (IMPROVEMENT, "fixed in B")
    allowed = None if rule.tolerance is None else getattr(tol, rule.tolerance)
    if allowed is None:
        return INFO, "no tolerance set"
    worse_by = (a - b) if rule.higher_is_better else (b - a)
    if rule.relative:
        if a == 0:
            return INFO, "A is 0"
        worse_by /= a
    shown = f"{allowed:.0%}" if rule.relative else f"{allowed * 100:g} pp"
    if worse_by > allowed + _EPS:
        return REGRESSION, f"worse by more than {shown}" if allowed else "worse: none allowed"
    if -worse_by > allowed + _EPS:
        return IMPROVEMENT, f"better by more than {shown}"
    return SAME, f"within {shown}" if allowed else "unchanged"


# --- Building the rows (pure) ------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


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
        "success_rate": _num(sec.get("success_rate")),
        "abrupt_rate": _num(sec.get("abrupt_rate")),
        "graceful_share": _num(sec.get("graceful_share")),
    }
    for verdict, metric, skip in (
        ("valid_refused", "valid_refused_rate", "reject"),
        ("invalid_accepted", "invalid_accepted_rate", "accept"),
    ):
        if expected != skip:
            out[metric] = int(verdicts.get(verdict, 0)) / counted if counted else None
    for key in ("p50", "p95", "p99"):
        out[f"handshake_{key}_ms"] = _num(hs.get(key))
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
    start, end = _num(phase.get("start_s")), _num(phase.get("end_s"))
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
        if share := _num(s.get("generator_fault_share")):
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
    """Compare two run summaries (pure; see :mod:`harness.report.summary` for their layout).

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
        (_num(sa.get("duration_s")), _num(sb.get("duration_s"))),
    )
    gen = [_num(s.get("generator_fault_share")) for s in (sa, sb)]
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


# --- Run directories (I/O) ---------------------------------------------------------------


def load_summary(run_dir: Path) -> dict[str, Any]:
    """A run's ``summary.json``; built with :func:`harness.report.build_report` when missing.

    Raises:
        RunDirError: the directory does not exist, or its summary cannot be read or built.
    """
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (does not exist)")
    path = run_dir / "summary.json"
    if not path.exists():
        from harness.report import build_report

        build_report(run_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(
            f"{run_dir}: cannot read summary.json ({exc}); rebuild it with"
            f" `harness report {run_dir}`"
        ) from exc
    if not isinstance(doc, dict):
        raise RunDirError(f"{run_dir}: summary.json is not a JSON object")
    return doc


def handshake_samples(run_dir: Path) -> Samples | None:
    """Raw handshake times (ms) of a run per (phase, kind) scope; None without attempts."""
    from harness.report.frames import load_attempts, load_chaos, load_meta
    from harness.report.summary import attempt_phases, run_start

    attempts = load_attempts(run_dir)
    if attempts.empty:
        return None
    meta = load_meta(run_dir) if (run_dir / "meta.json").exists() else {}
    windows = load_chaos(run_dir, started_at=run_start(attempts, meta))
    phase = pd.Series(attempt_phases(attempts, meta, windows)[0]).astype(str).to_numpy()
    kind = attempts["token_kind"].astype(str).to_numpy()
    ms = pd.to_numeric(attempts["handshake_ms"], errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(ms)
    out: dict[tuple[str | None, str | None], np.ndarray[Any, np.dtype[np.float64]]] = {}
    for p in [None, *sorted(set(phase))]:
        for k in [None, *sorted(set(kind))]:
            mask = has & (True if p is None else phase == p) & (True if k is None else kind == k)
            out[(p, k)] = ms[mask]
    return out


def compare_runs(
    run_a: Path, run_b: Path, *, tolerance: Tolerance = DEFAULT_TOLERANCE
) -> Comparison:
    """Compare run directory A (the baseline) with run directory B (the candidate).

    Raises:
        RunDirError: a run directory is missing or unreadable.
    """
    from harness.report.frames import load_scenario

    summaries = [load_summary(d) for d in (run_a, run_b)]
    return compare_summaries(
        summaries[0],
        summaries[1],
        tolerance,
        samples=(handshake_samples(run_a), handshake_samples(run_b)),
        scenarios=(load_scenario(run_a), load_scenario(run_b)),
        paths=(run_a, run_b),
    )


def default_out_dir(cmp: Comparison) -> Path:
    """``reports/compare-<run A>-vs-<run B>/`` (run directory names, else run ids)."""
    names = [i.path.resolve().name if i.path else i.run_id or i.label for i in (cmp.a, cmp.b)]
    return Path("reports") / f"compare-{names[0]}-vs-{names[1]}"


def write_comparison(cmp: Comparison, out_dir: Path | None = None) -> Path:
    """Write ``compare.json``, ``compare.md``, the charts and ``index.html`` into ``out_dir``.

    ``out_dir`` (default :func:`default_out_dir`) is created if needed. Returns the path of
    ``index.html``. Raises OSError when the directory cannot be written.
    """
    from harness.compare_html import write_report

    out = default_out_dir(cmp) if out_dir is None else out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPARE_FILE).write_text(
        json.dumps(cmp.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return write_report(cmp, out)


# --- Command line -----------------------------------------------------------------------

#: Tolerance options of ``harness compare``: flag -> (Tolerance field, type, help).
OPTIONS: Mapping[str, tuple[str, type, str]] = {
    "--success-drop": ("success_rate_drop", float, "allowed absolute drop of success rates"),
    "--abrupt-rise": ("abrupt_rate_rise", float, "allowed absolute rise of abrupt rates"),
    "--latency-ratio": ("latency_ratio", float, "allowed growth factor of handshake p95"),
    "--latency-floor": ("latency_floor_ms", float, "p95 difference always allowed (ms)"),
    "--latency-min-samples": ("latency_min_samples", int, "handshakes needed to judge a p95"),
    "--rate-drop": ("attempts_rate_drop", float, "allowed relative drop of attempts/s"),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``harness compare`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="harness compare",
        description="Compare a baseline run A with a candidate run B. Exit 0: no regression;"
        " 1: regressions; 2: a run directory is missing or unreadable.",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="baseline run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="candidate run directory")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="report directory (default: reports/compare-<A>-vs-<B>/)",
    )
    for flag, (name, kind, text) in OPTIONS.items():
        default = getattr(DEFAULT_TOLERANCE, name)
        shown = "not judged" if default is None else default
        parser.add_argument(
            flag,
            type=kind,
            default=default,
            dest=name,
            metavar="N" if kind is int else "X",
            help=f"{text} (default: {shown})",
        )
    return parser


def main(argv: Sequence[str]) -> int:
    """``harness compare RUN_A RUN_B``: print the table, write the report, return 0, 1 or 2."""
    from harness.compare_html import format_table

    args = build_parser().parse_args(list(argv))
    try:
        try:
            tol = Tolerance(**{name: getattr(args, name) for name, _, _ in OPTIONS.values()})
        except ValueError as exc:
            raise HarnessError(str(exc)) from exc
        cmp = compare_runs(args.run_a, args.run_b, tolerance=tol)
        out = args.out or default_out_dir(cmp)
        try:
            index = write_comparison(cmp, out)
        except OSError as exc:
            raise HarnessError(f"{out}: cannot write the report: {exc}") from exc
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(cmp))
    print(f"report: {index.resolve().as_uri()}")
    return 1 if cmp.regressions else 0
