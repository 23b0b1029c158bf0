"""Builders of runs for the analysis and render tests: attempt rows, chaos events, run
directories, summaries. Every test module imports them from here (never from another test).

Times given to the builders are seconds since :data:`T0`, the runs' start.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.gates import with_gates
from harness.analysis.run import Run, make_run
from harness.analysis.summarize import summarize
from harness.analysis.summary import Finding, Summary
from harness.config.scenario import Gate
from harness.rundir.meta import RunMeta
from harness.rundir.records import AttemptRecord

T0 = 1_700_000_000.0


def meta(**changes: Any) -> RunMeta:
    """The meta of a complete 40 s run ``run-1`` of scenario ``unit`` (``changes`` applied)."""
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "scenario": "unit",
        "route": "harness run",
        "started_at": T0,
        "ended_at": T0 + 40.0,
        "duration_planned_s": 40.0,
        "target_url": "ws://127.0.0.1:9/ws",
        "complete": True,
        "versions": {"harness": "test"},
        "machine": {},
    }
    fields.update(changes)
    return RunMeta(**fields)


META = meta()
#: A run killed before its end: no end time, not complete.
CUT_META = meta(ended_at=None, complete=False)


def rec(
    kind: str,
    outcome: str,
    verdict: str,
    *,
    t: float = 0.0,
    hs: float | None = None,
    code: int | None = None,
    reason: str | None = None,
    status: int | None = None,
    chaos: tuple[str, ...] = (),
    **fields: Any,
) -> dict[str, Any]:
    """One attempt record as a dict (``t`` in seconds since T0); ``fields`` set any other."""
    row = {
        "run_id": "run-1",
        "worker": "local",
        "user": 1,
        "attempt": 1,
        "token_kind": kind,
        "placement": "query",
        "expected": "accept" if kind == "valid" else "reject",
        "t_start": T0 + t,
        "handshake_ms": hs,
        "outcome": outcome,
        "verdict": verdict,
        "http_status": status,
        "close_code": code,
        "close_reason": reason,
        "chaos": list(chaos),
    }
    row.update(fields)
    return row


def sample_rows() -> list[dict[str, Any]]:
    """A small run with known answers.

    valid (12 rows): 7 ok (handshakes 10..70 ms), 2 refused with 1013 "overloaded"
    (80, 90 ms), 1 generator fault, 1 abrupt timeout, 1 excluded (interrupted): 10 counted.
    empty (4 rows): 3 closed 4401, 1 accepted (invalid_accepted). expired (2 rows):
    1 rejected 401, 1 abrupt. Attempts from t=20 s on ran under the "cpu" fault.
    """
    rows = [rec("valid", "accepted", "ok", t=float(i), hs=10.0 * (i + 1)) for i in range(7)]
    rows += [
        rec("valid", "closed_try_again", "valid_refused", t=20.0 + i, hs=80.0 + 10 * i,
            code=1013, reason="overloaded", chaos=("cpu",))
        for i in range(2)
    ]  # fmt: skip
    rows += [
        rec("valid", "generator_fault", "generator_fault", t=25.0, chaos=("cpu",)),
        rec("valid", "timeout_handshake", "abrupt", t=26.0, chaos=("cpu",)),
        rec("valid", "interrupted", "excluded", t=39.0),
    ]
    rows += [
        rec("empty", "closed_auth", "ok", t=float(i), hs=5.0, code=4401, reason="token empty")
        for i in range(3)
    ]
    rows.append(rec("empty", "accepted", "invalid_accepted", t=30.0, hs=5.0, chaos=("cpu",)))
    rows += [
        rec("expired", "rejected_auth", "ok", t=1.0, hs=7.0, status=401),
        rec("expired", "abnormal_handshake", "abrupt", t=2.0),
    ]
    return rows


#: Faults of the test windows that cut or delay clients themselves (as the driver writes them).
DISRUPTIVE = frozenset({"kill", "kill_target", "restart_target", "latency", "reset", "net"})


def event(t: float, kind: str, label: str, **kw: Any) -> dict[str, Any]:
    """One chaos.jsonl event, ``t`` in seconds since T0."""
    fault = label.split("#")[0]
    return {
        "t": T0 + t,
        "event": kind,
        "label": label,
        "fault": fault,
        "kind": kw.pop("fault_kind", "network" if fault in DISRUPTIVE else "cpu"),
        "disruptive": kw.pop("disruptive", fault in DISRUPTIVE),
        "params": kw.pop("params", {}),
        "planned_at": kw.pop("planned_at", t),
        "planned_for": kw.pop("planned_for", None),
        "error": kw.pop("error", None),
    }


def window_events(*spans: tuple[str, float, float | None]) -> list[dict[str, Any]]:
    """The chaos events of ``(label, applied_s, reverted_s or None)`` spans."""
    events = []
    for label, applied, reverted in spans:
        events.append(event(applied, "applied", label))
        if reverted is not None:
            events.append(event(reverted, "reverted", label, planned_at=applied))
    return events


#: cpu#1 applied at 10 s, reverted at 20 s.
CPU = window_events(("cpu#1", 10.0, 20.0))

STEP_S = 0.25


def valid_run(
    ok_at: Callable[[float], bool],
    *,
    start: float = 0.0,
    end: float = 40.0,
    windows: tuple[tuple[str, float, float | None], ...] = (("cpu#1", 10.0, 20.0),),
) -> list[dict[str, Any]]:
    """Valid attempts every STEP_S from ``start`` to ``end`` (s); ``ok_at(t)`` decides success.

    Attempts inside a window list its label in ``chaos``, as the load generator would.
    """
    rows = []
    for t in np.arange(start, end, STEP_S):
        t = float(t)
        active = tuple(label for label, a, r in windows if a <= t and (r is None or t < r))
        if ok_at(t):
            rows.append(rec("valid", "accepted", "ok", t=t, hs=10.0, chaos=active))
        else:
            rows.append(rec("valid", "timeout_handshake", "abrupt", t=t, chaos=active))
    return rows


def run_of(
    rows: Iterable[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]] = (),
    run_meta: RunMeta = META,
    **kw: Any,
) -> Run:
    """The run of hand-built attempt rows and chaos events (meta defaults to :data:`META`)."""
    return make_run(rows, run_meta, events=events, **kw)


def summary_of(
    rows: Iterable[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]] = (),
    run_meta: RunMeta = META,
    gates: Sequence[Gate] = (),
) -> Summary:
    """The summary (with ``gates`` evaluated) of hand-built rows and chaos events."""
    return with_gates(summarize(run_of(rows, events, run_meta)), gates)


def gate(metric: str, op: str, threshold: float, kind: str | None = None, **kw: Any) -> Gate:
    """A gate named ``g-<metric>``."""
    return Gate(
        name=f"g-{metric}", metric=metric, op=op, threshold=threshold, token_kind=kind, **kw
    )


# --- Run directories ------------------------------------------------------------------------


def attempt(i: int, kind: str, outcome: str, verdict: str, **kw: Any) -> AttemptRecord:
    """Attempt ``i`` of run ``run-42``, 0.5 s after the one before."""
    return AttemptRecord(
        run_id="run-42",
        worker="local",
        user=i % 5,
        attempt=i,
        token_kind=kind,
        placement="query",
        expected="accept" if kind == "valid" else "reject",
        t_start=T0 + i * 0.5,
        outcome=outcome,
        verdict=verdict,
        **kw,
    )


def write_run(
    run_dir: Path,
    records: list[AttemptRecord],
    *,
    complete: bool = True,
    samples: bool = True,
    torn: bool = True,
    gates: list[dict[str, Any]] | None = None,
    scenario_name: str = "smoke",
    chaos: Sequence[Mapping[str, Any]] | None = None,
    chaos_tail: str = "",
) -> Path:
    """A run directory of ``run-42``: 30 s planned, records, samples, meta and scenario.

    ``torn`` ends attempts.jsonl in half a line (a run killed mid-write); ``chaos`` events
    are written to chaos.jsonl, followed by ``chaos_tail`` (e.g. a torn line).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "attempts.jsonl", "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(r.to_json() + "\n")
        if torn:
            fh.write('{"run_id": "run-42", "worker": "lo')
    if samples:
        with open(run_dir / "samples.jsonl", "w", encoding="utf-8") as fh:
            for s in range(30):
                sample = {"t": T0 + s, "cpu_percent": 10.0 + s, "rss_mb": 50.0,
                          "fds": 10 + s, "connections": s, "threads": 4}  # fmt: skip
                fh.write(json.dumps(sample) + "\n")
    run_meta = RunMeta(
        run_id="run-42",
        scenario=scenario_name,
        route="harness run",
        command="harness run scenarios/smoke.yaml",
        started_at=T0,
        ended_at=T0 + 30.0 if complete else None,
        duration_planned_s=30.0,
        complete=complete,
        target_url="ws://127.0.0.1:8765/ws",
        versions={"harness": "0.1.0", "python": "3.11"},
        machine={"platform": "Linux", "cpus": 2},
    )
    run_meta.write(run_dir)
    scenario = {
        "name": scenario_name,
        "auth": {"secret": {"env": "WS_SECRET"}, "algorithm": "HS256"},
        "load": {"users": 5, "session": {"hold": 2.0}},
        "gates": gates if gates is not None else [],
    }
    (run_dir / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    if chaos is not None:
        text = "".join(json.dumps(dict(e)) + "\n" for e in chaos) + chaos_tail
        (run_dir / "chaos.jsonl").write_text(text, encoding="utf-8")
    return run_dir


def standard_records() -> list[AttemptRecord]:
    """40 valid (36 ok, 4 refused 1013 under "cpu_quota"), 10 empty (8 rejected 401, 2
    accepted), 1 excluded."""
    records = []
    for i in range(40):
        if i % 10 == 9:
            records.append(
                attempt(i, "valid", "closed_try_again", "valid_refused", handshake_ms=30.0,
                        close_code=1013, close_reason="overloaded", chaos=["cpu_quota"])
            )  # fmt: skip
        else:
            records.append(attempt(i, "valid", "accepted", "ok", handshake_ms=float(i)))
    for i in range(40, 50):
        if i < 48:
            records.append(
                attempt(i, "empty", "rejected_auth", "ok", handshake_ms=2.0, http_status=401)
            )
        else:
            records.append(attempt(i, "empty", "accepted", "invalid_accepted", handshake_ms=3.0))
    records.append(attempt(50, "valid", "interrupted", "excluded"))
    return records


GATES = [
    {"name": "valid ok", "metric": "success_rate", "op": ">=", "threshold": 0.85,
     "token_kind": "valid"},
    {"name": "no empty accepted", "metric": "invalid_accepted", "op": "==", "threshold": 0,
     "token_kind": "empty"},
]  # fmt: skip


def chaos_event(t: float, kind: str, label: str, **kw: Any) -> dict[str, Any]:
    """One chaos.jsonl event of run ``run-42`` (``t`` s since T0)."""
    return {
        "t": T0 + t,
        "event": kind,
        "label": label,
        "fault": label.split("#")[0],
        "kind": kw.get("fault_kind", "cpu"),
        "disruptive": kw.get("disruptive", False),
        "params": kw.get("params", {}),
        "planned_at": kw.get("planned_at", t),
        "planned_for": kw.get("planned_for"),
        "error": kw.get("error"),
    }


def chaos_records() -> list[AttemptRecord]:
    """60 attempts, 0.5 s apart: valid tokens, refused with 1013 or reset during cpu_quota#1
    (10..20 s), accepted otherwise; every fifth an empty token rejected with 401."""
    records = []
    for i in range(60):
        t = i * 0.5
        chaos = ["cpu_quota#1"] if 10.0 <= t < 20.0 else []
        if i % 5 == 4:
            records.append(
                attempt(i, "empty", "rejected_auth", "ok", http_status=401, manner="graceful")
            )
        elif chaos and i % 2:
            records.append(attempt(i, "valid", "abnormal_handshake", "abrupt", manner="abrupt"))
        elif chaos:
            records.append(
                attempt(i, "valid", "closed_try_again", "valid_refused", close_code=1013,
                        manner="graceful")
            )  # fmt: skip
        else:
            records.append(attempt(i, "valid", "accepted", "ok", handshake_ms=5.0))
        records[-1].chaos = chaos
    return records


# --- PNG ------------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_png(width: int, height: int) -> bytes:
    """A valid grey PNG of ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk (asserting it is a PNG)."""
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


# --- Findings -------------------------------------------------------------------------------

#: Findings as a summary carries them, one per severity (one holds markup to escape).
FINDINGS = (
    Finding("invalid-token-accepted", "token", "critical", "Invalid tokens were accepted",
            "empty: 1 of 4 accepted", "anyone can connect",
            "refuse an empty token before the upgrade (401)"),
    Finding("closed-before-established", "connection", "high",
            "Connections were closed before they were established",
            "31% of handshakes dropped before the 101 (cpu#1: 12)",
            "a full backlog <or> a crash & no answer", "answer every upgrade | 503 when full"),
    Finding("abrupt-under-pressure", "resource", "medium", "Refusals were abrupt", "", "m", "f"),
    Finding("slow-handshake", "resource", "low", "Handshakes were slow", "p95 700 ms", "slow",
            "faster"),
)  # fmt: skip
#: Their counts per severity.
FINDING_COUNTS = {"critical": 1, "high": 1, "medium": 1, "low": 1}


def with_findings(summary: Summary, findings: Sequence[Finding] = FINDINGS) -> Summary:
    """``summary`` with ``findings`` (and their counts) in place of its own."""
    counts = {
        s: sum(f.severity == s for f in findings) for s in ("critical", "high", "medium", "low")
    }
    return replace(summary, findings=tuple(findings), findings_by_severity=counts)
