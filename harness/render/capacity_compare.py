"""Two capacity searches compared: the terminal table, ``compare.json`` and ``index.html``
(:func:`harness.analysis.capacity_compare.compare_capacities` is the comparison)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from harness.analysis.capacity_compare import CapacityComparison, CapacityRow
from harness.errors import RunDirError
from harness.rundir.layout import (
    CAPACITY,
    INDEX,
    read_json_object,
    write_json_atomic,
    write_text_atomic,
)

COMPARE_FILE = "compare.json"


def is_capacity_dir(path: Path) -> bool:
    """A capacity search's directory (one with ``capacity.json``)."""
    return (path / CAPACITY).is_file()


def read_capacity(path: Path) -> dict[str, Any]:
    """A search's ``capacity.json``.

    Raises:
        RunDirError: missing, unreadable, or not a capacity search's.
    """
    doc = read_json_object(path / CAPACITY)
    if doc.get("kind") != "capacity":
        raise RunDirError(f"{path / CAPACITY}: not a capacity search's capacity.json")
    return doc


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}" if v != int(v) else f"{v:.0f}"


def _cells(r: CapacityRow) -> tuple[str, str, str, str, str]:
    delta = "" if r.delta is None else f"{r.delta:+.1f}".replace(".0", "")
    return r.metric, _fmt(r.a), _fmt(r.b), delta, r.verdict


def format_capacity_table(cmp: CapacityComparison) -> str:
    """The terminal table, warnings and regressions."""
    lines = [
        f"A: {cmp.a.get('capacity_id')} ({cmp.a.get('scenario')})    "
        f"B: {cmp.b.get('capacity_id')} ({cmp.b.get('scenario')})",
        f"{'metric':<34}{'A':>10}{'B':>10}{'delta':>10}  verdict",
        "-" * 76,
    ]
    for r in cmp.rows:
        metric, a, b, delta, verdict = _cells(r)
        lines.append(f"{metric:<34}{a:>10}{b:>10}{delta:>10}  {verdict}")
    lines += [f"warning: {w}" for w in cmp.warnings]
    lines += [f"REGRESSION: {r}" for r in cmp.regressions]
    return "\n".join(lines)


def capacity_compare_html(cmp: CapacityComparison) -> str:
    e = escape
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r)) + "</tr>" for r in cmp.rows
    )
    word = "REGRESSION" if cmp.regressions else ("NOT JUDGED" if not cmp.judged else "OK")
    items = "".join(f"<li>{e(w)}</li>" for w in (*cmp.regressions, *cmp.warnings))
    a, b = cmp.a.get("capacity_id"), cmp.b.get("capacity_id")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<link rel="icon" href="data:,">'
        f"<title>capacity {e(str(a))} vs {e(str(b))}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "th{background:#f2f2f2}</style></head><body>"
        f"<h1>Capacity: {e(str(a))} (A) vs {e(str(b))} (B)</h1><p><b>{word}</b></p>"
        f"<ul>{items}</ul><table><tr><th>metric</th><th>A</th><th>B</th><th>delta</th>"
        f"<th>verdict</th></tr>{rows}</table>"
        f"<p>A: {e(str(cmp.a.get('verdict')))}<br>B: {e(str(cmp.b.get('verdict')))}</p>"
        "</body></html>\n"
    )


def write_capacity_comparison(cmp: CapacityComparison, out: Path) -> Path:
    """Write ``compare.json`` and ``index.html`` into ``out``; return ``index.html``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / COMPARE_FILE, cmp.to_dict())
    index = out / INDEX
    write_text_atomic(index, capacity_compare_html(cmp))
    return index
