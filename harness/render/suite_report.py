"""The report of a suite run: ``summary.json``, ``index.html`` and one ``junit.xml``.

Built from the suite's summary (:func:`harness.series.suite.suite_summary`, a JSON object)
and the scenarios' own run directories, so it reads nothing else.

``index.html``: a self-contained page (inline CSS, no JS) with the verdict, a table of the
scenarios (status, attempts, success rate, handshake p95, abrupt closures, serious findings,
failed gates) and a link to each scenario's own report. Every value taken from the runs is
HTML-escaped.

``junit.xml``: one ``<testsuite>`` per scenario. A scenario's testsuite is its run's own
(gates and serious findings, :mod:`harness.render.junit`) with every ``classname`` and
``name`` prefixed by its label (``01-smoke.gates`` / ``01-smoke: valid tokens get a session``),
so that CI tools merging results keep scenarios apart, plus a ``<label>: run`` test case:
passed when the run ran (its gates judge it), ``<error>`` when it could not run or was
interrupted, ``<skipped>`` when the suite stopped before it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.render.html_sections import e
from harness.render.junit import xml_text
from harness.render.present import time_utc
from harness.rundir.layout import INDEX, JUNIT, SUMMARY, write_json_atomic, write_text_atomic

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.banner { font-size: 1.6em; font-weight: bold; padding: 0.5em 0.8em; border-radius: 6px;
          color: #fff; margin: 1em 0; }
.banner.pass { background: #2e7d32; } .banner.fail { background: #c62828; }
.banner.error, .banner.interrupted { background: #8a5a00; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
tr.pass td.status { background: #e6f4e6; } tr.fail td.status { background: #fde0e0; }
tr.error td.status, tr.interrupted td.status { background: #fff3cd; }
tr.not-run td { color: #888; }
td.bad { color: #c62828; font-weight: bold; }
p.meta { color: #555; font-size: 0.9em; }
"""

#: Severities counted in the "serious findings" column (as the run's JUnit counts them).
_SERIOUS = ("critical", "high")


def verdict_word(summary: Mapping[str, Any]) -> str:
    """``PASS``, ``FAIL``, ``ERROR`` or ``INTERRUPTED``: the suite's exit code as a word."""
    return {0: "PASS", 1: "FAIL", 2: "ERROR", 130: "INTERRUPTED"}.get(
        int(summary.get("exit_code", 2)), "ERROR"
    )


def verdict_text(summary: Mapping[str, Any]) -> str:
    """``3 of 3 scenarios passed`` / ``1 of 3 failed (02-bad), 1 not run (fail-fast)``."""
    counts = summary.get("counts") or {}
    runs = summary.get("scenarios") or []
    n = len(runs)
    parts = []
    for status, word in (("fail", "failed"), ("error", "could not run")):
        who = [r["label"] for r in runs if r.get("status") == status]
        if who:
            parts.append(f"{len(who)} of {n} {word} ({', '.join(who)})")
    if counts.get("interrupted"):
        parts.append(f"{counts['interrupted']} interrupted")
    if counts.get("not run"):
        why = summary.get("stop_reason") or "stopped"
        parts.append(f"{counts['not run']} not run ({why})")
    if not parts:
        return f"{counts.get('pass', 0)} of {n} scenarios passed"
    return ", ".join(parts)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{float(v) * 100:.1f}%"


def _num(v: Any, unit: str = "") -> str:
    return "-" if v is None else f"{v:g}{unit}" if isinstance(v, int | float) else e(v)


def _row(r: Mapping[str, Any]) -> str:
    status = str(r.get("status"))
    sev = r.get("findings_by_severity") or {}
    serious = sum(int(sev.get(k, 0)) for k in _SERIOUS)
    failed = r.get("failed_gates") or []
    link = f'<a href="{e(r["report"])}">report</a>' if r.get("report") else "-"
    abrupt = r.get("abrupt")
    p95 = r.get("handshake_p95_ms")
    cells = [
        f'<td class="l">{e(r.get("label"))}</td>',
        f'<td class="l">{e(r.get("file"))}</td>',
        f'<td class="l">{e(", ".join(r.get("tags") or []))}</td>',
        f'<td class="l status">{e(status.upper())}</td>',
        f"<td>{_num(r.get('seconds') and round(r['seconds']))}</td>",
        f"<td>{_num(r.get('attempts'))}</td>",
        f"<td>{_pct(r.get('success_rate'))}</td>",
        f"<td>{'-' if p95 is None else f'{p95:.1f}'}</td>",
        f'<td class="{"bad" if abrupt else ""}">{_num(abrupt)}</td>',
        f'<td class="{"bad" if serious else ""}">{serious}</td>',
        f'<td class="l">{e("; ".join(failed)) or "-"}</td>',
        f'<td class="l">{link}</td>',
    ]
    return f'<tr class="{e(status.replace(" ", "-"))}">{"".join(cells)}</tr>'


