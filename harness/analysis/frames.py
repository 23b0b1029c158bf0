"""Load a run directory into pandas DataFrames and plain dicts (the report stage's only reader).

Files read (see :mod:`harness.rundir.records` for the writers):

- ``attempts.jsonl``: one :class:`~harness.rundir.records.AttemptRecord` per line;
- ``samples.jsonl``: one target resource sample per second (may be missing or empty);
- ``chaos.jsonl``: one chaos driver event per line (``applying``, ``applied``,
  ``reverted``, ``failed``, ``skipped``), one row per window (:func:`load_chaos`);
- ``meta.json``: run metadata (run id, scenario name, start/end epoch seconds, ...);
- ``scenario.json``: the resolved scenario, secret redacted (its ``gates`` list is used).

A torn last line (a run killed mid-write) is skipped by :func:`harness.rundir.jsonl.read_jsonl`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config.scenario import Gate
from harness.errors import RunDirError
from harness.numbers import finite
from harness.rundir.chaos_log import ChaosWindow, fold_events, read_events
from harness.rundir.jsonl import read_jsonl
from harness.rundir.layout import ATTEMPTS, CHAOS, META, SAMPLES, SCENARIO, read_json_object
from harness.rundir.meta import read_meta
from harness.rundir.records import RECORD_FIELDS

# --- Column types -----------------------------------------------------------------------

#: Text columns of attempts (pandas ``string`` dtype, missing values are ``<NA>``).
ATTEMPT_TEXT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "worker",
    "token_kind",
    "placement",
    "expected",
    "outcome",
    "verdict",
    "manner",
    "stage",
    "close_reason",
    "closed_by",
    "error",
    "load_stage",
)

#: Integer columns of attempts (nullable ``Int64``).
ATTEMPT_INT_COLUMNS: tuple[str, ...] = (
    "user",
    "attempt",
    "http_status",
    "close_code",
    "msgs_sent",
    "msgs_recv",
    "pings",
)

#: Float columns of attempts (``float64``, missing values are NaN): epoch seconds
#: (``t_start``), milliseconds (``*_ms``) and seconds (``open_s``).
ATTEMPT_FLOAT_COLUMNS: tuple[str, ...] = (
    "t_start",
    "connect_ms",
    "handshake_ms",
    "open_s",
    "rtt_ms_avg",
    "rtt_ms_max",
)

#: Columns of ``samples.jsonl``: ``t`` epoch seconds, CPU percent (one core = 100),
#: resident memory in MB, open file descriptors, connections and threads of the target.
SAMPLE_FLOAT_COLUMNS: tuple[str, ...] = ("t", "cpu_percent", "rss_mb")
SAMPLE_INT_COLUMNS: tuple[str, ...] = ("fds", "connections", "threads")
SAMPLE_COLUMNS: tuple[str, ...] = SAMPLE_FLOAT_COLUMNS + SAMPLE_INT_COLUMNS


def _typed_frame(
    rows: list[dict[str, Any]],
    columns: Iterable[str],
    *,
    text: Iterable[str] = (),
    ints: Iterable[str] = (),
    floats: Iterable[str] = (),
) -> pd.DataFrame:
    """A DataFrame with exactly ``columns`` (missing keys become NA), cast to their dtypes."""
    df = pd.DataFrame(rows, columns=list(columns))
    for name in floats:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in ints:
        # Through float first: a stray 1.0 or "7" must not break the cast to Int64.
        numbers = pd.to_numeric(df[name], errors="coerce").astype("float64").round()
        df[name] = numbers.astype("Int64")
    for name in text:
        df[name] = df[name].astype("object").where(df[name].notna(), None).astype("string")
    return df


def _as_str_list(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def attempts_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Attempt records (dicts with AttemptRecord fields) as a typed DataFrame.

    Every AttemptRecord column is present, whatever the rows hold (missing keys are
    NA, unknown keys dropped): text columns are ``string``, counts and codes ``Int64``
    (nullable), times and durations ``float64`` (``t_start`` in epoch seconds, ``*_ms``
    in milliseconds, ``open_s`` in seconds), and ``chaos`` holds a list of fault names.
    """
    df = _typed_frame(
        [dict(r) for r in rows],
        RECORD_FIELDS,
        text=ATTEMPT_TEXT_COLUMNS,
        ints=ATTEMPT_INT_COLUMNS,
        floats=ATTEMPT_FLOAT_COLUMNS,
    )
    df["chaos"] = pd.Series([_as_str_list(v) for v in df["chaos"]], index=df.index, dtype=object)
    return df


def load_attempts(run_dir: Path) -> pd.DataFrame:
    """All attempt records of a run (``attempts.jsonl``), one row each; see :func:`attempts_frame`.

    A missing or empty file gives an empty frame with the same columns and dtypes;
    a torn last line is skipped.
    """
    return attempts_frame(read_jsonl(run_dir / ATTEMPTS))


