"""A suite run: the scenarios of a suite one after another, each a child ``harness run``.

The suite directory (``<out>/suite-<stamp>-<name>-<hex>/``) holds one folder per scenario,
``NN-<scenario file stem>`` (its label: the order and the name, unique in the suite), with
that scenario's run directory inside, and the suite report beside them (``summary.json``,
``index.html``, ``junit.xml``: :mod:`harness.render.suite_report`)::

    suite-20261203-101500-release-gate-3fa2/
      01-smoke/20261203-101500-smoke-9c1e/index.html ...
      02-auth-matrix/20261203-101532-auth-matrix-77b0/ ...
      summary.json  index.html  junit.xml

A scenario's status comes from its run's exit code: ``pass`` (0), ``fail`` (1: a gate
failed, or the target died), ``error`` (2: it could not run, or the child was killed),
``interrupted`` (130). Scenarios after a ``--fail-fast`` stop or an interrupt are listed as
``not run``. The suite's exit code is the worst of them: 130 when interrupted, else 2 when
any could not run, else 1 when any failed, else 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.suite import Suite, SuiteScenario
from harness.errors import HarnessError
from harness.rundir.layout import new_run_id
from harness.series.child import INTERRUPTED, failed_gate_names, report_paths, run_scenario

PASS = "pass"
FAIL = "fail"
ERROR = "error"
STOPPED = "interrupted"
NOT_RUN = "not run"

#: Seconds a scenario's run may take beyond its planned duration (target start, chaos
#: set-up, the report) before the suite stops it as interrupted: a last guard only.
CHILD_MARGIN_S = 300.0

#: Suite summary schema version (``summary.json`` of a suite directory).
SUITE_SCHEMA_VERSION = 1

#: Keys of ``--set`` edits whose values are never written (signing secrets).
_SECRET_KEYS = ("auth.secret",)


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario of a suite run.

    Attributes:
        label: ``NN-<stem>``: its folder in the suite directory and its JUnit prefix.
        scenario: the suite's entry.
        status: :data:`PASS`, :data:`FAIL`, :data:`ERROR`, :data:`STOPPED` or :data:`NOT_RUN`.
        exit_code: its run's exit code (None: not run).
        run_dir: its run directory (None: not run, or it made none).
        summary: its run's ``summary.json`` (None when there is none).
        seconds: wall time of its run.
    """

    label: str
    scenario: SuiteScenario
    status: str
    exit_code: int | None = None
    run_dir: Path | None = None
    summary: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class SuiteRun:
    """A finished (or stopped) suite run.

    Attributes:
        suite: the suite as loaded.
        directory: the suite directory.
        tags: the ``--tags`` that selected the scenarios (empty: all).
        runs: every selected scenario in order, those not run included.
        started_at, ended_at: epoch seconds.
        stop_reason: None (every selected scenario ran), ``"fail-fast"`` or ``"interrupted"``.
        command: the command line, for the report.
    """

    suite: Suite
    directory: Path
    tags: tuple[str, ...]
    runs: tuple[ScenarioRun, ...]
    started_at: float
    ended_at: float
    stop_reason: str | None
    command: str = ""

    @property
    def exit_code(self) -> int:
        statuses = {r.status for r in self.runs}
        if self.stop_reason == "interrupted" or STOPPED in statuses:
            return INTERRUPTED
        if ERROR in statuses:
            return 2
        return 1 if FAIL in statuses else 0

    @property
    def passed(self) -> bool:
        return all(r.status == PASS for r in self.runs)


def status_of(exit_code: int) -> str:
    """A scenario's status from its run's exit code."""
    return {0: PASS, 1: FAIL, INTERRUPTED: STOPPED}.get(exit_code, ERROR)


def labels(scenarios: Sequence[SuiteScenario]) -> list[str]:
    """``NN-<stem>`` of each scenario (NN from 01; the order makes them unique)."""
    width = max(2, len(str(len(scenarios))))
    return [f"{i:0{width}d}-{_safe(s.file.stem)}" for i, s in enumerate(scenarios, 1)]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:60] or "scenario"


def selected(suite: Suite, tags: Sequence[str]) -> tuple[SuiteScenario, ...]:
    """The scenarios ``--tags`` selects.

    Raises:
        HarnessError: a tag no scenario has, or no scenario selected.
    """
    unknown = sorted(set(tags) - set(suite.tags))
    if unknown:
        known = ", ".join(suite.tags) or "none"
        raise HarnessError(
            f"{suite.source}: no scenario has the tag(s) {', '.join(unknown)} (its tags: {known})"
        )
    chosen = suite.tagged(tags)
    if not chosen:
        raise HarnessError(f"{suite.source}: no scenario to run")
    return chosen


