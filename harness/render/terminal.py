"""The plain-text summary printed at the end of a run: one row per token kind, one line per gate.

When the run had chaos, a compact table of its phases follows the per-kind table. After
the gates come the findings of medium severity and above (one line each, most severe
first), the recovery of each chaos window, and warnings (a run cut short, a window never
reverted, generator faults). Fits in about 110 columns. The caller adds the path of the
HTML report below it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from harness.analysis.gates import GateResult, format_value
from harness.analysis.summary import has_chaos
from harness.protocol.outcomes import Verdict
from harness.render.present import (
    TERMINAL_SEVERITIES,
    as_text,
    finding_id,
    findings,
    findings_headline,
    gate_metric,
    recovery,
    recovery_text,
    secs,
    severity_of,
    success_of_expected,
    warnings,
)

#: Columns: (header line 1, header line 2, width in characters).
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("token", "kind", 14),
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

#: Width of the table and of wrapped warning lines, in characters.
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


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    v = float(value)
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}"


def _row_cells(label: str, sec: Mapping[str, Any]) -> list[str]:
    verdicts = sec.get("verdicts") or {}
    hs = sec.get("handshake_ms") or {}
    return [
        label,
        str(sec.get("attempts", 0)),
        str(sec.get("expected") or "-"),
        _pct(sec.get("success_rate")),
        *[str(verdicts.get(v, 0)) for v in _VERDICT_COLUMNS],
        _ms(hs.get("p50")),
        _ms(hs.get("p95")),
        _ms(hs.get("p99")),
    ]


def _line(cells: Sequence[str]) -> str:
    parts = []
    for i, (cell, (_, _, width)) in enumerate(zip(cells, _COLUMNS, strict=True)):
        text = cell if len(cell) <= width - 1 else cell[: width - 2] + "~"
        parts.append(text.ljust(width) if i == 0 else text.rjust(width))
    return "".join(parts).rstrip()


#: Phase table columns after the phase name: (header line 1, header line 2, width).
_PHASE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("", "attempts", 9),
    ("valid", "ok %", 8),
    ("invalid", "ok %", 8),
    ("", "graceful", 9),
    ("", "abrupt", 7),
)
#: Narrowest and widest phase-name column, in characters.
_PHASE_NAME_WIDTH = (12, _WIDTH - sum(c[2] for c in _PHASE_COLUMNS))


def phase_lines(phases: Mapping[str, Any]) -> list[str]:
    """The chaos phase table: attempts, success % of valid and of invalid tokens, refusals.

    "valid ok %" is over the token kinds that expect to be accepted, "invalid ok %" over
    the others (success for them is the expected rejection); "graceful" and "abrupt"
    count refusals that gave a reason and ones that did not.
    """
    longest = max((len(name) for name in phases), default=0) + 2
    width = min(max(longest, _PHASE_NAME_WIDTH[0]), _PHASE_NAME_WIDTH[1])

    def line(name: str, cells: Sequence[str]) -> str:
        name = name if len(name) <= width - 1 else name[: width - 2] + "~"
        rest = "".join(c.rjust(w) for c, (_, _, w) in zip(cells, _PHASE_COLUMNS, strict=True))
        return (name.ljust(width) + rest).rstrip()

    lines = [
        line("chaos", [c[0] for c in _PHASE_COLUMNS]),
        line("phase", [c[1] for c in _PHASE_COLUMNS]),
        "-" * (width + sum(c[2] for c in _PHASE_COLUMNS)),
    ]
    for name, phase in phases.items():
        total = phase.get("total") or {}
        kinds = phase.get("token_kinds") or {}
        cells = [
            str(total.get("attempts", 0)),
            _pct(success_of_expected(kinds, True)),
            _pct(success_of_expected(kinds, False)),
            str(total.get("graceful", 0)),
            str(total.get("abrupt", 0)),
        ]
        lines.append(line(name, cells))
    return lines


def _gate_line(result: GateResult) -> str:
    verdict = "PASS" if result.passed else "FAIL"
    return (
        f"  {verdict}  {result.name}: {gate_metric(result)} = {format_value(result.value)}"
        f"  (required {result.op} {result.threshold:g})"
    )


def _fit(line: str, width: int = _WIDTH) -> str:
    """``line`` cut to ``width`` characters, ending in ``...`` when cut."""
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def finding_lines(summary: Mapping[str, Any]) -> list[str]:
    """Findings of medium severity and above, one line each, most severe first.

    Each line is the severity, the finding's id and its evidence (the numbers; the title
    when there is none), e.g. ``[HIGH] closed-before-established: 8 of 60 attempts
    (13.3%) dropped before the 101``; a line longer than 110 columns is cut with ``...``.
    """
    items = [f for f in findings(summary) if severity_of(f) in TERMINAL_SEVERITIES]
    if "findings" not in summary:
        return []
    lines = [f"Findings: {findings_headline(summary)}"]
    for f in items:
        what = as_text(f.get("evidence")) or as_text(f.get("title"))
        lines.append(_fit(f"  [{severity_of(f).upper()}] {finding_id(f)}: {what}", _MAX_LINE))
    return lines


def recovery_lines(summary: Mapping[str, Any]) -> list[str]:
    """One line per chaos window: its fault, when it was reverted, and how it recovered."""
    items = recovery(summary)
    if not items:
        return []
    lines = ["Recovery after each fault (valid tokens back near their baseline success):"]
    for r in items:
        fault = f" ({r.get('fault')})" if r.get("fault") else ""
        reverted = secs(r.get("reverted_s"))
        when = f" reverted at {reverted} s" if reverted != "-" else ""
        lines.append(_fit(f"  {r.get('label')}{fault}{when}: {recovery_text(r)}"))
    return lines


def format_terminal_summary(summary: Mapping[str, Any], gate_results: Sequence[GateResult]) -> str:
    """The terminal summary: per-token-kind table, phases, gates, findings, recovery, warnings.

    Args:
        summary: from :func:`harness.analysis.summary.compute_summary`.
        gate_results: from :func:`harness.analysis.gates.evaluate_gates`.

    Returns:
        Lines joined by newlines (no trailing newline), each within about 110 columns.
    """
    lines = [
        f"Run {summary.get('run_id', '')} - scenario {summary.get('scenario', '')}"
        + (f" - {float(summary['duration_s']):.1f} s" if summary.get("duration_s") else "")
        + ("" if summary.get("complete", False) else " - CUT SHORT"),
    ]
    lines.append(_line([c[0] for c in _COLUMNS]))
    lines.append(_line([c[1] for c in _COLUMNS]))
    rule = "-" * _WIDTH
    lines.append(rule)
    kinds: Mapping[str, Any] = summary.get("token_kinds") or {}
    if not kinds:
        lines.append("(no attempts recorded)")
    for kind, sec in kinds.items():
        lines.append(_line(_row_cells(kind, sec)))
    lines.append(rule)
    lines.append(_line(_row_cells("total", summary.get("total") or {})))
    lines.append("")
    if has_chaos(summary):
        lines.extend(phase_lines(summary.get("phases") or {}))
        lines.append("")
    if gate_results:
        failed = sum(not r.passed for r in gate_results)
        overall = "PASS" if not failed else f"FAIL ({failed} of {len(gate_results)} failed)"
        lines.append(f"Gates: {overall}")
        lines.extend(_gate_line(r) for r in gate_results)
    else:
        lines.append("Gates: none defined")
    for block in (finding_lines(summary), recovery_lines(summary)):
        if block:
            lines.append("")
            lines.extend(block)
    for warning in warnings(summary):
        lines.extend(textwrap.wrap(warning, width=_WIDTH, subsequent_indent=" " * 9))
    return "\n".join(lines)
