"""The self-contained ``index.html`` of a run: inline CSS, charts as base64 data URIs, no JS.

The page opens from disk with no network and no script: verdict banner (and a "cut
short" banner for a run that did not finish), warnings, gates (failed ones with value
and threshold), findings, the per-token-kind table, the load stages (with ``load.stages``),
the chaos timeline, recovery per fault and the per-phase table (when the run had chaos),
charts, the environment the run ran in (versions, machine, command, target, start/end)
and the resolved scenario.
Every value taken from the run directory is HTML-escaped. The run directory never holds
tokens or secrets (``scenario.json`` is redacted when written), and this module reads
nothing else. Chaos and findings sections live in :mod:`harness.render.html_sections`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.analysis.gates import format_value
from harness.analysis.summary import GateResult, Section, Summary
from harness.protocol.outcomes import Verdict
from harness.render.charts.captions import CHART_CAPTIONS
from harness.render.html_sections import (
    SECTIONS_CSS,
    chaos_html,
    e,
    findings_html,
    h2,
    sessions_html,
    socketio_html,
    stages_html,
)
from harness.render.present import (
    close_codes_text,
    cut_short_text,
    gate_metric,
    generator_text,
    ms,
    pct,
    time_utc,
    top_reason,
    warnings,
    workers_text,
)
from harness.rundir.meta import RunMeta

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
nav { font-size: 0.9em; color: #555; } nav a { margin-right: 0.8em; }
.banner { font-size: 1.6em; font-weight: bold; padding: 0.5em 0.8em; border-radius: 6px;
          color: #fff; margin: 1em 0; }
.banner.pass { background: #2e7d32; } .banner.fail { background: #c62828; }
.banner.none { background: #757575; }
.banner.cut { background: #8a5a00; font-size: 1.2em; }
.warning { background: #fff3cd; border: 1px solid #e0c36a; padding: 0.6em 0.8em;
           border-radius: 4px; margin: 0.5em 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
table.kinds th { font-size: 0.85em; padding: 0.3em 0.4em; vertical-align: bottom; }
table.kinds td { padding: 0.3em 0.45em; white-space: nowrap; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; } th.key { white-space: nowrap; }
tr.fail td { background: #fde0e0; } tr.pass td { background: #e6f4e6; }
td.bad { color: #c62828; font-weight: bold; } td.warn { color: #b26a00; font-weight: bold; }
tr.phase-start td { border-top: 2px solid #888; }
div.scroll { overflow-x: auto; max-width: 100%; }
td.codes { text-align: left; font-size: 0.9em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto;
      font-size: 0.85em; }
"""

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

#: Sections of the page: (anchor, title) for the table of contents.
_TOC: tuple[tuple[str, str], ...] = (
    ("gates", "Gates"),
    ("findings", "Findings"),
    ("kinds", "Per token kind"),
    ("chaos", "Chaos"),
    ("charts", "Charts"),
    ("environment", "Environment"),
    ("scenario", "Scenario as run"),
)


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
        status = "PASS" if r.passed else "FAIL"
        rows.append(
            f'<tr class="{status.lower()}"><td class="l"><b>{status}</b></td>'
            f'<td class="l">{e(r.name)}</td><td class="l">{e(gate_metric(r))}</td>'
            f"<td>{e(format_value(r.value))}</td><td>{e(r.op)} {e(f'{r.threshold:g}')}</td>"
            f'<td class="l">{e(r.message)}</td></tr>'
        )
    head = (
        '<tr><th class="l">result</th><th class="l">gate</th><th class="l">metric</th>'
        '<th>value</th><th>required</th><th class="l">message</th></tr>'
    )
    return f"<table>{head}{''.join(rows)}</table>"


#: Headers of the per-kind table's verdict columns (two short lines each, so the table fits).
_VERDICT_HEADS: Mapping[str, str] = {
    Verdict.OK.value: "ok",
    Verdict.VALID_REFUSED.value: "valid<br>refused",
    Verdict.INVALID_ACCEPTED.value: "invalid<br>accepted",
    Verdict.ABRUPT.value: "abrupt",
    Verdict.WRONG_REJECTION.value: "wrong<br>rejection",
    Verdict.GENERATOR_FAULT.value: "generator<br>fault",
    Verdict.EXCLUDED.value: "excluded",
}


def _section_row(label: str, sec: Section, *, bold: bool = False) -> str:
    name = f"<b>{e(label)}</b>" if bold else e(label)
    cells = [
        f'<td class="l">{name}</td>',
        f'<td class="l">{e(sec.expected or "-")}</td>',
        f"<td>{sec.attempts}</td><td>{sec.counted}</td>",
        f"<td>{pct(sec.success_rate)}</td><td>{pct(sec.abrupt_rate)}</td>",
    ]
    for v in Verdict:
        n = sec.verdict(v)
        cls = ' class="bad"' if n and v.value in _BAD_VERDICTS else ""
        cells.append(f"<td{cls}>{n}</td>")
    hs = sec.handshake_ms
    cells += [f"<td>{ms(x)}</td>" for x in (hs.p50, hs.p95, hs.p99)]
    return f"<tr>{''.join(cells)}</tr>"


