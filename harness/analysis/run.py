"""A typed run: a run directory read once (through :mod:`harness.rundir`), times and phases
computed once.

:func:`load_run` reads a run directory; :func:`make_run` builds the same :class:`Run` from
records, meta, chaos events and samples at hand (tests, the doctor). Either way the attempts
frame carries, for every attempt:

- ``t_s``: its start, seconds since the run's start (NaN when unknown);
- ``open_at_s``: when its WebSocket opened (or the handshake ended), ``t_s`` plus TCP
  connect, TLS and upgrade (missing parts count 0);
- ``end_s``: its end: the recorded ``t_end``, else ``open_at_s`` plus the time open;
- ``phase``: its chaos phase (:mod:`harness.analysis.phases`).

Every computation after it (summary, recovery, findings, compare, charts) reads those columns
and never recomputes them.

**Time zero** (``Run.started_at``, epoch s) is ``meta.json``'s ``started_at``; for a run that
did not record it, the start the chaos timeline implies (an event's ``t - planned_at``), else
the first attempt, else the first sample; None when nothing has a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.frames import (
    ATTEMPT_SCHEMA,
    attempts_frame,
    attempts_frame_from_table,
    samples_frame,
)
from harness.analysis.phases import (
    assign_phases,
    ordered_phases,
    phase_intervals,
    timeline_end_s,
    window_spans,
)
from harness.analysis.summary import Window
from harness.config.scenario import Gate
from harness.config.stages import StagePlan, stage_plan, stages_from_plain
from harness.errors import RunDirError
from harness.numbers import finite
from harness.rundir.chaos_log import ChaosWindow, fold_events
from harness.rundir.jsonl import read_jsonl, read_jsonl_table
from harness.rundir.layout import ATTEMPTS, CHAOS, SAMPLES, SCENARIO, read_json_object
from harness.rundir.meta import RunMeta, read_meta

#: Columns of the attempts frame that add up to an attempt's duration: ms, ms, s.
HANDSHAKE_COLUMNS: tuple[str, ...] = ("connect_ms", "tls_ms", "handshake_ms")


@dataclass(frozen=True)
class Run:
    """One run, ready for analysis.

    Attributes:
        meta: the run's ``meta.json``.
        scenario: its ``scenario.json`` as written (secrets appear only as where they come
            from); ``{}`` when there is none.
        attempts: one row per attempt record (:func:`harness.analysis.frames.attempts_frame`)
            plus ``t_s``, ``end_s`` (s since the start) and ``phase``.
        samples: the target's resource samples (:func:`harness.analysis.frames.samples_frame`)
            plus ``t_s``.
        windows: the chaos windows, times in seconds since the start, in time order.
        started_at: time zero (epoch s; see the module docstring); None: no time at all.
        duration_s: from the start to the end, or to the last attempt when the run was cut
            short (s); None: unknown.
        end_s: the end of the chaos timeline (s): the duration, or the last chaos event.
        phases: every phase, in time order, with its first start and last end (s; None:
            unknown).
        gates: the scenario's gates.
        path: the run directory; None for a run built from records.
    """

    meta: RunMeta
    scenario: Mapping[str, Any]
    attempts: pd.DataFrame
    samples: pd.DataFrame
    windows: tuple[Window, ...]
    started_at: float | None
    duration_s: float | None
    end_s: float
    phases: Mapping[str, tuple[float | None, float | None]]
    gates: tuple[Gate, ...] = ()
    path: Path | None = None

    @property
    def phase_names(self) -> list[str]:
        """Every phase, in time order."""
        return list(self.phases)

    @property
    def planned_hold_s(self) -> float | None:
        """How long a user holds a connection open (``load.session.hold``, s), if known."""
        load = self.scenario.get("load")
        session = load.get("session") if isinstance(load, Mapping) else None
        return finite(session.get("hold")) if isinstance(session, Mapping) else None

    @property
    def heartbeat_interval_s(self) -> float | None:
        """How often the service is expected to ping (``target.heartbeat_interval``, s), if
        the scenario says (None: unknown)."""
        target = self.scenario.get("target")
        value = finite(target.get("heartbeat_interval")) if isinstance(target, Mapping) else None
        return value if value is not None and value > 0 else None

    def window(self, label: str) -> Window | None:
        """The chaos window ``label``, None when there is none."""
        return next((w for w in self.windows if w.label == label), None)

    @property
    def stages(self) -> StagePlan | None:
        """The load stages of the scenario (``load.stages``); None: a constant load.

        Raises:
            RunDirError: ``scenario.json``'s ``load.stages`` is damaged.
        """
        load = self.scenario.get("load")
        items = load.get("stages") if isinstance(load, Mapping) else None
        if not items:
            return None
        if not isinstance(items, list):
            raise RunDirError(f"{SCENARIO}: load.stages: expected a list")
        try:
            return stage_plan(stages_from_plain(items))
        except ValueError as exc:
            raise RunDirError(f"{SCENARIO}: {exc}") from None


# --- Building a run (pure) ------------------------------------------------------------------


#: Records typed at a time when a run is loaded: the dicts of one chunk are freed before the
#: next is read, so a million records never sit in memory as dicts at once.
CHUNK_RECORDS = 50_000


def _rows(records: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Attempt records (:class:`~harness.rundir.records.AttemptRecord` or dicts) as dicts."""
    for r in records:
        if type(r) is dict:  # what the run directory's reader yields: the common case first
            yield r
        elif is_dataclass(r) and not isinstance(r, type):
            yield asdict(r)
        elif isinstance(r, Mapping):
            yield r if isinstance(r, dict) else dict(r)


