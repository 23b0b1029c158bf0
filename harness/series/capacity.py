"""A capacity search: the scenario at rising load, one child run per step, judged by its gates.

``harness capacity SCENARIO --users START:STOP:STEP`` runs the scenario at START users, then
START+STEP, ... (``--rate``: START new sessions per second, then more, each step one
arrival-rate stage) each as its own ``harness run`` (a fresh embedded target per step) for the
ramp plus ``--hold`` seconds, until the first step whose gates fail; then it refines between
the last passing and the first failing step by bisection (``--refine`` rounds). Steps go in
the capacity directory::

    capacity-20261203-101500-smoke-3fa2/
      step-01-120u/<run-id>/   step-02-200u/<run-id>/   ...   (each a run directory)
      capacity.json  index.html  capacity.png

Whose limit it is: a step where the load generator was at its own limit (its faults, out of
descriptors or ports, in more than :data:`GENERATOR_FAULT_SHARE` of the attempts, or its CPU
at :data:`GENERATOR_CPU_SHARE` of a core or more) ends the search as ``limited_by:
"generator"``: the load it offered was not the load asked for, so its result says nothing
about the service, and the capacity is reported only as "at least" the last passing step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config.scenario import Scenario
from harness.errors import HarnessError
from harness.rundir.jsonl import read_jsonl
from harness.rundir.layout import SAMPLES, new_run_id
from harness.series.child import (
    INTERRUPTED,
    failed_gate_names,
    failed_gates,
    report_paths,
    run_scenario,
)

PASS = "pass"
FAIL = "fail"
GENERATOR = "generator-limited"
ERROR = "error"
STOPPED = "interrupted"

#: Generator faults above this share of a step's attempts: the generator's own limit.
GENERATOR_FAULT_SHARE = 0.01
#: The generator's median CPU share of one core at or above which its limit came first.
GENERATOR_CPU_SHARE = 0.9
#: The most steps of one search (the range's, and the refinement's).
MAX_STEPS = 50
#: Seconds an arrival-rate step gives its pool of users to start, before its hold.
RATE_RAMP_S = 2.0
#: Seconds a step's run may take beyond its planned duration before it is stopped.
STEP_MARGIN_S = 300.0

#: ``capacity.json`` schema version.
CAPACITY_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Range:
    """``START:STOP:STEP`` of the loads tried, ``start`` first: users (``axis`` ``users``) or
    new sessions per second (``rate``, an arrival-rate stage)."""

    start: int
    stop: int
    step: int
    axis: str = "users"

    @classmethod
    def parse(cls, text: str, axis: str = "users") -> Range:
        """``"100:300:50"``.

        Raises:
            HarnessError: not three integers, start < 1, stop < start, step < 1, or more
                than :data:`MAX_STEPS` steps.
        """
        parts = text.split(":")
        try:
            start, stop, step = (int(p) for p in parts)
        except ValueError:
            raise HarnessError(
                f"--{axis}: expected START:STOP:STEP (integers, e.g. 50:400:50), got {text!r}"
            ) from None
        if start < 1 or stop < start or step < 1:
            raise HarnessError(f"--{axis}: expected 1 <= START <= STOP and STEP >= 1, got {text!r}")
        r = cls(start, stop, step, axis)
        if len(r.loads()) > MAX_STEPS:
            raise HarnessError(
                f"--{axis}: {len(r.loads())} steps; at most {MAX_STEPS} (take a larger STEP)"
            )
        return r

    def loads(self) -> list[int]:
        out = list(range(self.start, self.stop + 1, self.step))
        return out if out[-1] == self.stop else [*out, self.stop]

    def shown(self, load: int) -> str:
        """``120 users`` or ``50/s``."""
        return f"{load} users" if self.axis == "users" else f"{load}/s"

    def text(self) -> str:
        return f"{self.start}:{self.stop}:{self.step}"


@dataclass(frozen=True)
class Step:
    """One step: its load, how it went, and the figures the report plots.

    ``status``: :data:`PASS`, :data:`FAIL`, :data:`GENERATOR`, :data:`ERROR` or
    :data:`STOPPED`. ``why``: for a failing step the first failed gate (or the target's
    death), for a generator-limited one what the generator ran out of.
    """

    load: int  # users, or new sessions per second
    label: str
    status: str
    refined: bool
    exit_code: int
    seconds: float
    run_dir: Path | None
    summary: dict[str, Any] | None
    why: str = ""
    target: dict[str, float | None] = field(default_factory=dict)


def step_label(index: int, load: int, axis: str = "users") -> str:
    return f"step-{index:02d}-{load}{'u' if axis == 'users' else 'ps'}"


def judge(exit_code: int, summary: dict[str, Any] | None, interrupted: bool) -> tuple[str, str]:
    """A step's status and why, from its run's exit code and summary."""
    if interrupted or exit_code == INTERRUPTED:
        return STOPPED, "interrupted"
    limit = generator_limit(summary)
    if limit:
        return GENERATOR, limit
    if exit_code == 0:
        return PASS, ""
    if exit_code == 1 and summary is not None:
        if summary.get("target_died"):
            return FAIL, "the target died"
        failed = failed_gates(summary)
        if failed:
            message = str(failed[0].get("message") or "").removeprefix("FAIL ")
            return FAIL, f"gate '{failed[0].get('name')}': {message}"
        return FAIL, "the run failed"
    return ERROR, f"harness run exited {exit_code} (could not run)"


def generator_limit(summary: dict[str, Any] | None) -> str:
    """What the load generator ran out of in a run ("" when it was not at its limit)."""
    if not summary:
        return ""
    share = float(summary.get("generator_fault_share") or 0.0)
    if share > GENERATOR_FAULT_SHARE:
        return (
            f"{share * 100:.1f}% of the attempts failed inside the load generator itself "
            "(out of file descriptors or ports)"
        )
    cpu = (summary.get("generator") or {}).get("cpu_share_median")
    if cpu is not None and float(cpu) >= GENERATOR_CPU_SHARE:
        return f"the load generator's CPU was at {float(cpu) * 100:.0f}% of a core (median)"
    return ""


def target_figures(run_dir: Path | None) -> dict[str, float | None]:
    """The target's median CPU % and largest RSS (MB) over the run's samples."""
    rows = [] if run_dir is None else list(read_jsonl(run_dir / SAMPLES))
    cpu = sorted(float(r["cpu_percent"]) for r in rows if _number(r.get("cpu_percent")))
    rss = [float(r["rss_mb"]) for r in rows if _number(r.get("rss_mb"))]
    return {
        "cpu_percent_median": round(cpu[len(cpu) // 2], 1) if cpu else None,
        "rss_mb_max": round(max(rss), 1) if rss else None,
    }


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Search:
    """A capacity search's state: the steps run so far, in the order they ran."""

    scenario: Scenario
    scenario_file: str
    range: Range
    hold_s: float
    refine: int
    directory: Path
    require: int | None = None
    command: str = ""
    run_args: tuple[str, ...] = ()  # every step's run gets these too (secret, -q)
    steps: list[Step] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    stop_reason: str | None = None

    def ramp_s(self, load: int) -> float:
        """Seconds a step takes to start its users: ``load`` users at the scenario's spawn
        rate; for a rate, :data:`RATE_RAMP_S` to start its pool of users."""
        if self.range.axis == "rate":
            return RATE_RAMP_S
        return load / self.scenario.load.spawn_rate

    def sets(self, load: int) -> list[str]:
        """The ``--set`` edits of a step: its load for the ramp plus the hold."""
        duration = round(self.ramp_s(load) + self.hold_s, 3)
        if self.range.axis == "rate":  # one arrival-rate stage; its pool (10 x rate) in 2 s
            spawn = max(self.scenario.load.spawn_rate, 10 * load / RATE_RAMP_S)
            return [
                f"load.stages=[{{duration: {duration:g}, rate: {load}, spawn_rate: {spawn:g}}}]"
            ]
        return [f"load.users={load}", f"load.duration={duration:g}"]

    def passing(self) -> list[Step]:
        return [s for s in self.steps if s.status == PASS]

    def highest_passing(self) -> Step | None:
        """The passing step of the most load below every failing one."""
        ceiling = min((s.load for s in self.steps if s.status != PASS), default=None)
        below = [s for s in self.passing() if ceiling is None or s.load < ceiling]
        return max(below, key=lambda s: s.load, default=None)

    def first_failing(self) -> Step | None:
        """The failing (or generator-limited) step of the least load."""
        bad = [s for s in self.steps if s.status in (FAIL, GENERATOR)]
        return min(bad, key=lambda s: s.load, default=None)

    @property
    def limited_by(self) -> str | None:
        """``"service"`` (a step failed its gates), ``"generator"``, ``"range"`` (every
        step passed: the capacity is above STOP) or None (no verdict: an error, a stop)."""
        first = self.first_failing()
        if first is not None:
            return "service" if first.status == FAIL else "generator"
        if self.stop_reason is None and self.steps and all(s.status == PASS for s in self.steps):
            return "range"
        return None

    @property
    def exit_code(self) -> int:
        if self.stop_reason == "interrupted":
            return INTERRUPTED
        if self.limited_by is None:
            return 2
        best = self.highest_passing()
        met = best is not None and (self.require is None or best.load >= self.require)
        if self.limited_by == "generator":  # a lower bound only: enough when it meets --require
            return 0 if met and self.require is not None else 2
        return 0 if met else 1


