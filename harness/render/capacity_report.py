"""The report of a capacity search: ``capacity.json``, ``capacity.png`` and ``index.html``.

Built from the search's ``capacity.json`` object (:func:`harness.series.capacity.capacity_json`)
alone. ``index.html`` is self-contained (inline CSS, the chart as a data URI, no JS): the
verdict, the highest passing step with what it sustained, the first failing one and why,
every step in a table with a link to its run's report, and the chart.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.render.charts.capacity import capacity_chart
from harness.render.html_sections import e
from harness.render.present import time_utc
from harness.rundir.layout import CAPACITY, INDEX, write_json_atomic, write_text_atomic

CHART_FILE = "capacity.png"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
.banner { font-size: 1.3em; font-weight: bold; padding: 0.5em 0.8em; border-radius: 6px;
          color: #fff; margin: 1em 0; }
.banner.found { background: #2e7d32; } .banner.below { background: #c62828; }
.banner.none { background: #8a5a00; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
tr.pass td.status { background: #e6f4e6; } tr.fail td.status { background: #fde0e0; }
tr.generator-limited td.status, tr.error td.status { background: #fff3cd; }
img { max-width: 100%; border: 1px solid #eee; }
p.meta { color: #555; font-size: 0.9em; }
"""

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("load", "load"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("success_rate", "success"),
    ("handshake_p95_ms", "hs p95 ms"),
    ("refusals", "valid refused"),
    ("abrupt", "abrupt"),
    ("handshakes_per_s", "handshakes/s"),
    ("concurrent_connections", "open (peak)"),
    ("target_cpu_percent", "target CPU %"),
    ("target_rss_mb", "target RSS MB"),
    ("generator_cpu_share", "generator CPU"),
)


def cell(key: str, v: Any) -> str:
    """A table cell's text: shares as %, numbers compact, ``-`` for none."""
    if v is None:
        return "-"
    if key in ("success_rate", "generator_cpu_share"):
        return f"{float(v) * 100:.1f}%"
    if isinstance(v, float):
        return f"{v:.1f}"
    return e(v)


def banner_class(capacity: Mapping[str, Any]) -> str:
    code = capacity.get("exit_code")
    return {0: "found", 1: "below"}.get(code if isinstance(code, int) else 2, "none")


def capacity_html(capacity: Mapping[str, Any], chart: Path | None) -> str:
    """The search's ``index.html``."""
    title = f"capacity of {capacity.get('scenario')} - {capacity.get('capacity_id')}"
    unit = "users" if capacity.get("axis", "users") == "users" else "sessions/s"
    head = "".join(
        f'<th class="{"l" if k == "status" else ""}">{e(unit if k == "load" else t)}</th>'
        for k, t in _COLUMNS
    )
    rows = []
    for s in capacity.get("steps") or []:
        status = str(s.get("status"))
        tds = []
        for k, _ in _COLUMNS:
            cls = "l status" if k == "status" else ""
            text = cell(k, s.get(k)) + (" (refined)" if k == "load" and s.get("refined") else "")
            tds.append(f'<td class="{cls}">{text}</td>')
        link = f'<a href="{e(s["report"])}">report</a>' if s.get("report") else "-"
        why = e(s.get("why") or "")
        tds.append(f'<td class="l">{why}</td><td class="l">{link}</td>')
        rows.append(f'<tr class="{e(status)}">{"".join(tds)}</tr>')
    img = ""
    if chart is not None and chart.is_file():
        data = base64.b64encode(chart.read_bytes()).decode("ascii")
        img = f'<h2>Against load</h2><img alt="capacity chart" src="data:image/png;base64,{data}">'
    r = capacity.get("range") or {}
    best = capacity.get("highest_passing")
    sustained = ""
    if best:
        sustained = (
            f"<p>The highest passing step, {e(best.get('load'))} {unit}, sustained "
            f"{cell('x', best.get('handshakes_per_s'))} handshakes/s "
            f"({cell('x', best.get('sessions_per_s'))} valid sessions/s) and "
            f"{cell('x', best.get('concurrent_connections'))} connections open at once.</p>"
        )
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{e(title)}</h1>",
            f'<div class="banner {banner_class(capacity)}">{e(capacity.get("verdict"))}</div>',
            sustained,
            f'<p class="meta">Scenario file {e(capacity.get("scenario_file"))}; {unit} '
            f"{e(r.get('start'))} to {e(r.get('stop'))} by {e(r.get('step'))}, each step held "
            f"{e(capacity.get('hold_s'))} s after its ramp, {e(capacity.get('refine'))} "
            f"refinement rounds; started {e(time_utc(capacity.get('started_at')))}.</p>",
            f'<p class="meta">Command: <code>{e(capacity.get("command"))}</code></p>',
            "<h2>Steps</h2><p>Each step is a run of its own (a fresh embedded target), judged "
            "by the scenario's gates. Generator CPU: the share of one core the load generator "
            "used (median); near 100% its own limit came first.</p>",
            f'<table><tr>{head}<th class="l">why</th><th class="l">report</th></tr>',
            "".join(rows),
            "</table>",
            img,
            "</body></html>\n",
        ]
    )


def write_capacity_report(directory: Path, capacity: Mapping[str, Any]) -> Path:
    """Write ``capacity.json``, ``capacity.png`` and ``index.html``; return ``index.html``."""
    write_json_atomic(directory / CAPACITY, dict(capacity))
    chart = capacity_chart(capacity, directory / CHART_FILE) if capacity.get("steps") else None
    index = directory / INDEX
    write_text_atomic(index, capacity_html(capacity, chart))
    return index