def suite_html(summary: Mapping[str, Any]) -> str:
    """The suite's ``index.html``."""
    word = verdict_word(summary)
    title = f"suite {summary.get('suite')} - {summary.get('suite_id')}"
    head = (
        "<tr>"
        + "".join(
            f'<th class="{c}">{t}</th>'
            for c, t in (
                ("l", "#"),
                ("l", "scenario file"),
                ("l", "tags"),
                ("l", "status"),
                ("", "s"),
                ("", "attempts"),
                ("", "success"),
                ("", "hs p95 ms"),
                ("", "abrupt"),
                ("", "high+ findings"),
                ("l", "failed gates"),
                ("l", "report"),
            )
        )
        + "</tr>"
    )
    rows = "".join(_row(r) for r in summary.get("scenarios") or [])
    tags = ", ".join(summary.get("tags") or []) or "all"
    meta = (
        f"Suite file {e(summary.get('source'))}; tags selected: {e(tags)}; started "
        f"{e(time_utc(summary.get('started_at')))}, {float(summary.get('duration_s') or 0):.0f} s."
    )
    command = summary.get("command")
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<link rel="icon" href="data:,">',
            f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{e(title)}</h1>",
            f'<div class="banner {word.lower()}">{word}: {e(verdict_text(summary))}</div>',
            f'<p class="meta">{meta}</p>',
            f'<p class="meta">Command: <code>{e(command)}</code></p>' if command else "",
            "<p>Success: the expected outcome for each token kind over counted attempts; "
            "high+ findings: findings of high or critical severity.</p>",
            f'<div><table class="suite">{head}{rows}</table></div>',
            "</body></html>\n",
        ]
    )


def suite_junit(summary: Mapping[str, Any], directory: Path) -> str:
    """The suite's ``junit.xml``: each scenario's testsuite, prefixed by its label."""
    root = ET.Element("testsuites", {"name": xml_text(f"harness suite: {summary.get('suite')}")})
    tests = failures = errors = skipped = 0
    seconds = 0.0
    for r in summary.get("scenarios") or []:
        suite = _scenario_suite(r, directory)
        root.append(suite)
        tests += int(suite.get("tests", "0"))
        failures += int(suite.get("failures", "0"))
        errors += int(suite.get("errors", "0"))
        skipped += int(suite.get("skipped", "0"))
        seconds += float(r.get("seconds") or 0.0)
    for key, value in (("tests", tests), ("failures", failures), ("errors", errors)):
        root.set(key, str(value))
    root.set("skipped", str(skipped))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _own_suite(r: Mapping[str, Any], directory: Path) -> ET.Element | None:
    """The run's own ``<testsuite>`` (None when it wrote no readable ``junit.xml``)."""
    if not r.get("run_dir"):
        return None
    path = directory / str(r["run_dir"]) / JUNIT
    try:
        found = ET.parse(path).getroot().find("testsuite")
    except (OSError, ET.ParseError):
        return None
    return found


def _scenario_suite(r: Mapping[str, Any], directory: Path) -> ET.Element:
    label = str(r.get("label"))
    status = str(r.get("status"))
    suite = _own_suite(r, directory)
    if suite is None:
        suite = ET.Element("testsuite", {"tests": "0", "failures": "0", "errors": "0"})
        suite.set("time", f"{float(r.get('seconds') or 0.0):.3f}")
    suite.set("name", xml_text(f"{label}: {suite.get('name') or r.get('file')}"))
    for case in suite.iter("testcase"):
        case.set("classname", xml_text(f"{label}.{case.get('classname') or 'run'}"))
        case.set("name", xml_text(f"{label}: {case.get('name')}"))
    run_case = ET.Element(
        "testcase",
        {"classname": xml_text(f"{label}.run"), "name": xml_text(f"{label}: run"), "time": "0"},
    )
    run_case.set("time", f"{float(r.get('seconds') or 0.0):.3f}")
    errors = int(suite.get("errors") or 0)
    skipped = int(suite.get("skipped") or 0)
    if status == "not run":
        ET.SubElement(run_case, "skipped", {"message": "not run: the suite stopped before it"})
        skipped += 1
    elif status in ("error", "interrupted"):
        why = (
            "interrupted (Ctrl-C, SIGTERM or the suite's deadline)"
            if status == "interrupted"
            else f"could not run (harness run exited {r.get('exit_code')})"
        )
        detail = f"{why}; scenario file {r.get('file')}; run directory {r.get('run_dir') or '-'}"
        ET.SubElement(
            run_case, "error", {"message": xml_text(why), "type": status}
        ).text = xml_text(detail)
        errors += 1
    index = next((i for i, el in enumerate(suite) if el.tag == "testcase"), len(suite))
    if suite.find("properties") is not None and index == 0:
        index = 1
    suite.insert(index, run_case)
    suite.set("tests", str(int(suite.get("tests") or 0) + 1))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("failures", suite.get("failures") or "0")
    return suite


def write_suite_report(directory: Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary.json``, ``index.html`` and ``junit.xml`` into the suite directory;
    return the path of ``index.html``."""
    write_json_atomic(directory / SUMMARY, dict(summary))
    write_text_atomic(directory / JUNIT, suite_junit(summary, directory))
    index = directory / INDEX
    write_text_atomic(index, suite_html(summary))
    return index