def chunked_attempts_frame(records: Iterable[Any], chunk: int = CHUNK_RECORDS) -> pd.DataFrame:
    """:func:`~harness.analysis.frames.attempts_frame` of ``records``, typed ``chunk`` records
    at a time and concatenated (the same frame, in a fraction of the memory)."""
    rows = _rows(records)
    frames = []
    while batch := list(islice(rows, chunk)):
        frames.append(attempts_frame(batch))
    if len(frames) <= 1:
        return frames[0] if frames else attempts_frame([])
    return pd.concat(frames, ignore_index=True)


def time_zero(
    meta: RunMeta,
    events: Sequence[Mapping[str, Any]],
    attempts: pd.DataFrame,
    samples: pd.DataFrame,
) -> float | None:
    """The run's time zero in epoch seconds (see the module docstring); None: no time at all."""
    if meta.started_at is not None:
        return meta.started_at
    implied = [
        t - p
        for t, p in ((finite(e.get("t")), finite(e.get("planned_at"))) for e in events)
        if t is not None and p is not None
    ]
    if implied:
        return min(implied)
    for times in (attempts["t_start"], samples["t"]):
        known = pd.to_numeric(times, errors="coerce").dropna()
        if not known.empty:
            return float(known.min())
    times_ = [t for t in (finite(e.get("t")) for e in events) if t is not None]
    return min(times_) if times_ else None


def relative_window(w: ChaosWindow, t0: float) -> Window:
    """A chaos timeline window with its times in seconds since ``t0`` (epoch s)."""
    return Window(
        label=w.label,
        fault=w.fault,
        kind=w.kind,
        disruptive=w.disruptive,
        optional=w.optional,
        params=dict(w.params),
        planned_at=w.planned_at,
        planned_for=w.planned_for,
        applied_s=None if w.start_t is None else w.start_t - t0,
        reverted_s=None if w.end_t is None else w.end_t - t0,
        status=w.status,
        error=w.error,
    )