def samples_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Target resource samples as a typed DataFrame, sorted by time.

    Columns: ``t`` (epoch seconds), ``cpu_percent`` (percent, one core = 100),
    ``rss_mb`` (MB) as ``float64``; ``fds``, ``connections``, ``threads`` as ``Int64``.
    Rows without a time are dropped.
    """
    df = _typed_frame(
        [dict(r) for r in rows],
        SAMPLE_COLUMNS,
        ints=SAMPLE_INT_COLUMNS,
        floats=SAMPLE_FLOAT_COLUMNS,
    )
    return df.dropna(subset=["t"]).sort_values("t").reset_index(drop=True)


def load_samples(run_dir: Path) -> pd.DataFrame:
    """Target resource samples of a run (``samples.jsonl``); see :func:`samples_frame`.

    A missing or empty file (e.g. an external target with no probe) gives an empty
    frame with the same columns.
    """
    return samples_frame(read_jsonl(run_dir / SAMPLES))


# --- Chaos windows ------------------------------------------------------------------------

#: Columns of the chaos windows frame; times are seconds since the run's start.
CHAOS_COLUMNS: tuple[str, ...] = (
    "label",
    "fault",
    "kind",
    "disruptive",
    "params",
    "planned_at",
    "planned_for",
    "applied_s",
    "reverted_s",
    "status",
    "error",
)
_CHAOS_TEXT = ("label", "fault", "kind", "status", "error")
#: Its float columns (seconds): as planned, and as it happened.
CHAOS_FLOAT_COLUMNS: tuple[str, ...] = ("planned_at", "planned_for", "applied_s", "reverted_s")


def _estimate_t0(events: Sequence[Mapping[str, Any]]) -> float:
    """The run's start (epoch s) guessed from chaos events when ``meta.json`` has none."""
    starts = [
        t - p
        for t, p in ((finite(e.get("t")), finite(e.get("planned_at"))) for e in events)
        if t is not None and p is not None
    ]
    if starts:
        return min(starts)
    times = [t for t in (finite(e.get("t")) for e in events) if t is not None]
    return min(times) if times else 0.0


def windows_frame(windows: Sequence[ChaosWindow], started_at: float) -> pd.DataFrame:
    """Chaos windows (:mod:`harness.rundir.chaos_log`) as one row each, times relative.

    Columns :data:`CHAOS_COLUMNS`: ``applied_s`` / ``reverted_s`` are the window's start
    and end in seconds since ``started_at`` (``float64``, NaN when there was none; a failed
    window that had started ends at its ``failed`` event), ``params`` a dict, ``status``
    one of :data:`~harness.rundir.chaos_log.WINDOW_STATUSES`, ``kind`` the fault's kind and
    ``disruptive`` whether the fault itself cuts or delays clients. Rows keep the
    timeline's order (by start, else planned start, then label).
    """
    rows = [
        {
            "label": w.label,
            "fault": w.fault,
            "kind": w.kind,
            "disruptive": w.disruptive,
            "params": dict(w.params),
            "planned_at": w.planned_at,
            "planned_for": w.planned_for,
            "applied_s": None if w.start_t is None else w.start_t - started_at,
            "reverted_s": None if w.end_t is None else w.end_t - started_at,
            "status": w.status,
            "error": w.error,
        }
        for w in windows
    ]
    df = _typed_frame(rows, CHAOS_COLUMNS, text=_CHAOS_TEXT, floats=CHAOS_FLOAT_COLUMNS)
    df["params"] = pd.Series(
        [p if isinstance(p, dict) else {} for p in df["params"]], index=df.index, dtype=object
    )
    df["disruptive"] = df["disruptive"].astype(bool)
    return df


def chaos_frame(events: Iterable[Mapping[str, Any]], started_at: float | None) -> pd.DataFrame:
    """Chaos driver events folded into one row per window by the timeline's one rule
    (:func:`harness.rundir.chaos_log.fold_events`); see :func:`windows_frame`.

    Args:
        events: ``chaos.jsonl`` objects (events without a label are ignored).
        started_at: the run's start (epoch s) from ``meta.json``; None estimates it from
            the events (``t - planned_at``).
    """
    evs = [dict(e) for e in events]
    t0 = started_at if started_at is not None else _estimate_t0(evs)
    return windows_frame(fold_events(evs), t0)


def no_chaos() -> pd.DataFrame:
    """An empty chaos windows frame (a run without chaos), with the columns and dtypes."""
    return chaos_frame([], 0.0)


def load_chaos(run_dir: Path, started_at: float | None = None) -> pd.DataFrame:
    """The chaos windows of a run (``chaos.jsonl``); see :func:`chaos_frame`.

    Args:
        run_dir: the run directory.
        started_at: the run's start in epoch seconds; None reads ``meta.json``.

    A missing or empty file (a run without chaos) gives an empty frame with the same
    columns; a torn last line is skipped.
    """
    events = read_events(run_dir / CHAOS)
    if started_at is None and events and (run_dir / META).exists():
        started_at = read_meta(run_dir).started_at
    return chaos_frame(events, started_at)


def load_meta(run_dir: Path) -> dict[str, Any]:
    """The run's ``meta.json`` as a dict (see :mod:`harness.rundir.meta`).

    Raises:
        RunDirError: the directory or its ``meta.json`` is missing or unreadable.
    """
    return read_meta(run_dir).to_dict()


def load_scenario(run_dir: Path) -> dict[str, Any]:
    """The resolved scenario (``scenario.json``) as a dict; ``{}`` when the file is missing.

    Raises:
        RunDirError: the file exists but is not a readable JSON object.
    """
    path = run_dir / SCENARIO
    if not path.exists():
        return {}
    return read_json_object(path)


_GATE_FIELDS = frozenset(f.name for f in fields(Gate))


def gates_from_scenario(scenario: Mapping[str, Any]) -> list[Gate]:
    """The scenario's gates, rebuilt from the dicts of its ``gates`` list.

    Unknown keys are ignored; a gate that cannot be built (missing name, metric,
    op or threshold) raises :class:`RunDirError`, since the scenario was validated
    when the run started and a damaged file must not silently drop a gate.
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
