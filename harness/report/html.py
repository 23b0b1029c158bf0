"""The self-contained ``index.html`` of a run: inline CSS, charts as base64 data URIs, no JS.

The page opens from disk with no network: verdict banner, gates, the per-token-kind table,
the chaos timeline and the per-phase table (when the run had chaos), charts, run metadata
and the resolved scenario. Every value
taken from the run directory is HTML-escaped. The run directory never holds tokens or
secrets (``scenario.json`` is redacted when written), and this module reads nothing else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from harness.outcomes import CLOSE_CODE_NAMES, Verdict
from harness.report.gates import GateResult, format_value
from harness.report.summary import has_chaos
from harness.report.terminal import warnings

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.banner { font-size: 1.6em; font-weight: bold; padding: 0.5em 0.8em; border-radius: 6px;
          color: #fff; margin: 1em 0; }
.banner.pass { background: #2e7d32; } .banner.fail { background: #c62828; }
.banner.none { background: #757575; }
.warning { background: #fff3cd; border: 1px solid #e0c36a; padding: 0.6em 0.8em;
           border-radius: 4px; margin: 0.5em 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
tr.fail td { background: #fde0e0; } tr.pass td { background: #e6f4e6; }
td.bad { color: #c62828; font-weight: bold; } td.warn { color: #b26a00; font-weight: bold; }
tr.phase-start td { border-top: 2px solid #888; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto;
      font-size: 0.85em; }
"""

#: Chart file name -> caption.
CHART_CAPTIONS: Mapping[str, str] = {
    "success_rate.png": "Success rate over time per token kind (expected outcome / counted).",
    "outcomes.png": "Outcome distribution per token kind, close codes and statuses named.",
    "handshake_latency.png": "Handshake time p50/p95/p99 over time (ms).",
    "attempts_rate.png": "Attempts per second by verdict over time.",
    "target_resources.png": "Target CPU, memory, open file descriptors and connections.",
    "phases.png": "Per chaos phase: success rate per token kind; refusals graceful vs abrupt.",
}

