"""Crash rules (pure): the target process died, or the service behind a proxy is down; what
clients saw afterwards is not the service's way of refusing."""

from __future__ import annotations

from harness.analysis.rules import Hit, Rule, RunView, died_at_s, percent
from harness.analysis.rules_configuration import (
    CAPACITY_REFUSED,
    MIN_CONFIG_REFUSALS,
    NOT_FOUND_OUTCOMES,
    not_capacity,
    statuses_of,
)


def check_target_died(view: RunView) -> Hit | None:
    """The target process died during the run, and how many attempts met it dead."""
    died = view.summary.target_died
    if died is None:
        return None
    at = "" if died.at_s is None else f" at {died.at_s:.1f} s"
    after = int((view.attempts["end_s"] >= died_at_s(view.summary)).sum())
    return Hit(
        f"the target (PID {died.pid}) died{at}: {died.how}; {after} attempts after it met a "
        "dead service and are left out of the capacity findings"
    )


TARGET_DIED = Rule(
    "target-died", "crash", "critical",
    "The target process died during the run",
    "The service's process ended while the load went on, and no chaos fault ended it: a "
    "crash, not a capacity limit. What clients saw afterwards (refused, reset) says nothing "
    "about how the service refuses when it is full.",
    "Find the cause in the service's log (target.log for the embedded target), its exit "
    "status or signal above, and the kernel log (an OOM kill); fix it, and supervise the "
    "service so it restarts.",
    check_target_died,
)  # fmt: skip


def check_upstream_down(view: RunView) -> Hit | None:
    """502/504 at the upgrade, or 503 from a run where no valid token was ever accepted."""
    total = view.summary.total
    explained = not_capacity(view.summary) - NOT_FOUND_OUTCOMES
    n = sum(total.outcomes.get(o, 0) for o in explained)
    if n < MIN_CONFIG_REFUSALS:
        return None
    tail = "; no valid token was ever accepted" if explained >= CAPACITY_REFUSED else ""
    return Hit(
        f"{n} of {total.counted} attempts ({percent(n, total.counted)}) were answered "
        f"{statuses_of(view, explained)} at the upgrade{tail}"
    )


UPSTREAM_DOWN = Rule(
    "upstream-down", "crash", "high",
    "The service behind the proxy is down or unreachable",
    "A gateway answered for the service: 502/504 say the proxy could not reach it, and "
    "503 with not one session ever accepted says nothing behind the proxy is serving. The "
    "service is down or misrouted, not full: sizing it will not help.",
    "Check that the service behind the proxy runs and that the proxy's upstream (host, "
    "port, health check) points at it; then run again.",
    check_upstream_down,
)  # fmt: skip
