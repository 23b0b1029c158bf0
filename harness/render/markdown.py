"""``summary.md`` of a run (pure): the verdict and key tables for a CI job summary.

Written for ``$GITHUB_STEP_SUMMARY`` (GitHub-flavoured Markdown; also fine in GitLab
and as plain text): the verdict line, warnings (cut short, unreverted chaos), gates,
findings, per-token-kind and per-phase tables (the phases only when the run had chaos),
recovery per fault, and the charts. A job summary is shown away from the run directory,
where a relative link is dead: the charts and the full report are links only when a
``link_base`` (the URL or directory the run directory is published under) is given, and
named as files otherwise. Every value taken from the run is escaped, so a close reason or
label cannot break a table or inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.analysis.gates import format_value
from harness.analysis.summary import GateResult, Recovery, Summary
from harness.protocol.outcomes import Verdict
from harness.render.present import (
    close_codes_text,
    findings_headline,
    gate_metric,
    ms,
    one_line,
    pct,
    recovery_state,
    recovery_text,
    restart_text,
    secs,
    sessions_facts,
    socketio_facts,
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


def verdict_line(summary: Summary, gate_results: Sequence[GateResult], passed: bool) -> str:
    """``"**FAIL**: 1 of 2 gates failed · 1 finding: 1 high · run cut short"``."""
    if not gate_results:
        head = "**NO GATES**: nothing to pass or fail"
    elif passed:
        head = f"**PASS**: all {len(gate_results)} gates passed"
    else:
        failed = sum(not r.passed for r in gate_results)
        head = f"**FAIL**: {failed} of {len(gate_results)} gates failed"
    total = summary.total
    parts = [
        head,
        findings_headline(summary),
        f"{total.attempts} attempts, success {pct(total.success_rate)}",
    ]
    if not summary.complete:
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


def _findings(summary: Summary) -> list[str]:
    if not summary.findings:
        return ["No findings."]
    out = []
    for f in summary.findings:
        out.append(f"- **[{f.severity.upper()}]** `{f.id}`: {md(f.title)}")
        for key in ("evidence", "meaning", "fix"):
            text = one_line(getattr(f, key))
            if text:
                out.append(f"  - {key}: {md(text)}")
    return out


_KIND_VERDICTS = (
    Verdict.OK,
    Verdict.VALID_REFUSED,
    Verdict.INVALID_ACCEPTED,
    Verdict.ABRUPT,
    Verdict.WRONG_REJECTION,
    Verdict.GENERATOR_FAULT,
)


def _kinds(summary: Summary) -> list[str]:
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
    rows = []
    for kind, sec in [*summary.token_kinds.items(), ("**total**", summary.total)]:
        rows.append(
            [
                kind if kind == "**total**" else md(kind),
                md(sec.expected or "-"),
                str(sec.attempts),
                pct(sec.success_rate),
                *[str(sec.verdict(v)) for v in _KIND_VERDICTS],
                ms(sec.handshake_ms.p95),
                md(close_codes_text(sec.close_codes)),
            ]
        )
    return _table(head, rows, "ll" + "r" * 9 + "l")


def _phases(summary: Summary) -> list[str]:
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
    for name, phase in summary.phases.items():
        rows.append(
            [
                md(name),
                secs(phase.start_s),
                secs(phase.end_s),
                str(phase.total.attempts),
                pct(success_of_expected(phase.token_kinds, True)),
                pct(success_of_expected(phase.token_kinds, False)),
                str(phase.total.graceful),
                str(phase.total.abrupt),
                pct(phase.total.graceful_share),
            ]
        )
    return _table(head, rows, "l")


def _recovery(items: Sequence[Recovery]) -> list[str]:
    head = ["window", "fault", "reverted at s", "back at s", "time to recover s", "result"]
    rows = [
        [
            md(r.label),
            md(r.fault or "-"),
            secs(r.reverted_s),
            secs(r.recovered_at_s),
            secs(r.recovery_s),
            f"**{md(recovery_text(r))}**"
            if recovery_state(r) == "not_recovered"
            else md(recovery_text(r)),
        ]
        for r in items
    ]
    return _table(head, rows, "llrrrl")


def _sessions(summary: Summary) -> list[str]:
    sessions = summary.sessions
    if sessions is None:
        return []
    rows = [[md(label), md(value)] for label, value in sessions_facts(sessions)]
    rows += [[md(f"after {r.label}"), md(restart_text(r))] for r in sessions.restarts.values()]
    return ["## Sessions and reconnects", "", *_table(["", ""], rows, "ll"), ""]


def _socketio(summary: Summary) -> list[str]:
    if summary.socketio is None:
        return []
    rows = [[md(label), md(value)] for label, value in socketio_facts(summary.socketio)]
    return ["## Socket.IO sessions", "", *_table(["", ""], rows, "ll"), ""]


def _link(text: str, rel: str, link_base: str | None) -> str:
    """``[text](<base>/<rel>)`` with a base; the file's name in code otherwise (no dead link)."""
    if link_base is None:
        return f"`{rel}`" if text == rel else f"{md(text)} (`{rel}`)"
    return f"[{md(text)}]({link_base.rstrip('/')}/{rel})"


def summary_markdown(
    summary: Summary,
    gate_results: Sequence[GateResult],
    passed: bool,
    charts: Sequence[Path],
    *,
    captions: Mapping[str, str] | None = None,
    link_base: str | None = None,
) -> str:
    """The ``summary.md`` document.

    Args:
        summary: from :func:`harness.analysis.summarize.summarize`.
        gate_results: from :func:`harness.analysis.gates.evaluate_gates`.
        passed: every gate passed.
        charts: the chart PNGs (in the run directory's ``charts/``).
        captions: chart file name -> its caption.
        link_base: where the run directory is published (an absolute URL, e.g. the CI
            job's artifact URL); None: no links, the files are named instead.
    """
    captions = captions or {}
    title = f"{summary.scenario or 'run'} - run {summary.run_id or '?'}"
    out = [f"# Harness report: {md(title)}", "", verdict_line(summary, gate_results, passed), ""]
    for w in warnings(summary):
        head, _, rest = w.partition(": ")
        out += [f"> **{md(head)}**: {md(rest)}", ""]
    out += ["## Gates", "", *_gates(gate_results), ""]
    out += ["## Findings", "", *_findings(summary), ""]
    out += ["## Per token kind", "", "Success: the expected outcome over counted attempts.", ""]
    out += [*_kinds(summary), ""]
    if summary.has_chaos:
        out += ["## Chaos phases", "", *_phases(summary), ""]
    if summary.recovery:
        out += ["## Recovery after each fault", "", *_recovery(list(summary.recovery.values())), ""]
    out += _sessions(summary)
    out += _socketio(summary)
    if charts:
        out += ["## Charts", ""]
        for path in charts:
            text = captions.get(path.name, path.stem.replace("_", " "))
            out.append(f"- {_link(text, f'charts/{path.name}', link_base)}")
        out.append("")
    out.append(
        f"Run {md(summary.run_id or '?')}, started {time_utc(summary.started_at)}, "
        f"target {md(summary.target_url or '-')}. Full report: "
        f"{_link('index.html', 'index.html', link_base)}; data: summary.json, junit.xml, "
        "token\\_kinds.csv, phases.csv."
    )
    return "\n".join(out) + "\n"
