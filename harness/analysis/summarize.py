"""The summary of a run (pure): a :class:`~harness.analysis.run.Run` in, a
:class:`~harness.analysis.summary.Summary` out.

Totals and token kinds (:mod:`harness.analysis.sections`), chaos windows and phases (from
the run, computed once on load), recovery per window (:mod:`harness.analysis.recovery`),
sessions and reconnects (:mod:`harness.analysis.sessions`), load stages
(:mod:`harness.analysis.stages`) and findings
(:mod:`harness.analysis.findings`). Gates are evaluated after it, on the summary
(:func:`harness.analysis.gates.with_gates`).
"""

from __future__ import annotations

from dataclasses import replace

from harness.analysis.findings import compute_findings, findings_by_severity
from harness.analysis.phases import phase_kind, phase_labels
from harness.analysis.recovery import MARGIN, compute_recovery
from harness.analysis.run import Run
from harness.analysis.sections import kind_sections, section, section_view
from harness.analysis.sessions import compute_sessions
from harness.analysis.socketio import compute_socketio
from harness.analysis.stages import compute_stages
from harness.analysis.stats import ratio
from harness.analysis.summary import Phase, Summary, TargetDied, WorkerStats
from harness.protocol.outcomes import Verdict


def phase_sections(run: Run) -> dict[str, Phase]:
    """Every phase of the run, in time order: its span, its total and its token kinds."""
    phase = run.attempts["phase"].astype(str).to_numpy()
    view = section_view(run.attempts)
    out = {}
    for name, (start, end) in run.phases.items():
        rows = view[phase == name]
        out[name] = Phase(
            name=name,
            kind=phase_kind(name),
            labels=tuple(phase_labels(name)),
            start_s=start,
            end_s=end,
            total=section(rows),
            token_kinds=kind_sections(rows),
        )
    return out


def target_died(run: Run) -> TargetDied | None:
    """The target's death recorded in ``meta.json``, its time relative to the run's start."""
    ex = run.meta.target_exit
    if ex is None:
        return None
    at_s = None if run.started_at is None else ex.at - run.started_at
    return TargetDied(at_s=at_s, pid=ex.pid, how=ex.how)


def worker_stats(run: Run) -> tuple[WorkerStats, ...]:
    """A distributed run's workers from ``meta.json``, times relative to the run's start."""
    t0 = run.started_at
    return tuple(
        WorkerStats(
            id=w.id,
            records=w.records,
            made=w.made,
            state=w.state,
            pid=w.pid,
            lost_at_s=None if w.lost_at is None or t0 is None else w.lost_at - t0,
            lost_how=w.lost_how,
            lost_at_least=w.lost_at_least,
        )
        for w in run.meta.workers
    )


def summarize(run: Run, *, margin: float = MARGIN) -> Summary:
    """The summary of a run (pure): totals, kinds, chaos windows, phases, recovery, findings.

    Args:
        run: from :func:`harness.analysis.run.load_run` or :func:`~harness.analysis.run.make_run`.
        margin: how far (0..1, absolute) below its baseline valid-token success counts as
            recovered after a chaos window (see :mod:`harness.analysis.recovery`).

    Returns:
        The summary, without gates (see :func:`harness.analysis.gates.with_gates`).
    """
    meta = run.meta
    total = section(section_view(run.attempts))
    summary = Summary(
        run_id=meta.run_id,
        scenario=meta.scenario,
        target_url=meta.target_url,
        started_at=run.started_at,
        ended_at=meta.ended_at,
        duration_s=run.duration_s,
        duration_planned_s=meta.duration_planned_s,
        complete=meta.complete and meta.ended_at is not None,
        stop_reason=meta.stop_reason,
        interrupted_by=meta.interrupted_by,
        target_died=target_died(run),
        generator_fault_share=ratio(total.verdict(Verdict.GENERATOR_FAULT), total.attempts),
        total=total,
        token_kinds=kind_sections(run.attempts),
        chaos_windows=run.windows,
        phases=phase_sections(run),
        recovery=compute_recovery(run, margin=margin),
        sessions=compute_sessions(run),
        socketio=compute_socketio(run),
        workers=worker_stats(run),
        generator=meta.generator,
        stages=compute_stages(run),
    )
    findings = compute_findings(summary, run)
    return replace(summary, findings=findings, findings_by_severity=findings_by_severity(findings))