#: Verdicts that are problems when nonzero (highlighted in the tables).
_BAD_VERDICTS = frozenset(
    {
        Verdict.VALID_REFUSED.value,
        Verdict.INVALID_ACCEPTED.value,
        Verdict.ABRUPT.value,
        Verdict.WRONG_REJECTION.value,
        Verdict.GENERATOR_FAULT.value,
    }
)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}%"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _time(epoch_s: Any) -> str:
    if epoch_s is None:
        return "-"
    try:
        return datetime.fromtimestamp(float(epoch_s), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(epoch_s)


def _close_codes(codes: Mapping[str, int]) -> str:
    parts = []
    for code, n in sorted(codes.items(), key=lambda kv: -kv[1])[:4]:
        name = CLOSE_CODE_NAMES.get(int(code), "") if code.isdigit() else ""
        parts.append(f"{code} {name}: {n}".replace("  ", " "))
    return ", ".join(parts) or "-"


def _banner(passed: bool, results: Sequence[GateResult]) -> str:
    if not results:
        return '<div class="banner none">NO GATES: nothing to pass or fail</div>'
    failed = sum(not r.passed for r in results)
    if passed:
        return f'<div class="banner pass">PASS: all {len(results)} gates passed</div>'
    return f'<div class="banner fail">FAIL: {failed} of {len(results)} gates failed</div>'


def _gates_table(results: Sequence[GateResult]) -> str:
    if not results:
        return "<p>The scenario defines no gates.</p>"
    rows = []
    for r in results:
        kind = f"[{r.token_kind}]" if r.token_kind else " (all kinds)"
        status = "PASS" if r.passed else "FAIL"
        rows.append(
            f'<tr class="{status.lower()}"><td class="l"><b>{status}</b></td>'
            f'<td class="l">{_e(r.name)}</td><td class="l">{_e(r.metric + kind)}</td>'
            f"<td>{_e(format_value(r.value))}</td><td>{_e(r.op)} {_e(f'{r.threshold:g}')}</td>"
            f'<td class="l">{_e(r.message)}</td></tr>'
        )
    head = (
        '<tr><th class="l">result</th><th class="l">gate</th><th class="l">metric</th>'
        '<th>value</th><th>required</th><th class="l">message</th></tr>'
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _section_rows(label: str, sec: Mapping[str, Any], *, bold: bool = False) -> str:
    verdicts: Mapping[str, int] = sec.get("verdicts") or {}
    hs: Mapping[str, Any] = sec.get("handshake_ms") or {}
    cells = [
        f'<td class="l">{"<b>" if bold else ""}{_e(label)}{"</b>" if bold else ""}</td>',
        f'<td class="l">{_e(sec.get("expected") or "-")}</td>',
        f"<td>{_e(sec.get('attempts', 0))}</td><td>{_e(sec.get('counted', 0))}</td>",
        f"<td>{_pct(sec.get('success_rate'))}</td><td>{_pct(sec.get('abrupt_rate'))}</td>",
    ]
    for v in Verdict:
        n = int(verdicts.get(v.value, 0))
        cls = ' class="bad"' if n and v.value in _BAD_VERDICTS else ""
        cells.append(f"<td{cls}>{n}</td>")
    cells += [f"<td>{_ms(hs.get(k))}</td>" for k in ("p50", "p95", "p99")]
    cells.append(f'<td class="l">{_e(_close_codes(sec.get("close_codes") or {}))}</td>')
    return f"<tr>{''.join(cells)}</tr>"


def _sections_table(first: str, sections: Mapping[str, Any], total: Mapping[str, Any]) -> str:
    head = [
        f'<th class="l">{_e(first)}</th>',
        '<th class="l">expected</th>',
        "<th>attempts</th>",
        "<th>counted</th>",
        "<th>success</th>",
        "<th>abrupt rate</th>",
    ]
    head += [f"<th>{_e(v.value.replace('_', ' '))}</th>" for v in Verdict]
    head += [
        "<th>handshake p50 ms</th>",
        "<th>p95 ms</th>",
        "<th>p99 ms</th>",
        '<th class="l">close codes</th>',
    ]
    body = [_section_rows(k, s) for k, s in sections.items()]
    if not body:
        body.append(f'<tr><td class="l" colspan="{len(head)}">no attempts recorded</td></tr>')
    body.append(_section_rows("total", total, bold=True))
    return f"<table><tr>{''.join(head)}</tr>{''.join(body)}</table>"


def _s(value: Any) -> str:
    """Seconds since the run's start, or ``-``."""
    return "-" if value is None else f"{float(value):.1f}"


def _params(params: Any) -> str:
    if not isinstance(params, Mapping) or not params:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _chaos_timeline_table(windows: Sequence[Mapping[str, Any]]) -> str:
    if not windows:
        return (
            "<p>No <code>chaos.jsonl</code> in this run: the phases below come from the "
            "faults the attempts recorded.</p>"
        )
    head = (
        '<tr><th class="l">label</th><th class="l">fault</th><th class="l">params</th>'
        "<th>planned at s</th><th>planned for s</th><th>applied s</th><th>reverted s</th>"
        '<th class="l">status</th><th class="l">error</th></tr>'
    )
    rows = []
    for w in windows:
        status = str(w.get("status") or "-")
        cls = {"failed": "bad", "active_at_end": "warn", "skipped": "warn"}.get(status)
        status_cell = f'<td class="l {cls}">' if cls else '<td class="l">'
        planned_for = w.get("planned_for")
        rows.append(
            f'<tr><td class="l">{_e(w.get("label"))}</td><td class="l">{_e(w.get("fault"))}</td>'
            f'<td class="l">{_e(_params(w.get("params")))}</td><td>{_s(w.get("planned_at"))}</td>'
            f"<td>{'to end' if planned_for is None else _s(planned_for)}</td>"
            f"<td>{_s(w.get('applied_s'))}</td><td>{_s(w.get('reverted_s'))}</td>"
            f"{status_cell}{_e(status.replace('_', ' '))}</td>"
            f'<td class="l">{_e(w.get("error") or "")}</td></tr>'
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _phase_row(first: str, kind: str, sec: Mapping[str, Any], *, bold: bool = False) -> str:
    hs: Mapping[str, Any] = sec.get("handshake_ms") or {}
    share = sec.get("graceful_share")
    abrupt = int(sec.get("abrupt", 0))
    label = f"<b>{_e(kind)}</b>" if bold else _e(kind)
    abrupt_cls = ' class="bad"' if abrupt else ""
    return (
        f'{first}<td class="l">{label}</td><td>{_e(sec.get("attempts", 0))}</td>'
        f"<td>{_pct(sec.get('success_rate'))}</td><td>{_e(sec.get('graceful', 0))}</td>"
        f"<td{abrupt_cls}>{abrupt}</td>"
        f"<td>{_pct(share)}</td><td>{_ms(hs.get('p95'))}</td></tr>"
    )


def _phases_table(phases: Mapping[str, Any]) -> str:
    head = (
        '<tr><th class="l">phase</th><th>from s</th><th>to s</th><th class="l">token kind</th>'
        "<th>attempts</th><th>success</th><th>graceful</th><th>abrupt</th>"
        "<th>graceful share</th><th>handshake p95 ms</th></tr>"
    )
    rows = []
    for name, phase in phases.items():
        kinds: Mapping[str, Any] = phase.get("token_kinds") or {}
        span = len(kinds) + 1
        first = (
            f'<tr class="phase-start"><td class="l" rowspan="{span}"><b>{_e(name)}</b></td>'
            f'<td rowspan="{span}">{_s(phase.get("start_s"))}</td>'
            f'<td rowspan="{span}">{_s(phase.get("end_s"))}</td>'
        )
        for kind, sec in kinds.items():
            rows.append(_phase_row(first, kind, sec))
            first = "<tr>"
        rows.append(_phase_row(first, "all kinds", phase.get("total") or {}, bold=True))
    return f"<table>{head}{''.join(rows)}</table>"


def _chaos_html(summary: Mapping[str, Any]) -> str:
    if not has_chaos(summary):
        return "<h2>Chaos</h2><p>No chaos in this run: every attempt is in the baseline phase.</p>"
    return "".join(
        [
            "<h2>Chaos timeline</h2>",
            "<p>Each scheduled chaos window; times in seconds since the run's start.</p>",
            _chaos_timeline_table(summary.get("chaos_windows") or []),
            "<h2>Phases</h2>",
            "<p>Baseline before any fault; <i>during</i> a window (overlapping windows "
            "together); <i>after</i> a window until the next one: its recovery. Success is the "
            "expected outcome over counted attempts; a graceful refusal names its reason "
            "(HTTP status, close code), an abrupt one does not (reset, drop, timeout, 1006).</p>",
            _phases_table(summary.get("phases") or {}),
        ]
    )


def _charts_html(charts: Sequence[Path]) -> str:
    parts = []
    for path in charts:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = CHART_CAPTIONS.get(path.name, path.stem.replace("_", " "))
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)} ({_e(path.name)})</figcaption></figure>"
        )
    return "".join(parts)


