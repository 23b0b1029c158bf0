"""The plain-text summary printed at the end of a run: one row per token kind, one line per gate.

When the run had chaos, a compact table of its phases follows the per-kind table. After
the gates come the findings of medium severity and above (one line each, most severe
first), the recovery of each chaos window, and warnings (a run cut short, a window never
reverted, generator faults). Fits in about 110 columns; names (token kinds, phases, gates)
are never cut, so a cut name cannot read like a number. The caller adds the path of the
HTML report below it. :func:`format_findings` is the findings table the doctor prints.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from harness.analysis.gates import format_value
from harness.analysis.summary import Finding, GateResult, Phase, Section, Summary
from harness.protocol.outcomes import Verdict
from harness.render.present import (
    TERMINAL_SEVERITIES,
    findings_headline,
    gate_metric,
    generator_text,
    one_line,
    recovery_text,
    restart_text,
    secs,
    sessions_facts,
    socketio_facts,
    success_of_expected,
    warnings,
    workers_text,
)

#: Columns: (header line 1, header line 2, width in characters).
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("token", "kind", 16),
    ("", "attempts", 9),
    ("", "expect", 7),
    ("success", "%", 8),
    ("", "ok", 7),
    ("valid", "refused", 8),
    ("invalid", "accepted", 9),
    ("", "abrupt", 7),
    ("wrong", "reject", 7),
    ("gen.", "fault", 6),
    ("hs p50", "ms", 8),
    ("hs p95", "ms", 8),
    ("hs p99", "ms", 8),
)

#: Width of the table (with the narrowest kind column) and of wrapped warning lines.
_WIDTH = sum(c[2] for c in _COLUMNS)
#: The longest line of any kind, in characters.
_MAX_LINE = 110

_VERDICT_COLUMNS: tuple[str, ...] = (
    Verdict.OK.value,
    Verdict.VALID_REFUSED.value,
    Verdict.INVALID_ACCEPTED.value,
    Verdict.ABRUPT.value,
    Verdict.WRONG_REJECTION.value,
    Verdict.GENERATOR_FAULT.value,
)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _row_cells(label: str, sec: Section) -> list[str]:
    hs = sec.handshake_ms
    return [
        label,
        str(sec.attempts),
        sec.expected or "-",
        _pct(sec.success_rate),
        *[str(sec.verdict(v)) for v in _VERDICT_COLUMNS],
        _ms(hs.p50),
        _ms(hs.p95),
        _ms(hs.p99),
    ]


def _line(cells: Sequence[str], first_width: int = _COLUMNS[0][2]) -> str:
    """One table line: the first cell left-aligned (never cut), the others right-aligned."""
    widths = [first_width, *(c[2] for c in _COLUMNS[1:])]
    parts = []
    for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        parts.append(cell.ljust(width) if i == 0 else cell.rjust(width))
    return "".join(parts).rstrip()


#: Phase table columns after the phase name: (header line 1, header line 2, width).
_PHASE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("", "attempts", 9),
    ("valid", "ok %", 8),
    ("invalid", "ok %", 8),
    ("", "graceful", 9),
    ("", "abrupt", 7),
)


def phase_lines(phases: Mapping[str, Phase]) -> list[str]:
    """The chaos phase table: attempts, success % of valid and of invalid tokens, refusals.

    "valid ok %" is over the token kinds that expect to be accepted, "invalid ok %" over
    the others (success for them is the expected rejection); "graceful" and "abrupt"
    count refusals that gave a reason and ones that did not. The name column is as wide
    as the longest phase name.
    """
    width = max([12, *(len(name) + 2 for name in phases)])

    def line(name: str, cells: Sequence[str]) -> str:
        rest = "".join(c.rjust(w) for c, (_, _, w) in zip(cells, _PHASE_COLUMNS, strict=True))
        return (name.ljust(width) + rest).rstrip()

    lines = [
        line("chaos", [c[0] for c in _PHASE_COLUMNS]),
        line("phase", [c[1] for c in _PHASE_COLUMNS]),
        "-" * (width + sum(c[2] for c in _PHASE_COLUMNS)),
    ]
    for name, phase in phases.items():
        cells = [
            str(phase.total.attempts),
            _pct(success_of_expected(phase.token_kinds, True)),
            _pct(success_of_expected(phase.token_kinds, False)),
            str(phase.total.graceful),
            str(phase.total.abrupt),
        ]
        lines.append(line(name, cells))
    return lines


def gate_line(result: GateResult) -> str:
    """``  FAIL  <name>: <metric> = <value>  (required <op> <threshold>)``; the name whole."""
    verdict = "PASS" if result.passed else "FAIL"
    return (
        f"  {verdict}  {result.name}: {gate_metric(result)} = {format_value(result.value)}"
        f"  (required {result.op} {result.threshold:g})"
    )


def _fit(line: str, width: int = _WIDTH) -> str:
    """``line`` cut to ``width`` characters, ending in ``...`` when cut."""
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def finding_lines(summary: Summary) -> list[str]:
    """Findings of medium severity and above, one line each, most severe first.

    Each line is the severity, the finding's id and its evidence (the numbers), e.g.
    ``[HIGH] closed-before-established: 8 of 60 attempts (13.3%) dropped before the 101``;
    a line longer than 110 columns is cut with ``...``.
    """
    lines = [f"Findings: {findings_headline(summary)}"]
    for f in summary.findings:
        if f.severity in TERMINAL_SEVERITIES:
            what = one_line(f.evidence) or one_line(f.title)
            lines.append(_fit(f"  [{f.severity.upper()}] {f.id}: {what}", _MAX_LINE))
    return lines


def recovery_lines(summary: Summary) -> list[str]:
    """One line per chaos window: its fault, when it was reverted, and how it recovered."""
    if not summary.recovery:
        return []
    lines = ["Recovery after each fault (valid tokens back near their baseline success):"]
    for r in summary.recovery.values():
        fault = f" ({r.fault})" if r.fault else ""
        when = f" reverted at {secs(r.reverted_s)} s" if r.reverted_s is not None else ""
        lines.append(_fit(f"  {r.label}{fault}{when}: {recovery_text(r)}"))
    return lines


def session_lines(summary: Summary) -> list[str]:
    """Sessions and reconnects, and each restart's reconnection, when the scenario reconnects."""
    if summary.sessions is None:
        return []
    lines = ["Sessions and reconnects:"]
    lines += [_fit(f"  {label}: {value}") for label, value in sessions_facts(summary.sessions)]
    lines += [
        _fit(f"  after {r.label}: {restart_text(r)}") for r in summary.sessions.restarts.values()
    ]
    return lines


