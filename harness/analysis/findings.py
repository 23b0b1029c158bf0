"""Findings (pure): every rule applied to a run, the findings most severe first.

The rules are listed in :data:`RULES` (each defined by type in ``rules_*.py`` beside its check
and thresholds: module constants, times in seconds, handshakes in milliseconds, shares 0..1;
what a rule is: :mod:`harness.analysis.rules`). A rule fires at most once per run; its evidence
lists every place it saw the problem.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.rules import SEVERITY_RANK, Rule, RunView, disrupted
from harness.analysis.rules_configuration import (
    FLOW_ERROR,
    GENERATOR_FAULT,
    PROTOCOL_MISMATCH,
    SOCKETIO_PATH_RULE,
    WRONG_PATH,
)
from harness.analysis.rules_connection import (
    CLOSE_WITHOUT_CODE,
    CLOSED_BEFORE_ESTABLISHED,
    NO_HEARTBEAT,
    RECONNECT_STAMPEDE,
    WEBSOCKET_BLOCKED,
)
from harness.analysis.rules_crash import TARGET_DIED, UPSTREAM_DOWN
from harness.analysis.rules_resource import (
    ABRUPT_UNDER_PRESSURE,
    DECLARED_LIMIT,
    HANDSHAKE_LATENCY,
    SLOW_RECOVERY,
    VALID_REFUSED_WITHOUT_CHAOS,
)
from harness.analysis.rules_token import (
    INVALID_TOKEN_ACCEPTED,
    LOGIN_BREAKS,
    SESSION_OUTLIVES_TOKEN,
    STALE_TOKEN_ACCEPTED,
    TOKEN_REFRESH_FAILED,
)
from harness.analysis.run import Run
from harness.analysis.summary import (
    FINDING_TYPES,
    Finding,
    Summary,
)
from harness.config.scenario import SEVERITIES

RULES: tuple[Rule, ...] = (
    TARGET_DIED,
    WRONG_PATH,
    PROTOCOL_MISMATCH,
    SOCKETIO_PATH_RULE,
    FLOW_ERROR,
    UPSTREAM_DOWN,
    INVALID_TOKEN_ACCEPTED,
    STALE_TOKEN_ACCEPTED,
    VALID_REFUSED_WITHOUT_CHAOS,
    DECLARED_LIMIT,
    ABRUPT_UNDER_PRESSURE,
    CLOSED_BEFORE_ESTABLISHED,
    CLOSE_WITHOUT_CODE,
    NO_HEARTBEAT,
    SLOW_RECOVERY,
    GENERATOR_FAULT,
    HANDSHAKE_LATENCY,
    WEBSOCKET_BLOCKED,
    RECONNECT_STAMPEDE,
    LOGIN_BREAKS,
    SESSION_OUTLIVES_TOKEN,
    TOKEN_REFRESH_FAILED,
)


assert all(r.type in FINDING_TYPES and r.severity in SEVERITIES for r in RULES)


assert len({r.id for r in RULES}) == len(RULES), "rule ids must be unique"


def compute_findings(
    summary: Summary, run: Run, rules: Sequence[Rule] = RULES
) -> tuple[Finding, ...]:
    """Every finding of a run (pure), most severe first, then by id.

    Args:
        summary: the run's summary (with ``recovery``; its ``findings`` are not read).
        run: the run the summary is of.
        rules: the rules to apply (default: all of :data:`RULES`).
    """
    view = RunView(summary, run, disrupted(summary, run.attempts))
    out = []
    for rule in rules:
        hit = rule.check(view)
        if hit is None:
            continue
        out.append(
            Finding(
                id=rule.id,
                type=hit.type or rule.type,
                severity=hit.severity or rule.severity,
                title=rule.title,
                evidence=hit.evidence,
                meaning=hit.meaning or rule.meaning,
                fix=hit.fix or rule.fix,
            )
        )
    return tuple(sorted(out, key=lambda f: (-SEVERITY_RANK[f.severity], f.id)))


def findings_by_severity(findings: Sequence[Finding]) -> dict[str, int]:
    """Count of findings per severity, every severity included, highest first."""
    return {s: sum(1 for f in findings if f.severity == s) for s in reversed(SEVERITIES)}
