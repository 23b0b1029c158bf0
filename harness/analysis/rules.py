"""What a finding rule is, what its check reads and returns, and the helpers every rule uses
(pure).

Each rule is a :class:`Rule`: an id, a type (``token``, ``resource``, ``connection``,
``crash``, ``configuration``), a default severity, a title, what it means, how to fix it, and
a small pure check that reads a :class:`RunView` and returns the evidence (a :class:`Hit`,
with numbers) or None. A check may raise the severity or change the type, meaning or fix for
what it saw (e.g. ``slow-recovery`` is high when a window never recovered, medium when it
only took long). Rules stay silent rather than guess: below their sample minimums they report
nothing. Rates count as :mod:`harness.analysis.stats` says (excluded attempts and generator
faults are not the target's). The rules live by type in ``rules_*.py``; the catalogue and the
engine that applies them is :mod:`harness.analysis.findings`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.run import Run
from harness.analysis.summary import (
    Phase,
    Section,
    Summary,
)
from harness.config.scenario import SEVERITIES
from harness.protocol.outcomes import ABRUPT_OUTCOMES, AUTH_REJECTIONS, Outcome

SEVERITY_RANK: Mapping[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


def severity_at_least(severity: str, floor: str) -> bool:
    """True when ``severity`` ranks at or above ``floor`` (both from :data:`SEVERITIES`)."""
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[floor]


@dataclass(frozen=True)
class RunView:
    """What a check reads: the summary (without findings yet) and the run.

    Attributes:
        summary: the run's summary, with recovery.
        run: the run: its attempts carry ``t_s``, ``end_s`` and ``phase``.
        disrupted: per attempt, it listed, or started or ended inside, the window of a
            disruptive fault (one that cuts or delays clients itself).
    """

    summary: Summary
    run: Run
    disrupted: npt.NDArray[np.bool_]

    @property
    def attempts(self) -> pd.DataFrame:
        return self.run.attempts

    def phases(self, kind: str) -> list[Phase]:
        """The summary's phases of ``kind`` (``baseline``, ``during``, ``after``), in order."""
        return [p for p in self.summary.phases.values() if p.kind == kind]

    def disruptive(self, label: str) -> bool:
        """The window ``label`` is of a disruptive fault (see :mod:`harness.rundir.chaos_log`)."""
        window = self.summary.window(label)
        return window is not None and window.disruptive

    def column(self, name: str) -> pd.Series[str]:
        """An attempts column as ``string`` (NA where missing)."""
        return self.attempts[name].astype("string")


@dataclass(frozen=True)
class Hit:
    """What a check saw: the evidence, and anything it changes from the rule's defaults."""

    evidence: str
    severity: str | None = None
    type: str | None = None
    meaning: str | None = None
    fix: str | None = None


@dataclass(frozen=True)
class Rule:
    """One diagnostic rule (see the module docstring)."""

    id: str
    type: str
    severity: str
    title: str
    meaning: str
    fix: str
    check: Callable[[RunView], Hit | None]


#: Seconds before the target was seen dead from which attempts count as having met its
#: death: the harness looks every 0.2 s, and a client sees a dead peer before it does.
DEATH_SLACK_S = 1.0


def died_at_s(summary: Summary) -> float:
    """From when attempts met the target dead (s since the start; :data:`DEATH_SLACK_S`
    before it was seen gone), infinity when it did not die."""
    died = summary.target_died
    return math.inf if died is None or died.at_s is None else died.at_s - DEATH_SLACK_S


def disrupted(summary: Summary, attempts: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Attempts that listed, or started or ended inside, a window of a disruptive fault, and
    attempts that ended after the target died (they met a dead service: a crash, not the
    service's way of refusing)."""
    t, end = attempts["t_s"].to_numpy(dtype=float), attempts["end_s"].to_numpy(dtype=float)
    bad = {w.label for w in summary.chaos_windows if w.disruptive}
    lists = attempts["chaos"].to_numpy(dtype=object)
    out = np.zeros(len(lists), dtype=bool)
    if bad:  # a loop over the lists, not Series.map: a million rows in a big run
        out[:] = [any(str(x) in bad for x in v) if v else False for v in lists]
    for w in summary.chaos_windows:
        if w.applied_s is not None and w.disruptive:
            stop = math.inf if w.reverted_s is None else w.reverted_s
            out |= (t < stop) & (end >= w.applied_s)
    out |= end >= died_at_s(summary)
    return out


def percent(num: int, den: int) -> str:
    """``num / den`` as a percentage with one decimal (``"13.3%"``), ``n/a`` without ``den``."""
    return f"{100.0 * num / den:.1f}%" if den else "n/a"


def breakdown(counts: Mapping[str, int], keep: Callable[[str], bool]) -> str:
    """``a 3, b 1`` for the kept keys of a count table, most frequent first."""
    pairs = sorted(((k, int(v)) for k, v in counts.items() if keep(k)), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v}" for k, v in pairs if v)


def valid_section(kinds: Mapping[str, Section]) -> Section | None:
    """The ``valid`` token kind's section, None when there is none."""
    return kinds.get("valid")


ABRUPT = frozenset(o.value for o in ABRUPT_OUTCOMES)


AUTH = frozenset(o.value for o in AUTH_REJECTIONS)


#: Outcomes that refuse (or drop) a client, the target's doing.
REFUSALS = frozenset(o.value for o in Outcome) - {
    Outcome.ACCEPTED.value,
    Outcome.GENERATOR_FAULT.value,
    Outcome.INTERRUPTED.value,
}
