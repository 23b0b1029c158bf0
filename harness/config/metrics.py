"""The gate-metric registry (pure): every metric a gate can test, its unit, bounds and meaning.

One list, used by the scenario loader (names, threshold bounds, which metrics need
``fault`` or ``severity``), gate evaluation and compare (names, units, scopes; how each
value is read from the summary stays in :mod:`harness.analysis`), and the docs (the
gate-metric table of ``docs/scenario.md`` is :func:`gate_metric_table`, kept current by
a test).

Definitions the metrics share (one each, used everywhere):

- *counted* attempts: all attempts minus those ``excluded`` (cut by the harness's own
  stop: Ctrl-C, end of run) and minus ``generator_fault`` (the load generator's own
  failures, never the target's).
- a *share* is a number in [0, 1], never a percent; a share without a denominator
  (no counted attempt, no refusal) has no value, and a gate on it fails.
- handshake percentiles are by linear interpolation between the closest ranks, in ms,
  over the attempts that got an upgrade response (a status line: 101 or a refusal).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from harness.config.faults import fmt_num

#: Units of gate metrics: a share in [0, 1], a number of attempts or findings, or a time.
UNITS: tuple[str, ...] = ("share", "count", "ms", "s")
#: Where a metric is read: a summary section, one chaos window's recovery, the findings.
SCOPES: tuple[str, ...] = ("section", "recovery", "findings")
#: The largest count a threshold may name: more attempts than a run can make
#: (100,000 users for 7 days at 100,000 attempts a second is below 10^11).
MAX_COUNT = 1e12
#: The largest time a handshake percentile may name, in ms: one hour, every timeout's bound.
MAX_HANDSHAKE_MS = 3_600_000.0
#: The largest recovery a threshold may name, in s: 7 days, the longest run.
MAX_RECOVERY_S = 604_800.0


@dataclass(frozen=True)
class GateMetric:
    """One gate metric.

    Attributes:
        name: what a gate's ``metric`` says, e.g. ``success_rate``.
        unit: one of :data:`UNITS`: ``share`` (0..1), ``count``, ``ms`` or ``s``.
        doc: one line: what it measures and how it is computed (with its denominator).
        scope: one of :data:`SCOPES`. ``section``: read from a summary section (of the
            gate's token kind, or all kinds; in the gate's phase, or over the whole run);
            ``recovery``: one chaos window's recovery (the gate needs ``fault``; its token
            kind and phase do not apply); ``findings``: the run's findings (the gate needs
            ``severity``; its token kind and phase do not apply).
        low: smallest threshold that makes sense (inclusive; None: no bound).
        high: largest threshold that makes sense (inclusive; None: no bound).
    """

    name: str
    unit: str
    doc: str
    scope: str
    low: float | None = None
    high: float | None = None

    def bounds_text(self) -> str:
        """The threshold bounds as text: ``in [0, 1]``, ``>= 0``, ``<= 5``, or ``any``."""
        if self.low is not None and self.high is not None:
            return f"in [{fmt_num(self.low)}, {fmt_num(self.high)}]"
        if self.low is not None:
            return f">= {fmt_num(self.low)}"
        return f"<= {fmt_num(self.high)}" if self.high is not None else "any"

    def accepts(self, threshold: float) -> bool:
        """The threshold lies within :attr:`low` .. :attr:`high`."""
        low_ok = self.low is None or threshold >= self.low
        return low_ok and (self.high is None or threshold <= self.high)


def _share(name: str, doc: str) -> GateMetric:
    return GateMetric(name, "share", doc, "section", low=0.0, high=1.0)


def _count(name: str, doc: str) -> GateMetric:
    return GateMetric(name, "count", doc, "section", low=0.0, high=MAX_COUNT)


def _handshake(p: int) -> GateMetric:
    doc = (
        f"{p}th percentile of the handshake time (upgrade request sent to its response), "
        "linear interpolation, over attempts that got an upgrade response"
    )
    return GateMetric(f"handshake_p{p}_ms", "ms", doc, "section", low=0.0, high=MAX_HANDSHAKE_MS)


#: Every gate metric by name, in documentation order.
GATE_METRICS: Mapping[str, GateMetric] = MappingProxyType(
    {
        m.name: m
        for m in (
            _share(
                "success_rate",
                "ok / counted: share of counted attempts whose outcome was the expected one",
            ),
            _share(
                "abrupt_rate",
                "abrupt / counted: share of counted attempts that ended without a reason",
            ),
            _share(
                "graceful_share",
                "graceful / (graceful + abrupt): share of the attempts not accepted that the "
                "target ended with a reason (an HTTP status at the upgrade, or a close code)",
            ),
            _count("attempts", "all attempts, the excluded and generator faults included"),
            _count("ok", "counted attempts whose outcome was the expected one"),
            _count(
                "valid_refused",
                "counted attempts with a valid token refused with a reason (availability)",
            ),
            _count(
                "invalid_accepted",
                "counted attempts with an invalid token that got a session (security)",
            ),
            _count(
                "abrupt",
                "counted attempts that ended without a reason where none was expected: reset, "
                "connection refused, dropped before the 101, 1006 (no close frame), timeout",
            ),
            _count(
                "wrong_rejection",
                "counted attempts with an invalid token refused with a reason other than the "
                "expected one (e.g. 503 instead of 401)",
            ),
            _count(
                "generator_fault",
                "attempts the load generator itself failed (EMFILE, no ports): the harness's "
                "fault, not the target's; not counted",
            ),
            _handshake(50),
            _handshake(95),
            _handshake(99),
            GateMetric(
                "recovery_s",
                "s",
                "seconds from a chaos window's end until the success rate of valid tokens is "
                "back near its baseline (needs `fault`: the window's label)",
                "recovery",
                low=0.0,
                high=MAX_RECOVERY_S,
            ),
            GateMetric(
                "findings",
                "count",
                "findings of the run at or above `severity` (needs `severity`)",
                "findings",
                low=0.0,
                high=MAX_COUNT,
            ),
        )
    }
)


def gate_metric_table() -> str:
    """The gate-metric table of ``docs/scenario.md`` (Markdown, one row per metric)."""
    rows = ["| metric | unit | threshold | what it measures |", "|---|---|---|---|"]
    for m in GATE_METRICS.values():
        rows.append(f"| `{m.name}` | {m.unit} | {m.bounds_text()} | {m.doc} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python -m harness.config.metrics: the table for docs/scenario.md
    print(gate_metric_table(), end="")
