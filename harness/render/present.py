"""Presentation helpers shared by every output (HTML, Markdown, JUnit, CSV, terminal).

Number formats with their units, close-code names, and defensive readers of the
summary's optional parts: ``findings`` and ``recovery`` are read with ``.get`` and
tolerate missing keys, ``None`` values and unexpected types, so a report still builds
from an older or partial ``summary.json``. Everything here is pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from harness.config.scenario import SEVERITIES
from harness.numbers import finite
from harness.protocol.outcomes import CLOSE_CODE_NAMES

#: Severities from the most to the least serious (``critical`` first).
SEVERITY_ORDER: tuple[str, ...] = tuple(reversed(SEVERITIES))

#: Control characters (a close reason comes from the target: no terminal escapes through).
_CONTROL = re.compile("[\x00-\x1f\x7f]")

#: Severities that fail a CI job's JUnit report, and those the terminal lists.
JUNIT_SEVERITIES: frozenset[str] = frozenset({"high", "critical"})
TERMINAL_SEVERITIES: frozenset[str] = frozenset({"medium", "high", "critical"})


def pct(value: Any, digits: int = 1) -> str:
    """A share in 0..1 as a percentage (``"97.5%"``), ``-`` when missing."""
    f = finite(value)
    return "-" if f is None else f"{f * 100:.{digits}f}%"


def ms(value: Any) -> str:
    """Milliseconds to one decimal, ``-`` when missing."""
    f = finite(value)
    return "-" if f is None else f"{f:.1f}"


def secs(value: Any) -> str:
    """Seconds (e.g. since the run's start) to one decimal, ``-`` when missing."""
    f = finite(value)
    return "-" if f is None else f"{f:.1f}"


def time_utc(epoch_s: Any) -> str:
    """Epoch seconds as ``YYYY-mm-dd HH:MM:SS UTC``, ``-`` when missing."""
    f = finite(epoch_s)
    if f is None:
        return "-"
    try:
        return datetime.fromtimestamp(f, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(epoch_s)


def code_name(code: Any) -> str:
    """A close code with its name, e.g. ``"1013 try again later"``; the code alone if unnamed."""
    text = str(code)
    name = CLOSE_CODE_NAMES.get(int(text), "") if text.isdigit() else ""
    return f"{text} {name}".strip()


def close_codes_text(codes: Mapping[str, Any], limit: int = 4) -> str:
    """The most frequent close codes of a section, named: ``"1013 try again later: 4, ..."``."""
    items = sorted(codes.items(), key=lambda kv: (-int(kv[1] or 0), str(kv[0])))[:limit]
    return ", ".join(f"{code_name(code)}: {n}" for code, n in items) or "-"


def top_reason(reasons: Mapping[str, Any]) -> str:
    """The most frequent close reason of a section, with its count, or ``""``."""
    if not reasons:
        return ""
    reason, n = max(reasons.items(), key=lambda kv: int(kv[1] or 0))
    return f"{reason} ({n})"


# --- Run status ---------------------------------------------------------------------------


def cut_short_text(summary: Mapping[str, Any]) -> str | None:
    """One sentence saying the run was cut short and how much of it ran; None if complete."""
    if summary.get("complete", False):
        return None
    ran, planned = finite(summary.get("duration_s")), finite(summary.get("duration_planned_s"))
    if ran is not None and planned:
        span = f"the records cover {ran:.1f} s of the planned {planned:.1f} s"
    elif ran is not None:
        span = f"the records cover {ran:.1f} s"
    else:
        span = "no attempt was recorded"
    end = "" if summary.get("ended_at") else " (no end time was recorded: the run was killed)"
    return f"The run was cut short{end}; {span}."


def unreverted_windows(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Chaos windows applied but never recorded as reverted (status ``active_at_end``)."""
    windows = summary.get("chaos_windows") or []
    return [w for w in windows if isinstance(w, Mapping) and w.get("status") == "active_at_end"]


# --- Findings -----------------------------------------------------------------------------


def severity_rank(severity: Any) -> int:
    """0 for ``critical`` up to 3 for ``low``; unknown severities sort last."""
    text = str(severity).lower()
    return SEVERITY_ORDER.index(text) if text in SEVERITY_ORDER else len(SEVERITY_ORDER)


def findings(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The summary's findings (``[]`` when absent), most severe first, stable otherwise."""
    raw = summary.get("findings")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    items = [f for f in raw if isinstance(f, Mapping)]
    return sorted(items, key=lambda f: severity_rank(f.get("severity")))


def severity_of(finding: Mapping[str, Any]) -> str:
    """A finding's severity in lower case (``"unknown"`` when missing)."""
    return str(finding.get("severity") or "unknown").lower()


def finding_id(finding: Mapping[str, Any]) -> str:
    """A finding's id, else its type, else ``"finding"``."""
    return str(finding.get("id") or finding.get("type") or "finding")


def as_text(value: Any) -> str:
    """Evidence, meaning or fix as one line of text, whatever its JSON shape.

    A mapping becomes ``"k: v; k: v"``, a list ``"a; b"``, None ``""``; shares stay as
    the summary gives them.
    """
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {as_text(v)}" for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "; ".join(as_text(v) for v in value)
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def severity_counts(summary: Mapping[str, Any]) -> dict[str, int]:
    """Findings per severity, ``critical`` first: counted from ``findings`` when it is a
    list, else taken from ``findings_by_severity``."""
    counts = dict.fromkeys(SEVERITY_ORDER, 0)
    given = summary.get("findings_by_severity")
    raw = summary.get("findings")
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        for f in findings(summary):
            counts[severity_of(f)] = counts.get(severity_of(f), 0) + 1
    elif isinstance(given, Mapping):
        for sev, n in given.items():
            counts[str(sev).lower()] = int(finite(n) or 0)
    return counts


def findings_headline(summary: Mapping[str, Any]) -> str:
    """``"2 findings: 1 critical, 1 high"``, or ``"no findings"``."""
    counts = {k: n for k, n in severity_counts(summary).items() if n}
    total = sum(counts.values())
    if not total:
        return "no findings"
    parts = ", ".join(f"{n} {sev}" for sev, n in counts.items())
    return f"{total} finding{'s' if total != 1 else ''}: {parts}"


# --- Recovery -----------------------------------------------------------------------------


def recovery(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Recovery per chaos window, in the summary's order, each with its ``label``.

    ``summary["recovery"]`` maps a window label to ``{fault, reverted_s, recovered_at_s,
    recovery_s, recovered, status, baseline_success, margin}``; a list of dicts with a
    ``label`` is accepted too. Returns ``[]`` when absent.
    """
    raw = summary.get("recovery")
    if isinstance(raw, Mapping):
        return [{**v, "label": str(k)} for k, v in raw.items() if isinstance(v, Mapping)]
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return [dict(v) for v in raw if isinstance(v, Mapping)]
    return []


#: Recovery statuses that mean the window ended and success did not come back.
NOT_RECOVERED_STATUSES: frozenset[str] = frozenset({"did not recover", "not recovered"})


def recovery_state(rec: Mapping[str, Any]) -> str:
    """``recovered``, ``not_recovered`` or ``unknown`` (no verdict, e.g. never reverted)."""
    status = str(rec.get("status") or "").replace("_", " ").strip().lower()
    if rec.get("recovered") is True:
        return "recovered"
    if status in NOT_RECOVERED_STATUSES or (rec.get("recovered") is False and not status):
        return "not_recovered"
    return "unknown"


def baseline_success(rec: Mapping[str, Any]) -> float | None:
    """The baseline success rate (0..1) a window's recovery was measured against."""
    value = rec.get("baseline_success")
    return finite(rec.get("baseline_success_rate") if value is None else value)


def recovery_text(rec: Mapping[str, Any]) -> str:
    """How one window recovered: ``"recovered in 3.5 s"``, ``"did not recover"``, or its status."""
    seconds = finite(rec.get("recovery_s"))
    status = str(rec.get("status") or "").replace("_", " ")
    state = recovery_state(rec)
    if state == "recovered":
        if seconds is None:
            return "recovered"
        if seconds == 0 and rec.get("degraded") is False:
            return "did not degrade"
        return f"recovered in {seconds:.1f} s"
    if state == "not_recovered":
        return "did not recover"
    return status or "no data"


def gate_metric(result: Any) -> str:
    """What a gate result measured: ``"recovery_s(cpu#1)"``, ``"ok[valid]@baseline"``, ...

    Reads the optional ``fault``, ``severity`` and ``phase`` of newer gate results with
    ``getattr``, so older results print too; no kind means all token kinds.
    """
    fault, severity = getattr(result, "fault", None), getattr(result, "severity", None)
    of = f"({fault})" if fault else f"(>= {severity})" if severity else ""
    kind = f"[{result.token_kind}]" if result.token_kind else ""
    phase = getattr(result, "phase", None)
    return f"{result.metric}{of}{kind}" + (f"@{phase}" if phase else "")


# --- Shared lines -------------------------------------------------------------------------


def success_of_expected(kinds: Mapping[str, Any], accept: bool) -> float | None:
    """ok / counted (0..1) over the token kinds that expect ``accept`` (or rejection)."""
    ok = counted = 0
    for sec in kinds.values():
        if (sec.get("expected") == "accept") is accept:
            ok += int((sec.get("verdicts") or {}).get("ok", 0))
            counted += int(sec.get("counted", 0))
    return ok / counted if counted else None


def warnings(summary: Mapping[str, Any]) -> list[str]:
    """Warnings a reader must not miss, one sentence each.

    A run cut short, chaos windows with no recorded revert, and attempts that failed
    inside the load generator (the harness's failure, not the target's).
    """
    out: list[str] = []
    cut = cut_short_text(summary)
    if cut:
        out.append(f"WARNING: {cut}")
    for w in unreverted_windows(summary):
        out.append(
            f"WARNING: chaos window {w.get('label')} ({w.get('fault')}) was applied but no "
            "revert was recorded: it was still active when the record ends; check that the "
            "target was restored."
        )
    share = finite(summary.get("generator_fault_share"))
    if share:
        count = (summary.get("total") or {}).get("verdicts", {}).get("generator_fault", 0)
        out.append(
            f"WARNING: {count} attempts ({share * 100:.1f}%) failed inside the load"
            " generator (out of file descriptors or ports): that is the harness's own failure,"
            " not the target's."
        )
    return out
