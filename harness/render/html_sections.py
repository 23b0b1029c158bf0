"""HTML sections of ``index.html`` about chaos and its consequences: findings, chaos
timeline, recovery per fault and the per-phase table; and the load stages.

Every function returns an HTML fragment built from the summary; every value taken from
the run is escaped with :func:`e`. Times are seconds since the run's start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from harness.analysis.summary import Phase, Recovery, Section, StageStats, Summary, Window
from harness.render.present import (
    findings_headline,
    ms,
    one_line,
    pct,
    recovery_state,
    recovery_text,
    restart_text,
    secs,
    sessions_facts,
    socketio_facts,
)

#: Colours of finding severities: (background, text).
SEVERITY_COLORS: Mapping[str, tuple[str, str]] = {
    "critical": ("#7f0000", "#ffffff"),
    "high": ("#c62828", "#ffffff"),
    "medium": ("#ef8f00", "#222222"),
    "low": ("#9e9e9e", "#222222"),
}

#: CSS of these sections (added to the page's style sheet).
SECTIONS_CSS = "".join(
    f".sev.{sev} {{ background: {bg}; color: {fg}; }} " for sev, (bg, fg) in SEVERITY_COLORS.items()
) + (
    ".sev { font-weight: bold; text-transform: uppercase; text-align: center; "
    "white-space: nowrap; } td.wrap { text-align: left; max-width: 28em; } "
)


def e(value: Any) -> str:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return escape(str(value), quote=True)


def h2(anchor: str, title: str) -> str:
    """A section heading with an ``id`` for the page's table of contents."""
    return f'<h2 id="{e(anchor)}">{e(title)}</h2>'


# --- Findings -----------------------------------------------------------------------------


def findings_html(summary: Summary) -> str:
    """The findings table, most severe first: severity, id and title, evidence, meaning, fix."""
    if not summary.findings:
        return f"{h2('findings', 'Findings')}<p>No findings.</p>"
    head = (
        "<tr><th>severity</th><th class='l'>finding</th><th class='l'>evidence</th>"
        "<th class='l'>what it means</th><th class='l'>what to do</th></tr>"
    )
    rows = []
    for f in summary.findings:
        cls = f.severity if f.severity in SEVERITY_COLORS else "low"
        rows.append(
            f'<tr class="finding"><td class="sev {cls}">{e(f.severity)}</td>'
            f'<td class="wrap"><b>{e(one_line(f.title) or f.id)}</b><br><code>{e(f.id)}</code></td>'
            f'<td class="wrap">{e(one_line(f.evidence) or "-")}</td>'
            f'<td class="wrap">{e(one_line(f.meaning) or "-")}</td>'
            f'<td class="wrap">{e(one_line(f.fix) or "-")}</td></tr>'
        )
    return (
        f"{h2('findings', 'Findings')}<p>{e(findings_headline(summary))}.</p>"
        f"<table>{head}{''.join(rows)}</table>"
    )


# --- Chaos --------------------------------------------------------------------------------


def _params(params: Mapping[str, Any]) -> str:
    if not params:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in params.items())


