"""How values read in every output (HTML, Markdown, JUnit, CSV, terminal): pure helpers.

Number formats with their units, close-code names, and the sentences about a run that more
than one output says (cut short, windows never reverted, generator faults, how a window
recovered, what a gate measured). Everything reads the typed summary
(:class:`harness.analysis.summary.Summary`) by attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from harness.analysis.summary import (
    RECOVERED,
    GateResult,
    Recovery,
    RestartReconnects,
    Section,
    Sessions,
    SocketIOStats,
    Summary,
    Window,
    WorkerStats,
)
from harness.config.scenario import SEVERITIES
from harness.numbers import finite
from harness.protocol.outcomes import CLOSE_CODE_NAMES, Verdict

#: Severities from the most to the least serious (``critical`` first).
SEVERITY_ORDER: tuple[str, ...] = tuple(reversed(SEVERITIES))

#: Control characters (a close reason comes from the target: no terminal escapes through).
_CONTROL = re.compile("[\x00-\x1f\x7f]")

#: Severities that fail a CI job's JUnit report, and those the terminal lists.
JUNIT_SEVERITIES: frozenset[str] = frozenset({"high", "critical"})
TERMINAL_SEVERITIES: frozenset[str] = frozenset({"medium", "high", "critical"})


def pct(value: Any, digits: int = 1) -> str:
    """A share in 0..1 as a percentage (``"97.5%"``), ``-`` when missing."""
    f = finite(value)
    return "-" if f is None else f"{f * 100:.{digits}f}%"


def ms(value: Any) -> str:
    """Milliseconds to one decimal, ``-`` when missing."""
    f = finite(value)
    return "-" if f is None else f"{f:.1f}"


def secs(value: Any) -> str:
    """Seconds (e.g. since the run's start) to one decimal, ``-`` when missing."""
    f = finite(value)
    return "-" if f is None else f"{f:.1f}"


def time_utc(epoch_s: Any) -> str:
    """Epoch seconds as ``YYYY-mm-dd HH:MM:SS UTC``, ``-`` when missing."""
    f = finite(epoch_s)
    if f is None:
        return "-"
    try:
        return datetime.fromtimestamp(f, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(epoch_s)


def code_name(code: Any) -> str:
    """A close code with its name, e.g. ``"1013 try again later"``; the code alone if unnamed."""
    text = str(code)
    name = CLOSE_CODE_NAMES.get(int(text), "") if text.isdigit() else ""
    return f"{text} {name}".strip()


def close_codes_text(codes: Mapping[str, int], limit: int = 4) -> str:
    """The most frequent close codes of a section, named: ``"1013 try again later: 4, ..."``."""
    items = sorted(codes.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))[:limit]
    return ", ".join(f"{code_name(code)}: {n}" for code, n in items) or "-"


def top_reason(reasons: Mapping[str, int]) -> str:
    """The most frequent close reason of a section, with its count, or ``""``."""
    if not reasons:
        return ""
    reason, n = max(reasons.items(), key=lambda kv: int(kv[1]))
    return f"{one_line(reason)} ({n})"


def one_line(text: Any) -> str:
    """Text from the run (evidence, a close reason) as one line without control characters."""
    return " ".join(_CONTROL.sub(" ", "" if text is None else str(text)).split())


# --- Run status ---------------------------------------------------------------------------


def cut_short_text(summary: Summary) -> str | None:
    """One sentence saying the run was cut short and how much of it ran; None if complete."""
    if summary.complete:
        return None
    ran, planned = summary.duration_s, summary.duration_planned_s
    if ran is not None and planned:
        span = f"the records cover {ran:.1f} s of the planned {planned:.1f} s"
    elif ran is not None:
        span = f"the records cover {ran:.1f} s"
    else:
        span = "no attempt was recorded"
    end = "" if summary.ended_at else " (no end time was recorded: the run was killed)"
    return f"The run was cut short{end}; {span}."


def unreverted_windows(summary: Summary) -> list[Window]:
    """Chaos windows applied but never recorded as reverted (status ``active_at_end``)."""
    return [w for w in summary.chaos_windows if w.status == "active_at_end"]


def lost_worker_text(w: WorkerStats) -> str:
    """``worker w2 (PID 123) was lost at 3.1 s (killed by SIGKILL): ...``, one sentence."""
    pid = "" if w.pid is None else f" (PID {w.pid})"
    at = "" if w.lost_at_s is None else f" at {w.lost_at_s:.1f} s"
    how = f" ({w.lost_how})" if w.lost_how else ""
    return (
        f"load worker {w.id}{pid} was lost{at}{how}: {w.records} of its records reached the"
        f" master, of {w.made} it reported making; at least {w.lost_at_least or 0} attempts"
        " are missing from the records, and any it made after its last report are unknown."
        " That is the load generator's loss, not the target's."
    )


def workers_text(summary: Summary) -> str:
    """``2 workers: w1 812 records, w2 640 records (lost)``, or "" for a one-process run."""
    if not summary.workers:
        return ""
    parts = ", ".join(
        f"{w.id} {w.records} records" + (" (lost)" if w.state == "lost" else "")
        for w in summary.workers
    )
    return f"{len(summary.workers)} workers: {parts}"


def generator_text(summary: Summary) -> str:
    """``peak 3000 sessions open in 2 processes, 250 MB (idle 190 MB): 20.5 KB per held
    connection``, or "" when not recorded."""
    g = summary.generator
    if g is None:
        return ""
    where = "" if g.processes == 1 else f" in {g.processes} processes"
    per = "" if g.kb_per_open is None else f": {g.kb_per_open:.1f} KB per held connection"
    cpu = ""
    if g.cpu_share_median is not None:
        each = "" if g.processes == 1 else " each"
        cpu = f"; CPU {g.cpu_share_median * 100:.0f}% of a core{each} (median)"
    return (
        f"peak {g.peak_open} sessions open{where}, {g.rss_mb_at_peak:.0f} MB"
        f" (idle {g.rss_mb_idle:.0f} MB){per}{cpu}"
    )


def warnings(summary: Summary) -> list[str]:
    """Warnings a reader must not miss, one sentence each.

    A run cut short, chaos windows with no recorded revert, a worker lost mid-run (its
    last records with it), and attempts that failed inside the load generator (the
    harness's failure, not the target's).
    """
    out: list[str] = []
    cut = cut_short_text(summary)
    if cut:
        out.append(f"WARNING: {cut}")
    for w in unreverted_windows(summary):
        out.append(
            f"WARNING: chaos window {w.label} ({w.fault}) was applied but no revert was "
            "recorded: it was still active when the record ends; check that the target was "
            "restored."
        )
    for worker in summary.lost_workers:
        out.append(f"WARNING: {lost_worker_text(worker)}")
    share = summary.generator_fault_share
    if share:
        count = summary.total.verdict(Verdict.GENERATOR_FAULT)
        out.append(
            f"WARNING: {count} attempts ({share * 100:.1f}%) failed inside the load"
            " generator (out of file descriptors or ports): that is the harness's own failure,"
            " not the target's."
        )
    return out


# --- Findings -----------------------------------------------------------------------------


def findings_headline(summary: Summary) -> str:
    """``"2 findings: 1 critical, 1 high"``, or ``"no findings"``."""
    counts = {s: n for s in SEVERITY_ORDER if (n := summary.findings_by_severity.get(s, 0))}
    total = sum(counts.values())
    if not total:
        return "no findings"
    parts = ", ".join(f"{n} {sev}" for sev, n in counts.items())
    return f"{total} finding{'s' if total != 1 else ''}: {parts}"


# --- Recovery -----------------------------------------------------------------------------


def recovery_state(rec: Recovery) -> str:
    """``recovered``, ``not_recovered`` or ``unknown`` (no verdict, e.g. never reverted)."""
    if rec.recovered:
        return "recovered"
    return "not_recovered" if rec.status == "did not recover" else "unknown"


def recovery_text(rec: Recovery) -> str:
    """How one window recovered: ``"recovered in 3.5 s"``, ``"did not recover"``, or its status."""
    state = recovery_state(rec)
    if state == "recovered":
        if rec.recovery_s is None:
            return RECOVERED
        if rec.recovery_s == 0 and rec.degraded is False:
            return "did not degrade"
        return f"recovered in {rec.recovery_s:.1f} s"
    return rec.status


# --- Gates and sections -------------------------------------------------------------------


def gate_metric(result: GateResult) -> str:
    """What a gate result measured: ``"recovery_s(cpu#1)"``, ``"ok[valid]@baseline"``, ..."""
    of = (
        f"({result.fault})"
        if result.fault
        else f"(>= {result.severity})"
        if result.severity
        else ""
    )
    kind = f"[{result.token_kind}]" if result.token_kind else ""
    where = f"@{result.phase}" if result.phase else ""
    ratio = f" / @{result.relative_to}" if result.relative_to else ""
    return f"{result.metric}{of}{kind}{where}{ratio}"


def success_of_expected(kinds: Mapping[str, Section], accept: bool) -> float | None:
    """ok / counted (0..1) over the token kinds that expect ``accept`` (or rejection)."""
    ok = counted = 0
    for sec in kinds.values():
        if (sec.expected == "accept") is accept:
            ok += sec.verdict(Verdict.OK)
            counted += sec.counted
    return ok / counted if counted else None


def policy_text(sessions: Sessions) -> str:
    """The reconnect policy in a few words, e.g. ``exponential (preset front-end)``."""
    return sessions.policy + (f" (preset {sessions.preset})" if sessions.preset else "")


def sessions_facts(sessions: Sessions) -> list[tuple[str, str]]:
    """What every output says of sessions and reconnects: (label, value) pairs, in order."""
    per = finite(sessions.reconnects_per_session)
    most = sessions.max_reconnects
    per_text = "" if per is None else f" ({per:.2f} per session, at most {most})"
    facts = [
        ("reconnect policy", policy_text(sessions)),
        ("sessions", str(sessions.sessions)),
        ("reconnects", f"{sessions.reconnects}{per_text}"),
        ("outages reconnected", f"{sessions.reconnected} of {sessions.outages}"),
        (
            "time to reconnect p50 / p95 / max s",
            " / ".join(
                secs(v)
                for v in (
                    sessions.time_to_reconnect_p50_s,
                    sessions.time_to_reconnect_p95_s,
                    sessions.time_to_reconnect_max_s,
                )
            ),
        ),
        ("sessions that gave up", str(sessions.gave_up)),
        ("valid sessions ended in an auth failure (login breaks)", str(sessions.auth_failed)),
    ]
    if sessions.expired_open:
        kept = sessions.kept_past_expiry_s
        tail = "" if kept is None else f"; one kept open {secs(kept)} s past it"
        facts.append(
            (
                "tokens that expired while connected",
                f"{sessions.expired_open}, closed by the server at expiry: "
                f"{sessions.closed_at_expiry}{tail}",
            )
        )
    if sessions.stale_reconnects:
        facts.append(
            (
                "reconnects with the expired token accepted",
                f"{sessions.stale_accepted} of {sessions.stale_reconnects}",
            )
        )
    if sessions.refreshed:
        facts.append(
            (
                "reconnects with a refreshed token accepted",
                f"{sessions.refreshed_accepted} of {sessions.refreshed}",
            )
        )
    return facts


def restart_text(r: RestartReconnects) -> str:
    """One restart's reconnects in a sentence."""
    full = (
        f"all back {secs(r.full_reconnection_s)} s after it began"
        if r.full_reconnection_s is not None
        else f"{r.lost - r.reconnected} never back"
    )
    bunch = "" if r.peak_to_mean is None else f"; reconnects peak/mean {r.peak_to_mean:.1f}"
    return f"{r.lost} sessions lost their connection, {full}{bunch}"


def _by_transport(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def socketio_facts(stats: SocketIOStats) -> list[tuple[str, str]]:
    """What every output says of Socket.IO sessions: (label, value) pairs, in order."""
    facts = [
        ("sessions opened, by transport", _by_transport(stats.attempts_by_transport)),
        ("accepted, by transport", _by_transport(stats.accepted_by_transport)),
        ("fell back to polling (WebSocket failed)", str(stats.fallbacks)),
        (
            "polling sessions upgraded to WebSocket",
            f"{stats.upgrades_tried - stats.upgrades_failed} of {stats.upgrades_tried}",
        ),
        ("server disconnects (io server disconnect)", str(stats.server_disconnects)),
        ("no Engine.IO ping in time (dead connection)", str(stats.heartbeat_timeouts)),
    ]
    facts += [(f"CONNECT_ERROR x{n}", message) for message, n in stats.connect_errors.items()]
    return facts