def socketio_lines(summary: Summary) -> list[str]:
    """Transports, fallbacks, upgrades and refusals of a Socket.IO run."""
    if summary.socketio is None:
        return []
    lines = ["Socket.IO:"]
    lines += [_fit(f"  {label}: {value}") for label, value in socketio_facts(summary.socketio)]
    return lines


def format_terminal_summary(summary: Summary, gate_results: Sequence[GateResult]) -> str:
    """The terminal summary: per-token-kind table, phases, gates, findings, recovery, warnings.

    Args:
        summary: from :func:`harness.analysis.summarize.summarize`.
        gate_results: from :func:`harness.analysis.gates.evaluate_gates` (or
            ``summary.gates``).

    Returns:
        Lines joined by newlines (no trailing newline), each within about 110 columns.
    """
    duration = f" - {summary.duration_s:.1f} s" if summary.duration_s else ""
    lines = [
        f"Run {summary.run_id} - scenario {summary.scenario}{duration}"
        + ("" if summary.complete else " - CUT SHORT"),
    ]
    first = max([_COLUMNS[0][2], *(len(k) + 2 for k in summary.token_kinds)])
    lines.append(_line([c[0] for c in _COLUMNS], first))
    lines.append(_line([c[1] for c in _COLUMNS], first))
    rule = "-" * (_WIDTH + first - _COLUMNS[0][2])
    lines.append(rule)
    if not summary.token_kinds:
        lines.append("(no attempts recorded)")
    for kind, sec in summary.token_kinds.items():
        lines.append(_line(_row_cells(kind, sec), first))
    lines.append(rule)
    lines.append(_line(_row_cells("total", summary.total), first))
    if summary.workers:
        lines.append(f"Load from {workers_text(summary)}")
    if summary.generator is not None and summary.generator.peak_open:
        lines.append(f"Load generator: {generator_text(summary)}")
    lines.append("")
    if summary.has_chaos:
        lines.extend(phase_lines(summary.phases))
        lines.append("")
    if gate_results:
        failed = sum(not r.passed for r in gate_results)
        overall = "PASS" if not failed else f"FAIL ({failed} of {len(gate_results)} failed)"
        lines.append(f"Gates: {overall}")
        lines.extend(gate_line(r) for r in gate_results)
    else:
        lines.append("Gates: none defined")
    blocks = (
        finding_lines(summary),
        recovery_lines(summary),
        session_lines(summary),
        socketio_lines(summary),
    )
    for block in blocks:
        if block:
            lines.append("")
            lines.extend(block)
    for warning in warnings(summary):
        lines.extend(textwrap.wrap(warning, width=_WIDTH, subsequent_indent=" " * 9))
    return "\n".join(lines)


def format_findings(findings: Sequence[Finding]) -> str:
    """The findings as a terminal table, worst first (as given): severity, type, id and
    title, then the evidence and the fix on their own lines; ``findings: none`` for none."""
    if not findings:
        return "findings: none"
    lines = ["findings:", f"  {'severity':9} {'type':14} finding"]
    for f in findings:
        lines.append(f"  {f.severity.upper():9} {f.type:14} {f.id}: {one_line(f.title)}")
        lines.append(f"  {'':24} evidence: {one_line(f.evidence)}")
        lines.append(f"  {'':24} fix: {one_line(f.fix)}")
    return "\n".join(lines)
