"""Rendering of a comparison (pure): the terminal table, ``compare.md`` and ``index.html``.

``index.html`` is self-contained (inline CSS, the charts of
:mod:`harness.render.charts.compare` as base64 data URIs, no JS) and HTML-escapes every value
taken from the runs. Names (gate names, scopes) are never cut in the terminal table: a cut
name could read like a threshold. Files are written by :mod:`harness.render.compare_report`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.analysis.compare_rows import Comparison, Row, RunInfo
from harness.analysis.compare_rules import IMPROVEMENT, INFO, METRICS, REGRESSION, SAME
from harness.render.charts.captions import COMPARE_CAPTIONS

# --- Text cells ---------------------------------------------------------------------------


def fmt_value(unit: str, v: float | None) -> str:
    """A value in its unit: ``97.5%``, ``12.3 ms``, ``14.0/s``, ``PASS``; ``-`` for none."""
    if v is None:
        return "-"
    shown = {
        "share": f"{v * 100:.1f}%",
        "ms": f"{v:.1f} ms",
        "per_s": f"{v:.1f}/s",
        "s": f"{v:.1f} s",
        "count": f"{v:g}",
    }
    return shown.get(unit, "PASS" if v >= 0.5 else "FAIL")


def fmt_delta(unit: str, d: float | None) -> str:
    """B - A in its unit: ``-32.4 pp`` (percentage points), ``+3.1 ms``, ``+0.5/s``."""
    if d is None or unit == "gate":
        return ""
    shown = {"share": f"{d * 100:+.1f} pp", "ms": f"{d:+.1f} ms", "s": f"{d:+.1f} s"}
    return shown.get(unit, f"{d:+g}" if unit == "count" else f"{d:+.1f}/s")


#: Verdict as shown in tables.
VERDICT_TEXT: Mapping[str, str] = {REGRESSION: "REGRESSION", IMPROVEMENT: "improved", SAME: "ok"}


def cells(row: Row) -> tuple[str, str, str, str, str, str]:
    """A row as text: metric, scope, A, B, delta, verdict."""
    unit = METRICS[row.metric].unit
    a, b = fmt_value(unit, row.a), fmt_value(unit, row.b)
    return row.metric, row.scope, a, b, fmt_delta(unit, row.delta), _verdict(row)


def _verdict(row: Row) -> str:
    return VERDICT_TEXT.get(row.verdict, "-" if row.verdict == INFO else row.verdict)


def regression_line(row: Row) -> str:
    """One sentence naming a regression, e.g. ``success_rate [valid]: 100.0% -> 67.6% (...)``."""
    c = cells(row)
    delta = f", {c[4]}" if c[4] else ""
    return f"{row.metric} [{row.scope}]: {c[2]} -> {c[3]}{delta} ({row.note})"


#: Narrowest width of each column of the terminal table, in characters.
_WIDTHS = (23, 30, 10, 10, 11, 11)


def format_table(cmp: Comparison) -> str:
    """The terminal table (metric, scope, A, B, delta, verdict), warnings, then regressions.

    Per-phase rows are printed only when they are not within tolerance or not judged
    (``compare.md`` and ``index.html`` have them all). The metric and scope columns are as
    wide as their longest entry: nothing is cut.
    """
    quiet = (SAME, INFO)
    shown = [r for r in cmp.rows if r.phase is None or r.verdict not in quiet]
    widths = list(_WIDTHS)
    for i in (0, 1):
        widths[i] = max([widths[i], *(len(cells(r)[i]) + 2 for r in shown)])

    def line(cols: Sequence[str]) -> str:
        out = ""
        for i, (col, width) in enumerate(zip(cols, widths, strict=True)):
            out += col.ljust(width) if i < 2 else col.rjust(width - 1) + " "
        return out.rstrip()

    lines = [
        f"A: {cmp.a.run_id} ({cmp.a.scenario})    B: {cmp.b.run_id} ({cmp.b.scenario})",
        line(("metric", "scope", "A", "B", "delta", "verdict")),
        "-" * sum(widths),
        *(line(cells(r)) for r in shown),
    ]
    if hidden := len(cmp.rows) - len(shown):
        lines.append(f"(+ {hidden} per-phase rows within tolerance or not judged: see compare.md)")
    unjudged = [r for r in cmp.rows if r.metric == "handshake_p95_ms" and r.verdict == INFO]
    if unjudged:
        lines.append(
            f"handshake p95 not judged in {len(unjudged)} scope(s): fewer than"
            f" {cmp.tolerance.latency_min_samples} handshakes in a run (see the notes)."
        )
    lines += ["", *cmp.warnings]
    if cmp.regressions:
        lines.append(f"{len(cmp.regressions)} regression(s) of B against A:")
        lines += [f"  {regression_line(r)}" for r in cmp.regressions]
    else:
        lines.append("No regression of B against A.")
    return "\n".join(lines)


# --- compare.md ---------------------------------------------------------------------------


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(cmp: Comparison) -> str:
    """``compare.md``: the verdict, warnings, regressions, improvements and every row."""
    verdict = (
        f"**{len(cmp.regressions)} regression(s)** of B against A"
        if cmp.regressions
        else "**No regression** of B against A"
    )
    out = [
        f"# Comparison: {cmp.a.run_id} (A) vs {cmp.b.run_id} (B)",
        "",
        f"- A, the baseline: `{cmp.a.run_id}` (scenario {cmp.a.scenario})",
        f"- B, the candidate: `{cmp.b.run_id}` (scenario {cmp.b.scenario})",
        "",
        verdict + ".",
        "",
        *(f"> {w}\n" for w in cmp.warnings),
    ]
    for title, rows in (("Regressions", cmp.regressions), ("Improvements", cmp.improvements)):
        out += [f"## {title}", ""]
        out += [f"- {_md(regression_line(r))}" for r in rows] or ["None."]
        out.append("")
    out += ["## All metrics", "", "| metric | scope | A | B | delta | verdict | note |"]
    out.append("|---|---|--:|--:|--:|---|---|")
    for r in cmp.rows:
        c = cells(r)
        verdict_cell = f"**{c[5]}**" if r.regression else c[5]
        out.append("| " + " | ".join(_md(x) for x in (*c[:5], verdict_cell, r.note)) + " |")
    tol = ", ".join(f"{k}={v}" for k, v in vars(cmp.tolerance).items())
    out += ["", f"Tolerance: {tol}.", ""]
    return "\n".join(out)


# --- index.html ---------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.banner { font-size: 1.6em; font-weight: bold; padding: 0.5em 0.8em; border-radius: 6px;
          color: #fff; margin: 1em 0; }
.banner.pass { background: #2e7d32; } .banner.fail { background: #c62828; }
.warning { background: #fff3cd; border: 1px solid #e0c36a; padding: 0.6em 0.8em;
           border-radius: 4px; margin: 0.5em 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
tr.fail td { background: #fde0e0; } tr.pass td { background: #e6f4e6; }
tr.scope td { background: #f7f7f7; font-weight: bold; text-align: left; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _rows_table(rows: Sequence[Row], *, group: bool) -> str:
    """Rows as a table (A and B side by side); ``group`` adds a header row per scope."""
    head = (
        '<tr><th class="l">metric</th><th class="l">scope</th><th>A</th><th>B</th><th>delta</th>'
        '<th>B / A</th><th class="l">verdict</th><th class="l">note</th></tr>'
    )
    body, scope = [], None
    for r in rows:
        if group and r.scope != scope and r.metric != "gate":
            body.append(f'<tr class="scope"><td colspan="8">{_e(r.scope)}</td></tr>')
        scope = r.scope
        c = cells(r)
        cls = {REGRESSION: ' class="fail"', IMPROVEMENT: ' class="pass"'}.get(r.verdict, "")
        ratio = "" if r.ratio is None or r.metric == "gate" else f"x{r.ratio:.2f}"
        verdict = f"<b>{_e(c[5])}</b>" if r.regression else _e(c[5])
        body.append(
            f'<tr{cls}><td class="l">{_e(c[0])}</td><td class="l">{_e(c[1])}</td>'
            f"<td>{_e(c[2])}</td><td>{_e(c[3])}</td><td>{_e(c[4])}</td><td>{ratio}</td>"
            f'<td class="l">{verdict}</td><td class="l">{_e(r.note)}</td></tr>'
        )
    return f"<table>{head}{''.join(body)}</table>" if body else "<p>None.</p>"


def _runs_table(cmp: Comparison) -> str:
    def facts(info: RunInfo) -> list[Any]:
        s = info.summary
        gates = "none" if not s.gates else "all passed" if s.passed else "some failed"
        return [
            info.run_id,
            info.scenario,
            info.path or "-",
            s.total.attempts,
            "-" if s.duration_s is None else f"{s.duration_s:.1f} s",
            "yes" if s.complete else "no (cut short)",
            gates,
            s.target_url or "-",
        ]

    names = [
        "run id",
        "scenario",
        "directory",
        "attempts",
        "duration",
        "complete",
        "gates",
        "target",
    ]
    rows = zip(names, facts(cmp.a), facts(cmp.b), strict=True)
    body = "".join(
        f'<tr><th class="l">{_e(n)}</th><td class="l">{_e(a)}</td><td class="l">{_e(b)}</td></tr>'
        for n, a, b in rows
    )
    head = '<tr><th></th><th class="l">A (baseline)</th><th class="l">B (candidate)</th></tr>'
    return f"<table>{head}{body}</table>"


def render_html(cmp: Comparison, charts: Sequence[Path]) -> str:
    """The whole ``index.html`` as a string (reads only the chart PNGs it embeds)."""
    title = f"Comparison: {cmp.a.run_id} (A) vs {cmp.b.run_id} (B)"
    n = len(cmp.regressions)
    banner = (
        f'<div class="banner fail">REGRESSION: {n} regression(s) of B against A</div>'
        if n
        else '<div class="banner pass">NO REGRESSION: B is within tolerance of A</div>'
    )
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"'
        f' alt="{_e(COMPARE_CAPTIONS.get(p.name, p.stem))}"><figcaption>'
        f"{_e(COMPARE_CAPTIONS.get(p.name, p.stem))}</figcaption></figure>"
        for p in charts
    )
    tol = "".join(
        f'<tr><th class="l">{_e(k)}</th><td>{_e(v)}</td></tr>'
        for k, v in vars(cmp.tolerance).items()
    )
    metrics = [r for r in cmp.rows if r.metric != "gate"]
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{_e(title)}</h1>",
            banner,
            *(f'<div class="warning">{_e(w)}</div>' for w in cmp.warnings),
            "<h2>Runs</h2>",
            _runs_table(cmp),
            "<h2>Regressions</h2>",
            _rows_table(cmp.regressions, group=False),
            "<h2>Improvements</h2>",
            _rows_table(cmp.improvements, group=False),
            "<h2>Gates</h2>",
            _rows_table([r for r in cmp.rows if r.metric == "gate"], group=False),
            "<h2>Every metric, A and B side by side</h2>",
            "<p>Shares are per counted attempt; pp = percentage points. A regression is a change"
            " for the worse beyond the tolerance (below).</p>",
            _rows_table(metrics, group=True),
            "<h2>Charts</h2>",
            figures,
            "<h2>Tolerance</h2>",
            f"<table>{tol}</table>",
            "</body></html>\n",
        ]
    )