def run_suite(
    suite: Suite,
    out: Path,
    *,
    tags: Sequence[str] = (),
    fail_fast: bool = False,
    run_args: Sequence[str] = (),
    say: Callable[[str], None] = print,
    command: str = "",
) -> SuiteRun:
    """Run the scenarios ``tags`` selects, in order, each as ``harness run`` with its edits
    (``--set``) and ``run_args`` (the suite's secret and quiet flags); stop after an
    interrupted one (Ctrl-C, SIGTERM) or, with ``fail_fast``, after the first that did not
    pass. Writes nothing but the scenarios' run directories: the report is the caller's.
    """
    chosen = selected(suite, tags)
    directory = out / new_run_id(suite.name, prefix="suite")
    directory.mkdir(parents=True, exist_ok=False)
    started = time.time()
    runs: list[ScenarioRun] = []
    stop: str | None = None
    names = labels(chosen)
    total = len(chosen)
    for i, (label, entry) in enumerate(zip(names, chosen, strict=True), 1):
        if stop is not None:
            runs.append(ScenarioRun(label, entry, NOT_RUN))
            continue
        try:
            run = _run_one(f"[suite {i}/{total}] {label}", label, entry, directory, run_args, say)
        except KeyboardInterrupt:  # between two runs (a run itself ends as interrupted)
            run = ScenarioRun(label, entry, NOT_RUN)
            stop = "interrupted"
        runs.append(run)
        if stop is not None:
            continue
        say(f"[suite {i}/{total}] {label}: {status_line(run)}")
        if run.status == STOPPED:
            stop = "interrupted"
        elif fail_fast and run.status != PASS:
            stop = "fail-fast"
    return SuiteRun(suite, directory, tuple(tags), tuple(runs), started, time.time(), stop, command)


def _run_one(
    prefix: str,
    label: str,
    entry: SuiteScenario,
    directory: Path,
    run_args: Sequence[str],
    say: Callable[[str], None],
) -> ScenarioRun:
    say(f"{prefix}: {entry.shown} ({entry.planned_s:g} s planned)")
    args = [*(a for s in entry.sets for a in ("--set", s)), *run_args]
    child = run_scenario(
        entry.file, directory / label, args, deadline_s=entry.planned_s + CHILD_MARGIN_S
    )
    status = STOPPED if child.interrupted else status_of(child.exit_code)
    return ScenarioRun(
        label, entry, status, child.exit_code, child.run_dir, child.summary, child.seconds
    )


def status_line(run: ScenarioRun) -> str:
    """``PASS in 21 s`` / ``FAIL in 9 s: gate 'no empty token accepted'`` / ``ERROR (exit 2)``."""
    word = run.status.upper()
    if run.status == NOT_RUN:
        return word
    text = f"{word} in {run.seconds:.0f} s"
    failed = failed_gate_names(run.summary)
    if run.status == FAIL and failed:
        text += ": gate " + ", ".join(repr(g) for g in failed[:3])
        text += f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    elif run.status == FAIL and run.summary and run.summary.get("target_died"):
        text += ": the target died"
    elif run.status == ERROR:
        text += f" (exit {run.exit_code}: could not run{'' if run.run_dir else ', no run made'})"
    return text


def shown_sets(sets: Sequence[str]) -> list[str]:
    """The ``--set`` edits as written to the report, a secret's value replaced."""
    out = []
    for s in sets:
        key = s.partition("=")[0]
        out.append(f"{key}=<redacted>" if key.strip() in _SECRET_KEYS else s)
    return out


def suite_summary(run: SuiteRun) -> dict[str, Any]:
    """The suite's ``summary.json``: the suite, its verdict, and per scenario its status and
    key figures (paths relative to the suite directory)."""
    counts = {s: 0 for s in (PASS, FAIL, ERROR, STOPPED, NOT_RUN)}
    for r in run.runs:
        counts[r.status] += 1
    return {
        "schema_version": SUITE_SCHEMA_VERSION,
        "kind": "suite",
        "suite_id": run.directory.name,
        "suite": run.suite.name,
        "source": run.suite.source,
        "command": run.command,
        "tags": list(run.tags),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": round(run.ended_at - run.started_at, 3),
        "complete": run.stop_reason is None,
        "stop_reason": run.stop_reason,
        "passed": run.passed,
        "exit_code": run.exit_code,
        "counts": counts,
        "scenarios": [_scenario_entry(run.directory, r) for r in run.runs],
    }


def _scenario_entry(directory: Path, r: ScenarioRun) -> dict[str, Any]:
    s = r.summary or {}
    total = s.get("total") or {}
    rel, report = report_paths(r.run_dir, directory)
    return {
        "label": r.label,
        "file": r.scenario.shown,
        "scenario": s.get("scenario"),
        "tags": list(r.scenario.tags),
        "sets": shown_sets(r.scenario.sets),
        "status": r.status,
        "exit_code": r.exit_code,
        "seconds": round(r.seconds, 3),
        "run_id": s.get("run_id"),
        "run_dir": rel,
        "report": report,
        "target_url": s.get("target_url"),
        "complete": s.get("complete"),
        "stop_reason": s.get("stop_reason"),
        "attempts": total.get("attempts"),
        "success_rate": total.get("success_rate"),
        "abrupt": total.get("abrupt"),
        "handshake_p95_ms": (total.get("handshake_ms") or {}).get("p95"),
        "gates": len(s.get("gates") or []),
        "failed_gates": failed_gate_names(r.summary),
        "findings_by_severity": s.get("findings_by_severity") or {},
    }
