"""``summary.md`` of a run (pure): the verdict and key tables for a CI job summary.

Written for ``$GITHUB_STEP_SUMMARY`` (GitHub-flavoured Markdown; also fine in GitLab
and as plain text): the verdict line, warnings (cut short, unreverted chaos), gates,
findings, per-token-kind and per-phase tables, recovery per fault, and links to the
charts by path relative to the run directory. Every value taken from the run is
escaped, so a close reason or label cannot break a table or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.analysis.gates import GateResult, format_value
from harness.analysis.summary import has_chaos
from harness.render.present import (
    as_text,
    close_codes_text,
    finding_id,
    findings,
    findings_headline,
    gate_metric,
    ms,
    pct,
    recovery,
    recovery_state,
    recovery_text,
    secs,
    severity_of,
    success_of_expected,
    time_utc,
    warnings,
)

#: Characters with a meaning in Markdown tables or inline markup.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")
#: Control characters, dropped (a terminal escape has no place in a CI summary).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def md(value: Any) -> str:
    """``value`` as inline Markdown text: specials escaped, newlines and runs of spaces folded."""
    text = " ".join(_CONTROL.sub("", str(value)).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """A GitHub table; ``align`` has one letter per column (``l`` left, else right)."""
    marks = ["---" if (align[i : i + 1] or "r") == "l" else "---:" for i in range(len(head))]
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join(marks) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def verdict_line(
    summary: Mapping[str, Any], gate_results: Sequence[GateResult], passed: bool
) -> str:
    """``"**FAIL**: 1 of 2 gates failed · 1 finding: 1 high · run cut short"``."""
    if not gate_results:
        head = "**NO GATES**: nothing to pass or fail"
    elif passed:
        head = f"**PASS**: all {len(gate_results)} gates passed"
    else:
        failed = sum(not r.passed for r in gate_results)
        head = f"**FAIL**: {failed} of {len(gate_results)} gates failed"
    total: Mapping[str, Any] = summary.get("total") or {}
    parts = [
        head,
        findings_headline(summary),
        f"{total.get('attempts', 0)} attempts, success {pct(total.get('success_rate'))}",
    ]
    if not summary.get("complete", False):
        parts.append("**run cut short**")
    return " · ".join(parts)


def _gates(results: Sequence[GateResult]) -> list[str]:
    if not results:
        return ["The scenario defines no gates."]
    rows = [
        [
            "PASS" if r.passed else "**FAIL**",
            md(r.name),
            md(gate_metric(r)),
            md(format_value(r.value)),
            md(f"{r.op} {r.threshold:g}"),
        ]
        for r in results
    ]
    return _table(["result", "gate", "metric", "value", "required"], rows, "lll")


def _findings(summary: Mapping[str, Any]) -> list[str]:
    items = findings(summary)
    if not items:
        return ["No findings." if "findings" in summary else "Findings were not computed."]
    out = []
    for f in items:
        title = as_text(f.get("title")) or finding_id(f)
        out.append(f"- **[{severity_of(f).upper()}]** `{finding_id(f)}`: {md(title)}")
        for key in ("evidence", "meaning", "fix"):
            text = as_text(f.get(key))
            if text:
                out.append(f"  - {key}: {md(text)}")
    return out


def _kinds(summary: Mapping[str, Any]) -> list[str]:
    head = [
        "token kind",
        "expected",
        "attempts",
        "success",
        "ok",
        "valid refused",
        "invalid accepted",
        "abrupt",
        "wrong rejection",
        "gen. fault",
        "handshake p95 ms",
        "close codes",
    ]
    kinds: Mapping[str, Any] = dict(summary.get("token_kinds") or {})
    rows = []
    for kind, sec in [*kinds.items(), ("**total**", summary.get("total") or {})]:
        v: Mapping[str, Any] = sec.get("verdicts") or {}
        rows.append(
            [
                kind if kind == "**total**" else md(kind),
                md(sec.get("expected") or "-"),
                str(sec.get("attempts", 0)),
                pct(sec.get("success_rate")),
                *[
                    str(v.get(k, 0))
                    for k in (
                        "ok",
                        "valid_refused",
                        "invalid_accepted",
                        "abrupt",
                        "wrong_rejection",
                        "generator_fault",
                    )
                ],
                ms((sec.get("handshake_ms") or {}).get("p95")),
                md(close_codes_text(sec.get("close_codes") or {})),
            ]
        )
    return _table(head, rows, "ll" + "r" * 9 + "l")


def _phases(summary: Mapping[str, Any]) -> list[str]:
    head = [
        "phase",
        "from s",
        "to s",
        "attempts",
        "valid tokens ok",
        "invalid tokens ok",
        "graceful refusals",
        "abrupt refusals",
        "graceful share",
    ]
    rows = []
    for name, phase in (summary.get("phases") or {}).items():
        total: Mapping[str, Any] = phase.get("total") or {}
        kinds: Mapping[str, Any] = phase.get("token_kinds") or {}
        rows.append(
            [
                md(name),
                secs(phase.get("start_s")),
                secs(phase.get("end_s")),
                str(total.get("attempts", 0)),
                pct(success_of_expected(kinds, True)),
                pct(success_of_expected(kinds, False)),
                str(total.get("graceful", 0)),
                str(total.get("abrupt", 0)),
                pct(total.get("graceful_share")),
            ]
        )
    return _table(head, rows, "l")


def _recovery(items: Sequence[Mapping[str, Any]]) -> list[str]:
    head = ["window", "fault", "reverted at s", "back at s", "time to recover s", "result"]
    rows = [
        [
            md(r.get("label")),
            md(r.get("fault") or "-"),
            secs(r.get("reverted_s")),
            secs(r.get("recovered_at_s")),
            secs(r.get("recovery_s")),
            f"**{md(recovery_text(r))}**"
            if recovery_state(r) == "not_recovered"
            else md(recovery_text(r)),
        ]
        for r in items
    ]
    return _table(head, rows, "llrrrl")


def summary_markdown(
    summary: Mapping[str, Any],
    gate_results: Sequence[GateResult],
    passed: bool,
    charts: Sequence[Path],
    *,
    captions: Mapping[str, str] | None = None,
    run_dir: Path | None = None,
) -> str:
    """The ``summary.md`` document.

    Args:
        summary: from :func:`harness.analysis.summary.compute_summary`.
        gate_results: from :func:`harness.analysis.gates.evaluate_gates`.
        passed: every gate passed.
        charts: the chart PNGs; linked by path relative to ``run_dir``.
        captions: chart file name -> link text.
        run_dir: the run directory (None: link ``charts/<name>``).
    """
    captions = captions or {}
    title = f"{summary.get('scenario') or 'run'} - run {summary.get('run_id') or '?'}"
    out = [f"# Harness report: {md(title)}", "", verdict_line(summary, gate_results, passed), ""]
    for w in warnings(summary):
        head, _, rest = w.partition(": ")
        out += [f"> **{md(head)}**: {md(rest)}", ""]
    out += ["## Gates", "", *_gates(gate_results), ""]
    out += ["## Findings", "", *_findings(summary), ""]
    out += ["## Per token kind", "", "Success: the expected outcome over counted attempts.", ""]
    out += [*_kinds(summary), ""]
    if has_chaos(summary):
        out += ["## Chaos phases", "", *_phases(summary), ""]
    items = recovery(summary)
    if items:
        out += ["## Recovery after each fault", "", *_recovery(items), ""]
    out += ["## Charts", ""]
    for path in charts:
        rel = path.relative_to(run_dir) if run_dir else Path("charts") / path.name
        text = captions.get(path.name, path.stem.replace("_", " "))
        out.append(f"- [{md(text)}]({rel.as_posix()})")
    out += [
        "",
        f"Run {md(summary.get('run_id') or '?')}, started {time_utc(summary.get('started_at'))}, "
        f"target {md(summary.get('target_url') or '-')}. Full report: [index.html](index.html); "
        "data: summary.json, junit.xml, token\\_kinds.csv, phases.csv.",
    ]
    return "\n".join(out) + "\n"