def _meta_table(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    duration = summary.get("duration_s")
    planned = summary.get("duration_planned_s")
    items: list[tuple[str, Any]] = [
        ("run id", summary.get("run_id")),
        ("scenario", summary.get("scenario")),
        ("target", summary.get("target_url") or "-"),
        ("started", _time(summary.get("started_at"))),
        ("ended", _time(summary.get("ended_at")) if summary.get("ended_at") else "- (cut short)"),
        ("duration", "-" if duration is None else f"{float(duration):.1f} s"),
        ("planned duration", "-" if planned is None else f"{float(planned):.1f} s"),
        ("complete", "yes" if summary.get("complete") else "no: the run was cut short"),
        ("command", meta.get("command") or "-"),
    ]
    versions = meta.get("versions")
    if isinstance(versions, Mapping):
        items += [(f"version of {k}", v) for k, v in sorted(versions.items())]
    rows = "".join(
        f'<tr><th class="l">{_e(k)}</th><td class="l">{_e(v)}</td></tr>' for k, v in items
    )
    return f"<table>{rows}</table>"


def render_html(
    summary: Mapping[str, Any],
    gate_results: Sequence[GateResult],
    passed: bool,
    charts: Sequence[Path],
    meta: Mapping[str, Any],
    scenario: Mapping[str, Any],
) -> str:
    """The whole ``index.html`` as a string (reads only the chart PNGs it embeds)."""
    title = f"{summary.get('scenario') or 'run'} - run {summary.get('run_id') or '?'}"
    warns = "".join(f'<div class="warning">{_e(w)}</div>' for w in warnings(summary))
    total: Mapping[str, Any] = summary.get("total") or {}
    scenario_text = json.dumps(scenario, indent=2, sort_keys=False, default=str)
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{_e(title)}</h1>",
            _banner(passed, gate_results),
            warns,
            "<h2>Gates</h2>",
            _gates_table(gate_results),
            "<h2>Per token kind</h2>",
            "<p>Success: the expected outcome for the token kind, over counted attempts "
            "(attempts the harness interrupted are excluded).</p>",
            _sections_table("token kind", summary.get("token_kinds") or {}, total),
            _chaos_html(summary),
            "<h2>Charts</h2>",
            _charts_html(charts),
            "<h2>Run</h2>",
            _meta_table(summary, meta),
            "<h2>Resolved scenario</h2>",
            f"<pre>{_e(scenario_text)}</pre>",
            "</body></html>\n",
        ]
    )
