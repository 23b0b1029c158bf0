"""Exit codes and verdict lines: the one place that decides how a command ends.

=====  ==================================================================================
code   meaning
=====  ==================================================================================
0      every gate passed (``run``, ``report``, the Locust route); no regression
       (``compare``); no high or critical finding (``doctor``); a valid file (``validate``)
1      a gate failed (the terminal, ``summary.json`` and ``index.html`` name it), or the
       target died during the run; a regression (``compare``); a high or critical finding
       (``doctor``)
2      the harness could not run: a bad scenario or flag (the message names file, line and
       key), a target that did not start, a chaos fault that is not ``optional`` and could
       not be applied, or a run whose attempts failed mostly inside the load generator
       itself (out of file descriptors, ports): its results say nothing about the target;
       a load worker of a distributed run lost mid-run
130    stopped by Ctrl-C or SIGTERM, or killed (``harness report`` of a run with no end
       recorded); the report of what ran is still written
=====  ==================================================================================
"""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from harness.analysis.verdict import RunVerdict, Verdict

if TYPE_CHECKING:  # the lifecycle imports Locust; this module must not (harness report)
    from harness.load.lifecycle import RunOutcome


class ExitCode(IntEnum):
    PASS = 0
    FAILED = 1
    CANNOT_RUN = 2
    INTERRUPTED = 130


#: The exit code of each run verdict.
VERDICT_CODES: dict[RunVerdict, ExitCode] = {
    RunVerdict.PASS: ExitCode.PASS,
    RunVerdict.GATE_FAILED: ExitCode.FAILED,
    RunVerdict.UNTRUSTED: ExitCode.CANNOT_RUN,
    RunVerdict.INTERRUPTED: ExitCode.INTERRUPTED,
    RunVerdict.CHAOS_FAILED: ExitCode.CANNOT_RUN,
    RunVerdict.TARGET_DIED: ExitCode.FAILED,
    RunVerdict.WORKER_LOST: ExitCode.CANNOT_RUN,
}

#: The word a verdict line starts with, per exit code.
VERDICT_WORDS: dict[ExitCode, str] = {
    ExitCode.PASS: "PASS",
    ExitCode.FAILED: "FAIL",
    ExitCode.CANNOT_RUN: "ERROR",
    ExitCode.INTERRUPTED: "INTERRUPTED",
}


def run_exit_code(outcome: RunOutcome) -> ExitCode:
    """The exit code of a finished run (or of one that could not start)."""
    if outcome.verdict is None:
        return ExitCode.CANNOT_RUN
    return VERDICT_CODES[outcome.verdict.kind]


def print_verdict(verdict: Verdict) -> ExitCode:
    """Print ``PASS: ...`` (stdout) or ``FAIL: ...`` / ``ERROR: ...`` / ``INTERRUPTED: ...``
    (stderr); return the verdict's exit code."""
    code = VERDICT_CODES[verdict.kind]
    stream = sys.stdout if code is ExitCode.PASS else sys.stderr
    print(f"{VERDICT_WORDS[code]}: {verdict.message}", file=stream, flush=True)
    return code


def print_error(message: str) -> None:
    """``harness: error: <message>`` on stderr: a user mistake or the harness's own failure,
    never a traceback."""
    print(f"harness: error: {message}", file=sys.stderr, flush=True)


def report_run(environment: Any, outcome: RunOutcome) -> None:
    """A run ended: print its verdict line and make it the process's exit code.

    Every route (``harness run``, ``locust -f locustfile.py`` headless and with the web UI)
    hands its runs here; Locust exits with ``environment.process_exit_code`` (the last run's).
    """
    code = run_exit_code(outcome)
    if outcome.verdict is not None:
        print_verdict(outcome.verdict)
    environment.process_exit_code = int(code)
