"""The report's chart files and their captions (data only: no matplotlib).

The HTML page and ``summary.md`` name the charts from here without importing the drawing
code; :mod:`harness.render.charts.run` draws them in this order.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Every chart file of a run's report, in report order, with its caption (what, with units).
CHART_CAPTIONS: Mapping[str, str] = {
    "success_rate.png": "Success rate over time per token kind (expected outcome / counted).",
    "outcomes.png": "Outcomes per token kind: close codes and HTTP statuses named.",
    "outcomes_by_phase.png": "Outcomes per chaos phase (all token kinds): how refusals "
    "changed under each fault and after it.",
    "handshake_latency.png": "Handshake time p50/p95/p99 over time (ms).",
    "attempts_rate.png": "Attempts per second by verdict over time.",
    "open_connections.png": "Open WebSocket connections over time (client side, from the "
    "records) and the target's own TCP connection count.",
    "open_durations.png": "How long connections stayed open (s): held as planned vs closed "
    "early by the server vs dropped.",
    "target_resources.png": "Target CPU, memory, open file descriptors and connections.",
    "phases.png": "Per chaos phase: success rate per token kind; refusals graceful vs abrupt.",
    "recovery.png": "Time to recover after each fault (s from its revert until success is "
    "back near baseline).",
}
CHART_FILES: tuple[str, ...] = tuple(CHART_CAPTIONS)

#: Charts drawn only when the run had chaos (a run without it is one baseline phase).
PHASE_CHARTS: frozenset[str] = frozenset({"outcomes_by_phase.png", "phases.png"})
#: Drawn only when the summary has a recovery entry.
RECOVERY_CHART = "recovery.png"

#: The comparison's charts, with their captions.
COMPARE_CAPTIONS: Mapping[str, str] = {
    "success_rate.png": "Success rate over time per token kind: A solid, B dashed.",
    "handshake_latency.png": "Handshake time p50 and p95 over time (ms): A solid, B dashed.",
    "outcomes.png": "Outcome shares per token kind, A and B side by side (hatched: not the "
    "expected outcome).",
}


def expected_charts(has_chaos: bool, has_recovery: bool) -> tuple[str, ...]:
    """The chart files a report draws, in order: phase charts only with chaos, the recovery
    chart only with recovery entries."""
    return tuple(
        name
        for name in CHART_FILES
        if (has_chaos or name not in PHASE_CHARTS) and (has_recovery or name != RECOVERY_CHART)
    )