def run_search(search: Search, *, say: Callable[[str], None] = print) -> Search:
    """Run the steps of the range until one does not pass, then refine between the last
    pass and the first failure; return ``search`` with its steps and stop reason."""
    for load in search.range.loads():
        step = _step(search, load, refined=False, say=say)
        if step.status != PASS:
            break
    _refine(search, say)
    search.ended_at = time.time()
    return search


def _refine(search: Search, say: Callable[[str], None]) -> None:
    """Bisect between the highest pass and the first service failure, ``refine`` rounds."""
    for _ in range(search.refine):
        first, best = search.first_failing(), search.highest_passing()
        if search.stop_reason is not None or first is None or first.status != FAIL:
            return
        low = best.load if best is not None else 0
        mid = (low + first.load) // 2
        if mid <= low or mid >= first.load or mid < 1 or len(search.steps) >= MAX_STEPS:
            return
        if _step(search, mid, refined=True, say=say).status not in (PASS, FAIL):
            return


def _step(search: Search, load: int, *, refined: bool, say: Callable[[str], None]) -> Step:
    index = len(search.steps) + 1
    label = step_label(index, load, search.range.axis)
    what = "refining" if refined else "step"
    say(f"[capacity {index}] {what} {search.range.shown(load)}: {search.hold_s:g} s hold")
    planned = search.ramp_s(load) + search.hold_s
    try:
        child = run_scenario(
            Path(search.scenario_file),
            search.directory / label,
            [*(a for s in search.sets(load) for a in ("--set", s)), *search.run_args],
            deadline_s=planned + STEP_MARGIN_S,
        )
    except KeyboardInterrupt:
        search.stop_reason = "interrupted"
        step = Step(load, label, STOPPED, refined, INTERRUPTED, 0.0, None, None, "interrupted")
        search.steps.append(step)
        return step
    status, why = judge(child.exit_code, child.summary, child.interrupted)
    step = Step(
        load,
        label,
        status,
        refined,
        child.exit_code,
        child.seconds,
        child.run_dir,
        child.summary,
        why,
        target_figures(child.run_dir),
    )
    search.steps.append(step)
    say(
        f"[capacity {index}] {search.range.shown(load)}: {status.upper()}"
        + (f": {why}" if why else "")
    )
    if status == STOPPED:
        search.stop_reason = "interrupted"
    elif status == ERROR:
        search.stop_reason = "error"
    elif status == GENERATOR:
        search.stop_reason = "generator limit"
    return step