def attempt_open_at_s(attempts: pd.DataFrame, t_s: pd.Series[Any]) -> pd.Series[float]:
    """When each attempt's WebSocket opened, or its handshake ended (s since the start): its
    start plus TCP connect, TLS and upgrade (missing parts count 0)."""
    ms = sum(pd.to_numeric(attempts[c], errors="coerce").fillna(0.0) for c in HANDSHAKE_COLUMNS)
    return (pd.to_numeric(t_s, errors="coerce") + ms / 1000.0).astype("float64")


def attempt_end_s(attempts: pd.DataFrame, open_at_s: pd.Series[Any], t0: float) -> pd.Series[float]:
    """When each attempt ended (s since ``t0``): its recorded ``t_end``, else its opening plus
    its time open (missing parts count 0). A session that was open when a fault began ended
    under it, whenever it started."""
    computed = open_at_s + pd.to_numeric(attempts["open_s"], errors="coerce").fillna(0.0)
    recorded = pd.to_numeric(attempts["t_end"], errors="coerce") - t0
    return recorded.fillna(computed).astype("float64")


def run_duration_s(meta: RunMeta, t0: float | None, attempts: pd.DataFrame) -> float | None:
    """Seconds from time zero to the run's end; to its last attempt's start when it has none."""
    if t0 is None:
        return None
    if meta.ended_at is not None:
        return max(0.0, meta.ended_at - t0)
    starts = pd.to_numeric(attempts["t_start"], errors="coerce").dropna()
    return None if starts.empty else max(0.0, float(starts.max()) - t0)


def make_run(
    records: Iterable[Any],
    meta: RunMeta,
    *,
    events: Iterable[Mapping[str, Any]] = (),
    samples: Iterable[Mapping[str, Any]] = (),
    scenario: Mapping[str, Any] | None = None,
    gates: Sequence[Gate] | None = None,
    path: Path | None = None,
) -> Run:
    """A :class:`Run` from what a run directory holds (pure).

    Args:
        records: attempt records (:class:`~harness.rundir.records.AttemptRecord` or dicts
            with its fields).
        meta: the run's meta.
        events: the chaos driver's events (``chaos.jsonl`` objects); none for no chaos.
        samples: the target's resource samples (``samples.jsonl`` objects).
        scenario: the scenario as written to ``scenario.json``.
        gates: the gates to evaluate; None: the scenario's.
        path: the run directory, if there is one.

    Raises:
        RunDirError: the scenario's gates cannot be read (see :func:`gates_from_scenario`).
    """
    return run_of_frame(
        chunked_attempts_frame(records),
        meta,
        events=events,
        samples=samples,
        scenario=scenario,
        gates=gates,
        path=path,
    )


def run_of_frame(
    attempts: pd.DataFrame,
    meta: RunMeta,
    *,
    events: Iterable[Mapping[str, Any]] = (),
    samples: Iterable[Mapping[str, Any]] = (),
    scenario: Mapping[str, Any] | None = None,
    gates: Sequence[Gate] | None = None,
    path: Path | None = None,
) -> Run:
    """:func:`make_run` of an attempts frame already typed
    (:func:`~harness.analysis.frames.attempts_frame`, or
    :func:`~harness.analysis.frames.attempts_frame_from_table`); the frame gets the run's
    columns (``t_s``, ``open_at_s``, ``end_s``, ``phase``) in place."""
    evs = [dict(e) for e in events]
    sample_frame = samples_frame(samples)
    t0 = time_zero(meta, evs, attempts, sample_frame)
    zero = 0.0 if t0 is None else t0
    windows = tuple(relative_window(w, zero) for w in fold_events(evs))
    duration = run_duration_s(meta, t0, attempts)
    end_s = timeline_end_s(windows, duration)
    t_s = (pd.to_numeric(attempts["t_start"], errors="coerce") - zero).astype("float64")
    spans = window_spans(windows, end_s)
    attempts["t_s"] = t_s
    attempts["open_at_s"] = attempt_open_at_s(attempts, t_s)
    attempts["end_s"] = attempt_end_s(attempts, attempts["open_at_s"], zero)
    attempts["phase"] = assign_phases(attempts["chaos"], t_s, spans).astype(str)
    sample_frame["t_s"] = (sample_frame["t"].astype("float64") - zero).astype("float64")
    phases = ordered_phases(attempts["phase"], t_s, phase_intervals(spans, end_s))
    scenario = dict(scenario or {})
    return Run(
        meta=meta,
        scenario=scenario,
        attempts=attempts,
        samples=sample_frame,
        windows=windows,
        started_at=t0,
        duration_s=duration,
        end_s=end_s,
        phases=phases,
        gates=tuple(gates_from_scenario(scenario) if gates is None else gates),
        path=path,
    )


