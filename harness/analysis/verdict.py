"""The verdict of a whole run, decided in one place (pure); the CLI maps it to an exit code.

Not to be confused with :class:`harness.protocol.outcomes.Verdict`, what one attempt's
outcome means for its token kind: this module judges the run. In order, the first that holds:

1. ``interrupted``: the load was stopped before its planned end (a signal, a user's stop),
   or the run was killed (no end recorded);
2. ``untrusted``: more than half of the attempts (:data:`GENERATOR_FAULT_DOMINATES`) failed
   inside the load generator itself: the results say nothing about the target;
3. ``worker_lost``: a load worker of a distributed run vanished mid-run: the records miss
   its last attempts and the load dropped by its users; the load generator's failure;
4. ``chaos_failed``: a chaos window that was not ``optional`` could not be applied: the run
   did not test what the scenario asks;
5. ``target_died``: the target process died during the run (not by chaos);
6. ``gate_failed``: at least one gate failed;
7. ``pass``: every gate passed (trivially when there are none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from harness.analysis.summary import GateResult, Summary

#: Share of attempts (0..1) failed in the load generator above which a run is untrusted.
GENERATOR_FAULT_DOMINATES = 0.5


class RunVerdict(StrEnum):
    """What a run's result means (see the module docstring for the order)."""

    PASS = "pass"
    GATE_FAILED = "gate_failed"
    UNTRUSTED = "untrusted"  # the load generator's own faults dominate (> 50 % of attempts)
    INTERRUPTED = "interrupted"
    CHAOS_FAILED = "chaos_failed"  # a non-optional fault could not be applied
    TARGET_DIED = "target_died"  # the target's process died during the run
    WORKER_LOST = "worker_lost"  # a load worker vanished mid-run (a distributed run)


@dataclass(frozen=True)
class Verdict:
    """A run's verdict and the one line that explains it.

    Attributes:
        kind: the verdict.
        message: one line for the terminal, e.g. "2 of 6 gates failed: 'x' (FAIL ...)".
    """

    kind: RunVerdict
    message: str


def judge_run(
    summary: Summary, gate_results: Sequence[GateResult], *, interrupted_by: str | None = None
) -> Verdict:
    """The verdict of a run (pure; see the module docstring for the order of the rules).

    Args:
        summary: the run's summary (its ``generator_fault_share`` is read).
        gate_results: the gates' results (e.g. ``summary.gates``).
        interrupted_by: what stopped the load early (``"SIGTERM"``, ``"SIGINT"``); None: what
            the summary says (its ``interrupted_by``; a run that started and has no end
            recorded was killed).
    """
    why = interrupted_by or summary.interrupted_by
    if why is None and summary.started_at is not None and summary.ended_at is None:
        why = "a kill: the run has no end recorded (its report covers what was written)"
    if why:
        return Verdict(RunVerdict.INTERRUPTED, f"run stopped early by {why}")
    share = summary.generator_fault_share or 0.0
    if share > GENERATOR_FAULT_DOMINATES:
        return Verdict(
            RunVerdict.UNTRUSTED,
            f"{share:.0%} of attempts failed inside the load generator itself "
            "(e.g. out of file descriptors): the results say nothing about the target",
        )
    lost = summary.lost_workers
    if lost:
        return Verdict(
            RunVerdict.WORKER_LOST,
            "the load generator lost "
            + ", ".join(
                f"worker {w.id}" + ("" if w.lost_at_s is None else f" at {w.lost_at_s:.1f} s")
                for w in lost
            )
            + ": the records miss its last attempts and the load dropped (not the target's"
            " doing); run again",
        )
    unapplied = [w for w in summary.chaos_windows if w.status == "failed" and not w.optional]
    if unapplied:
        return Verdict(
            RunVerdict.CHAOS_FAILED,
            "the chaos plan did not run: "
            + "; ".join(f"{w.label} failed ({w.error or 'no reason recorded'})" for w in unapplied)
            + " (mark a window optional: true to run without it)",
        )
    failed = [g for g in gate_results if not g.passed]
    died = summary.target_died
    if died is not None:
        at = "" if died.at_s is None else f" at {died.at_s:.1f} s"
        gates = f"; {len(failed)} of {len(gate_results)} gates failed" if failed else ""
        return Verdict(RunVerdict.TARGET_DIED, f"the target died{at} ({died.how}){gates}")
    if failed:
        return Verdict(
            RunVerdict.GATE_FAILED,
            f"{len(failed)} of {len(gate_results)} gates failed: "
            + "; ".join(f"{g.name!r} ({g.message})" for g in failed),
        )
    return Verdict(RunVerdict.PASS, f"all {len(gate_results)} gates passed")