def new_directory(out: Path, scenario_name: str) -> Path:
    directory = out / new_run_id(scenario_name, prefix="capacity")
    directory.mkdir(parents=True, exist_ok=False)
    return directory


def step_figures(step: Step, directory: Path, axis: str = "users") -> dict[str, Any]:
    """A step as ``capacity.json`` lists it."""
    s = step.summary or {}
    total = s.get("total") or {}
    verdicts = total.get("verdicts") or {}
    duration = float(s.get("duration_s") or 0.0)
    counted = total.get("counted")
    rel, report = report_paths(step.run_dir, directory)
    accepted = sum(
        int((k.get("verdicts") or {}).get("ok", 0))
        for name, k in (s.get("token_kinds") or {}).items()
        if name == "valid"
    )
    return {
        "load": step.load,
        axis: step.load,
        "label": step.label,
        "status": step.status,
        "why": step.why or None,
        "refined": step.refined,
        "exit_code": step.exit_code,
        "seconds": round(step.seconds, 3),
        "run_dir": rel,
        "report": report,
        "attempts": total.get("attempts"),
        "success_rate": total.get("success_rate"),
        "handshake_p95_ms": (total.get("handshake_ms") or {}).get("p95"),
        "refusals": verdicts.get("valid_refused"),
        "abrupt": verdicts.get("abrupt"),
        "handshakes_per_s": round(counted / duration, 2) if counted and duration else None,
        "sessions_per_s": round(accepted / duration, 2) if duration else None,
        "concurrent_connections": (s.get("generator") or {}).get("peak_open"),
        "generator_fault_share": s.get("generator_fault_share"),
        "generator_cpu_share": (s.get("generator") or {}).get("cpu_share_median"),
        "target_cpu_percent": step.target.get("cpu_percent_median"),
        "target_rss_mb": step.target.get("rss_mb_max"),
        "failed_gates": failed_gate_names(s),
    }