def kinds_table(sections: Mapping[str, Section], total: Section) -> str:
    """Per token kind (and in total): counts, rates, verdicts and handshake percentiles.

    Narrow enough for a 1,400 px page: short two-line headers, numbers only; the close
    codes and reasons have their own table (:func:`close_codes_table`).
    """
    head = [
        '<th class="l">token kind</th>',
        '<th class="l">expected</th>',
        "<th>attempts</th>",
        "<th>counted</th>",
        "<th>success</th>",
        "<th>abrupt<br>rate</th>",
        *(f"<th>{_VERDICT_HEADS.get(v.value, e(v.value))}</th>" for v in Verdict),
        "<th>handshake<br>p50 ms</th>",
        "<th>p95<br>ms</th>",
        "<th>p99<br>ms</th>",
    ]
    body = [_section_row(k, s) for k, s in sections.items()]
    if not body:
        body.append(f'<tr><td class="l" colspan="{len(head)}">no attempts recorded</td></tr>')
    body.append(_section_row("total", total, bold=True))
    return (
        f'<div class="scroll"><table class="kinds" id="kinds-table"><tr>{"".join(head)}</tr>'
        f"{''.join(body)}</table></div>"
    )


def close_codes_table(sections: Mapping[str, Section], total: Section) -> str:
    """Per token kind (and in total): the close codes the server sent and its top reason."""
    rows = [
        f'<tr><td class="l">{"<b>total</b>" if kind is None else e(kind)}</td>'
        f'<td class="codes">{e(close_codes_text(sec.close_codes))}</td>'
        f'<td class="codes">{e(top_reason(sec.close_reasons) or "-")}</td></tr>'
        for kind, sec in [*sections.items(), (None, total)]
    ]
    head = (
        '<tr><th class="l">token kind</th><th class="l">close codes (most frequent)</th>'
        '<th class="l">top close reason</th></tr>'
    )
    return f'<table id="close-codes">{head}{"".join(rows)}</table>'


def _charts_html(charts: Sequence[Path]) -> str:
    parts = []
    for path in charts:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        caption = CHART_CAPTIONS.get(path.name, path.stem.replace("_", " "))
        parts.append(
            f'<figure id="chart-{e(path.stem)}"><img src="data:image/png;base64,{data}" '
            f'alt="{e(caption)}"><figcaption>{e(caption)} ({e(path.name)})</figcaption>'
            "</figure>"
        )
    return "".join(parts)


def _environment_table(summary: Summary, meta: RunMeta) -> str:
    """Run identity, target, start/end, completeness, command, machine and versions."""
    cut = cut_short_text(summary)
    duration, planned = summary.duration_s, summary.duration_planned_s
    items: list[tuple[str, Any]] = [
        ("run id", summary.run_id),
        ("scenario", summary.scenario),
        ("scenario file", meta.scenario_file or "-"),
        ("route", meta.route or "-"),
        ("target URL", summary.target_url or "-"),
        ("target PID", meta.target_pid or "-"),
        ("started", time_utc(summary.started_at)),
        ("ended", time_utc(summary.ended_at) if summary.ended_at else "- (no end recorded)"),
        ("duration", "-" if duration is None else f"{duration:.1f} s"),
        ("planned duration", "-" if planned is None else f"{planned:.1f} s"),
        ("complete", "yes" if not cut else f"no: {cut}"),
        ("stopped by", summary.stop_reason or "-"),
        ("attempts recorded", summary.total.attempts),
        *([("load workers", workers_text(summary))] if summary.workers else []),
        *([("load generator", generator_text(summary))] if summary.generator else []),
        ("command", meta.command or "-"),
    ]
    items += [(f"machine: {k}", v) for k, v in meta.machine.items()]
    items += [(f"version of {k}", v) for k, v in sorted(meta.versions.items())]
    rows = "".join(
        f'<tr><th class="l key">{e(k)}</th><td class="l">{e(v)}</td></tr>' for k, v in items
    )
    return f"<table>{rows}</table>"


def render_html(
    summary: Summary,
    gate_results: Sequence[GateResult],
    passed: bool,
    charts: Sequence[Path],
    meta: RunMeta,
    scenario: Mapping[str, Any],
) -> str:
    """The whole ``index.html`` as a string (reads only the chart PNGs it embeds)."""
    title = f"{summary.scenario or 'run'} - run {summary.run_id or '?'}"
    cut = cut_short_text(summary)
    cut_banner = f'<div class="banner cut">CUT SHORT: {e(cut)}</div>' if cut else ""
    # The banner already says the run was cut short; the other warnings follow it.
    shown = [w for w in warnings(summary) if not (cut and cut in w)]
    warns = "".join(f'<div class="warning">{e(w)}</div>' for w in shown)
    scenario_text = json.dumps(scenario, indent=2, sort_keys=False, default=str)
    toc = " ".join(f'<a href="#{a}">{e(t)}</a>' for a, t in _TOC)
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',  # no favicon request from a page on disk
            f"<title>{e(title)}</title><style>{_CSS}{SECTIONS_CSS}</style></head><body>",
            f"<h1>{e(title)}</h1><nav>{toc}</nav>",
            _banner(passed, gate_results),
            cut_banner,
            warns,
            h2("gates", "Gates"),
            _gates_table(gate_results),
            findings_html(summary),
            h2("kinds", "Per token kind"),
            "<p>Success: the expected outcome for the token kind, over counted attempts "
            "(attempts the harness interrupted and the load generator's own failures do not "
            "count). Handshake times in milliseconds.</p>",
            kinds_table(summary.token_kinds, summary.total),
            "<p>Close codes the server sent, and the reason it gave most often:</p>",
            close_codes_table(summary.token_kinds, summary.total),
            stages_html(summary),
            chaos_html(summary),
            sessions_html(summary),
            socketio_html(summary),
            h2("charts", "Charts"),
            _charts_html(charts),
            h2("environment", "Environment"),
            _environment_table(summary, meta),
            h2("scenario", "Scenario as run"),
            "<p>The resolved scenario (defaults filled in; secrets appear only as where "
            "they come from).</p>",
            f"<pre>{e(scenario_text)}</pre>",
            "</body></html>\n",
        ]
    )