# --- Reading a run directory ----------------------------------------------------------------


def load_run(run_dir: Path, gates: Sequence[Gate] | None = None) -> Run:
    """The run in ``run_dir``: ``meta.json``, ``scenario.json``, ``attempts.jsonl``,
    ``samples.jsonl`` and ``chaos.jsonl`` (see :mod:`harness.rundir.layout`).

    Missing JSONL files are empty (a run without chaos, an external target without a probe);
    a torn last line (a run killed mid-write) is skipped; a missing ``scenario.json`` is ``{}``.
    ``attempts.jsonl`` is read into columns by Arrow
    (:func:`~harness.rundir.jsonl.read_jsonl_table`), or line by line when Arrow cannot read
    it as the line reader does (the same frame either way).

    Args:
        run_dir: the run directory.
        gates: the gates to evaluate; None: the scenario's.

    Raises:
        RunDirError: the directory or its ``meta.json`` is missing or unreadable, or its
            ``scenario.json`` is damaged.
    """
    meta = read_meta(run_dir)
    path = run_dir / SCENARIO
    scenario = read_json_object(path) if path.exists() else {}
    return run_of_frame(
        read_attempts(run_dir / ATTEMPTS),
        meta,
        events=read_jsonl(run_dir / CHAOS),
        samples=read_jsonl(run_dir / SAMPLES),
        scenario=scenario,
        gates=gates,
        path=run_dir,
    )


def read_attempts(path: Path) -> pd.DataFrame:
    """The attempts frame of an ``attempts.jsonl``: its columns read by Arrow, else (a line
    Arrow cannot read as the line reader does) its lines one by one; the same frame."""
    table = read_jsonl_table(path, ATTEMPT_SCHEMA)
    if table is None:
        return chunked_attempts_frame(read_jsonl(path))
    return attempts_frame_from_table(table)


_GATE_FIELDS = frozenset(f.name for f in fields(Gate))


def gates_from_scenario(scenario: Mapping[str, Any]) -> list[Gate]:
    """The scenario's gates, rebuilt from the dicts of its ``gates`` list.

    Unknown keys are ignored; a gate that cannot be built (missing name, metric, op or
    threshold) raises :class:`RunDirError`, since the scenario was validated when the run
    started and a damaged file must not silently drop a gate.
    """
    raw = scenario.get("gates") or []
    if not isinstance(raw, list):
        raise RunDirError(f"{SCENARIO}: gates: expected a list, got {type(raw).__name__}")
    gates: list[Gate] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RunDirError(f"{SCENARIO}: gates[{i}]: expected an object")
        kwargs = {k: v for k, v in item.items() if k in _GATE_FIELDS}
        try:
            gate = Gate(**kwargs)
            threshold = float(gate.threshold)
        except (TypeError, ValueError) as exc:
            raise RunDirError(f"{SCENARIO}: gates[{i}]: {exc}") from exc
        gates.append(
            Gate(
                name=str(gate.name),
                metric=str(gate.metric),
                op=str(gate.op),
                threshold=threshold,
                token_kind=_opt_str(gate.token_kind),
                phase=_opt_str(gate.phase),
                fault=_opt_str(gate.fault),
                severity=_opt_str(gate.severity),
            )
        )
    return gates


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
