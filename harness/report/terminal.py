"""The plain-text summary printed at the end of a run: one row per token kind, one line per gate.

When the run had chaos, a compact table of its phases follows the per-kind table. Fits in
about 110 columns. The caller adds the path of the HTML report below it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from harness.outcomes import Verdict
from harness.report.gates import GateResult, format_value
from harness.report.summary import has_chaos

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


def _success_of(kinds: Mapping[str, Any], accept: bool) -> float | None:
    """ok / counted over the token kinds that expect ``accept`` (or rejection)."""
    ok = counted = 0
    for sec in kinds.values():
        if (sec.get("expected") == "accept") is accept:
            ok += int((sec.get("verdicts") or {}).get(Verdict.OK.value, 0))
            counted += int(sec.get("counted", 0))
    return ok / counted if counted else None


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
            _pct(_success_of(kinds, True)),
            _pct(_success_of(kinds, False)),
            str(total.get("graceful", 0)),
            str(total.get("abrupt", 0)),
        ]
        lines.append(line(name, cells))
    return lines


def _gate_line(result: GateResult) -> str:
    kind = f"[{result.token_kind}]" if result.token_kind else ""
    verdict = "PASS" if result.passed else "FAIL"
    return (
        f"  {verdict}  {result.name}: {result.metric}{kind} = {format_value(result.value)}"
        f"  (required {result.op} {result.threshold:g})"
    )


def format_terminal_summary(summary: Mapping[str, Any], gate_results: Sequence[GateResult]) -> str:
    """The terminal summary: per-token-kind table, totals, gate lines and warnings.

    Args:
        summary: from :func:`harness.report.summary.compute_summary`.
        gate_results: from :func:`harness.report.gates.evaluate_gates`.

    Returns:
        Lines joined by newlines (no trailing newline), each within about 110 columns.
    """
    lines = [
        f"Run {summary.get('run_id', '')} - scenario {summary.get('scenario', '')}"
        + (f" - {float(summary['duration_s']):.1f} s" if summary.get("duration_s") else ""),
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
    for warning in warnings(summary):
        lines.extend(textwrap.wrap(warning, width=_WIDTH, subsequent_indent=" " * 9))
    return "\n".join(lines)


def warnings(summary: Mapping[str, Any]) -> list[str]:
    """Warnings a reader must not miss (one sentence each): a run cut short, generator faults."""
    out: list[str] = []
    if not summary.get("complete", False):
        out.append("WARNING: the run was cut short; these results cover only part of it.")
    share = summary.get("generator_fault_share")
    if share:
        count = (summary.get("total") or {}).get("verdicts", {}).get("generator_fault", 0)
        out.append(
            f"WARNING: {count} attempts ({float(share) * 100:.1f}%) failed inside the load"
            " generator (out of file descriptors or ports): that is the harness's own failure,"
            " not the target's."
        )
    return out