def capacity_json(search: Search) -> dict[str, Any]:
    """The search as ``capacity.json``."""
    steps = sorted(search.steps, key=lambda s: (s.load, s.label))
    best, first = search.highest_passing(), search.first_failing()
    figures = {s.label: step_figures(s, search.directory, search.range.axis) for s in search.steps}

    def point(step: Step | None, *keys: str) -> dict[str, Any] | None:
        if step is None:
            return None
        f = figures[step.label]
        return {search.range.axis: step.load, "load": step.load, **{k: f[k] for k in keys}}

    limited = search.limited_by
    return {
        "schema_version": CAPACITY_SCHEMA_VERSION,
        "kind": "capacity",
        "capacity_id": search.directory.name,
        "scenario": search.scenario.name,
        "scenario_file": search.scenario_file,
        "command": search.command,
        "axis": search.range.axis,
        "range": {
            "start": search.range.start,
            "stop": search.range.stop,
            "step": search.range.step,
        },
        "hold_s": search.hold_s,
        "refine": search.refine,
        "started_at": search.started_at,
        "ended_at": search.ended_at,
        "limited_by": limited,
        "highest_passing": point(
            best,
            "handshakes_per_s",
            "sessions_per_s",
            "concurrent_connections",
            "success_rate",
            "handshake_p95_ms",
            "label",
            "report",
        ),
        "first_failing": None
        if first is None
        else {**(point(first, "label", "report") or {}), "status": first.status, "why": first.why},
        "require": search.require,
        "meets_require": None
        if search.require is None or limited is None
        else best is not None and best.load >= search.require,
        "stop_reason": search.stop_reason,
        "exit_code": search.exit_code,
        "verdict": verdict_text(search),
        "steps": [figures[s.label] for s in steps],
    }


def verdict_text(search: Search) -> str:
    """One sentence: what the capacity is, and whose limit ended the search."""
    best, first = search.highest_passing(), search.first_failing()
    shown = search.range.shown
    at_least = shown(best.load) if best else f"below {shown(search.range.start)}"
    if search.stop_reason == "interrupted":
        return f"interrupted; so far the highest passing step is {at_least}"
    if search.limited_by == "generator" and first is not None:
        return (
            f"the load generator's own limit came first at {shown(first.load)} ({first.why}): "
            f"the service's capacity is at least {at_least}, not measured beyond; give the "
            "generator more room (a higher ulimit -n, --workers N, more machines)"
        )
    if search.limited_by == "service" and first is not None:
        fail = f"{shown(first.load)} failed ({first.why})"
        if best is None:
            return f"capacity below {shown(search.range.start)}: {fail}"
        return f"capacity {shown(best.load)}: {fail}"
    if search.limited_by == "range" and best is not None:
        return f"every step passed: capacity at least {shown(best.load)} (the range's top)"
    last = search.steps[-1] if search.steps else None
    return f"no verdict: {last.why if last else 'no step ran'}"