def chaos_timeline_table(windows: Sequence[Window]) -> str:
    """One row per scheduled chaos window: plan, when it was applied and reverted, status."""
    if not windows:
        return (
            "<p>No <code>chaos.jsonl</code> in this run: the phases below come from the "
            "faults the attempts recorded.</p>"
        )
    head = (
        '<tr><th class="l">label</th><th class="l">fault</th><th class="l">kind</th>'
        '<th class="l">params</th><th>planned at s</th><th>planned for s</th><th>applied s</th>'
        '<th>reverted s</th><th class="l">status</th><th class="l">error</th></tr>'
    )
    rows = []
    for w in windows:
        cls = {"failed": "bad", "active_at_end": "warn", "skipped": "warn"}.get(w.status)
        status_cell = f'<td class="l {cls}">' if cls else '<td class="l">'
        shown = (
            "still active at the end (no revert recorded)"
            if w.status == "active_at_end"
            else w.status
        )
        kind = w.kind + (" (disruptive)" if w.disruptive else "") if w.kind else "-"
        rows.append(
            f'<tr><td class="l">{e(w.label)}</td><td class="l">{e(w.fault)}</td>'
            f'<td class="l">{e(kind)}</td>'
            f'<td class="l">{e(_params(w.params))}</td><td>{secs(w.planned_at)}</td>'
            f"<td>{'to end' if w.planned_for is None else secs(w.planned_for)}</td>"
            f"<td>{secs(w.applied_s)}</td><td>{secs(w.reverted_s)}</td>"
            f"{status_cell}{e(shown.replace('_', ' '))}</td>"
            f'<td class="l">{e(w.error or "")}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def recovery_table(items: Sequence[Recovery]) -> str:
    """One row per chaos window: when it was reverted, when success came back, how long."""
    head = (
        '<tr><th class="l">window</th><th class="l">fault</th><th>reverted at s</th>'
        "<th>back near baseline at s</th><th>time to recover s</th>"
        "<th>baseline success</th><th>margin</th><th class='l'>result</th></tr>"
    )
    rows = []
    for r in items:
        bad = " bad" if recovery_state(r) == "not_recovered" else ""
        rows.append(
            f'<tr><td class="l">{e(r.label)}</td><td class="l">{e(r.fault or "-")}'
            f"</td><td>{secs(r.reverted_s)}</td><td>{secs(r.recovered_at_s)}</td>"
            f"<td>{secs(r.recovery_s)}</td><td>{pct(r.baseline_success_rate)}</td>"
            f'<td>{pct(r.margin)}</td><td class="l{bad}">{e(recovery_text(r))}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _phase_row(first: str, kind: str, sec: Section, *, bold: bool = False) -> str:
    label = f"<b>{e(kind)}</b>" if bold else e(kind)
    abrupt_cls = ' class="bad"' if sec.abrupt else ""
    return (
        f'{first}<td class="l">{label}</td><td>{sec.attempts}</td>'
        f"<td>{pct(sec.success_rate)}</td><td>{sec.graceful}</td>"
        f"<td{abrupt_cls}>{sec.abrupt}</td>"
        f"<td>{pct(sec.graceful_share)}</td><td>{ms(sec.handshake_ms.p95)}</td></tr>"
    )


def phases_table(phases: Mapping[str, Phase]) -> str:
    """Per phase (in time order): its span, then one row per token kind and a total row."""
    head = (
        '<tr><th class="l">phase</th><th>from s</th><th>to s</th><th class="l">token kind</th>'
        "<th>attempts</th><th>success</th><th>graceful</th><th>abrupt</th>"
        "<th>graceful share</th><th>handshake p95 ms</th></tr>"
    )
    rows = []
    for name, phase in phases.items():
        span = len(phase.token_kinds) + 1
        first = (
            f'<tr class="phase-start"><td class="l" rowspan="{span}"><b>{e(name)}</b></td>'
            f'<td rowspan="{span}">{secs(phase.start_s)}</td>'
            f'<td rowspan="{span}">{secs(phase.end_s)}</td>'
        )
        for kind, sec in phase.token_kinds.items():
            rows.append(_phase_row(first, kind, sec))
            first = "<tr>"
        rows.append(_phase_row(first, "all kinds", phase.total, bold=True))
    return f"<table>{head}{''.join(rows)}</table>"


def sessions_html(summary: Summary) -> str:
    """Sessions and reconnects, and each restart's reconnection; empty when not reconnecting."""
    sessions = summary.sessions
    if sessions is None:
        return ""
    rows = [(label, value) for label, value in sessions_facts(sessions)]
    rows += [(f"after {r.label}", restart_text(r)) for r in sessions.restarts.values()]
    body = "".join(f'<tr><td class="l">{e(k)}</td><td class="l">{e(v)}</td></tr>' for k, v in rows)
    return (
        f"{h2('sessions', 'Sessions and reconnects')}"
        "<p>A session is a user's logical connection: its first attempt and every reconnect "
        "with the same token. Time to reconnect runs from the end of the attempt that was "
        "lost to the opening of the reconnect that ended the outage.</p>"
        f"<table>{body}</table>"
    )


def _stage_row(stage: StageStats) -> str:
    if stage.rate is not None:
        load = f"{stage.rate:g} new sessions/s, {stage.max_users} users at most"
    else:
        load = f"{stage.users} users"
    made = "-" if stage.attempts_per_s is None else f"{stage.attempts_per_s:.1f}"
    return (
        f'<tr><td class="l">{e(stage.name)}</td>'
        f'<td>{stage.start_s:g}-{stage.end_s:g}</td><td class="l">{e(load)}</td>'
        f"<td>{e(f'{stage.spawn_rate:g}' if stage.spawn_rate is not None else '-')}</td>"
        f"<td>{stage.total.attempts}</td><td>{e(made)}</td>"
        f"<td>{pct(stage.total.success_rate)}</td><td>{pct(stage.total.abrupt_rate)}</td>"
        f"<td>{ms(stage.total.handshake_ms.p95)}</td></tr>"
    )


def stages_html(summary: Summary) -> str:
    """The load stages as planned and what their attempts did; empty for a constant load."""
    if not summary.stages:
        return ""
    head = (
        '<tr><th class="l">stage</th><th>from-to (s)</th><th class="l">load</th>'
        "<th>spawn rate (users/s)</th><th>attempts</th><th>attempts/s</th><th>success</th>"
        "<th>abrupt rate</th><th>handshake p95 ms</th></tr>"
    )
    rows = "".join(_stage_row(st) for st in summary.stages)
    return (
        f"{h2('stages', 'Load stages')}"
        "<p>The load's stages (<code>load.stages</code>) and the attempts that started in "
        "each (their <code>load_stage</code>). A stage of users ramps to its users at its "
        "spawn rate, then holds them; an arrival-rate stage starts its new sessions per "
        "second whatever the answers take, with at most its users busy at once. Times in "
        "seconds since the run's start; the charts shade every other stage.</p>"
        f'<table id="stages-table">{head}{rows}</table>'
    )


def socketio_html(summary: Summary) -> str:
    """Transports, fallbacks, upgrades and refusals; empty when not a Socket.IO run."""
    if summary.socketio is None:
        return ""
    rows = socketio_facts(summary.socketio)
    body = "".join(f'<tr><td class="l">{e(k)}</td><td class="l">{e(v)}</td></tr>' for k, v in rows)
    return (
        f"{h2('socketio', 'Socket.IO sessions')}"
        "<p>Which Engine.IO transport carried each session (after a fallback or an upgrade), "
        "and the server's CONNECT_ERROR messages, most frequent first.</p>"
        f"<table>{body}</table>"
    )


def chaos_html(summary: Summary) -> str:
    """The chaos timeline, recovery per fault (when computed) and the phases, or a note."""
    if not summary.has_chaos:
        return (
            f"{h2('chaos', 'Chaos')}"
            "<p>No chaos in this run: every attempt is in the baseline phase.</p>"
        )
    parts = [
        h2("chaos", "Chaos timeline"),
        "<p>Each scheduled chaos window; times in seconds since the run's start.</p>",
        chaos_timeline_table(summary.chaos_windows),
    ]
    if summary.recovery:
        parts += [
            h2("recovery", "Recovery after each fault"),
            "<p>Seconds from a fault's revert until the success rate was back near its "
            "baseline (within the margin).</p>",
            recovery_table(list(summary.recovery.values())),
        ]
    parts += [
        h2("phases", "Phases"),
        "<p>Baseline before any fault; <i>during</i> a window (overlapping windows "
        "together); <i>after</i> a window until the next one: its recovery. Success is the "
        "expected outcome over counted attempts; a graceful refusal names its reason "
        "(HTTP status, close code), an abrupt one does not (reset, drop, timeout, 1006).</p>",
        phases_table(summary.phases),
    ]
    return "".join(parts)
