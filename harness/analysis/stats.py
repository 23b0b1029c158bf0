"""The harness's statistics, one definition each (pure, no pandas): every report and the
load edge's progress line count the same way.

- **counted** attempts: ``attempts - excluded - generator_fault``. An attempt the harness
  interrupted (``excluded``) and one that failed inside the load generator
  (``generator_fault``: out of descriptors, ports, memory) say nothing about the target, so
  no rate counts them.
- **success rate**: ``ok / counted`` (0..1); ``ok`` is the expected outcome for the token
  kind (a session for a valid token, a refusal for an invalid one).
- **abrupt rate**: ``abrupt / counted`` (0..1), on the same denominator.
- **graceful share**: ``graceful / (graceful + abrupt)`` refusals (0..1). Graceful and
  abrupt come from :func:`harness.protocol.outcomes.manner`: a refusal that names its
  reason (an HTTP status, a close code) is graceful; a reset, a drop, a timeout, a 1006 is
  abrupt; an accepted session and the harness's own failures are neither.
- **percentiles**: linear interpolation between the two nearest ranks (the sorted values
  ``x[0..n-1]``, ``h = (n - 1) q``, ``x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])``;
  numpy's and pandas' default). The progress line applies it to a sliding window of recent
  handshakes and says so; ``harness compare`` draws a confidence interval around this point
  estimate only to judge whether two p95s differ.

Every rate is None when its denominator is 0 (no data), never 0 or NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Protocol, SupportsFloat

from harness.protocol.outcomes import Outcome, Verdict, manner

#: Verdicts that are not the target's doing: left out of every rate.
NOT_COUNTED: frozenset[str] = frozenset({Verdict.EXCLUDED.value, Verdict.GENERATOR_FAULT.value})

#: The handshake percentiles every report gives (key -> quantile in 0..1).
PERCENTILES: Mapping[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}

#: Manner (``graceful`` / ``abrupt``) of each outcome value; None: accepted, or the harness's own.
OUTCOME_MANNERS: Mapping[str, str | None] = {
    o.value: (m.value if (m := manner(o)) is not None else None) for o in Outcome
}


def counted(attempts: int, excluded: int, generator_fault: int) -> int:
    """Attempts that count in rates: all of them but the excluded and the generator faults."""
    return max(0, attempts - excluded - generator_fault)


def ratio(num: int | float, den: int | float) -> float | None:
    """``num / den``; None when ``den`` is 0 (no data)."""
    return float(num) / float(den) if den else None


def success_rate(ok: int, counted_: int) -> float | None:
    """``ok / counted`` in 0..1 (see the module docstring); None without counted attempts."""
    return ratio(ok, counted_)


def abrupt_rate(abrupt: int, counted_: int) -> float | None:
    """``abrupt / counted`` in 0..1; None without counted attempts."""
    return ratio(abrupt, counted_)


def graceful_share(graceful: int, abrupt: int) -> float | None:
    """``graceful / (graceful + abrupt)`` refusals in 0..1; None without refusals."""
    return ratio(graceful, graceful + abrupt)


def manner_of(outcome: str | None) -> str | None:
    """``graceful``, ``abrupt`` or None (accepted, the harness's own, unknown) for an outcome."""
    return None if outcome is None else OUTCOME_MANNERS.get(outcome)


class SortedValues(Protocol):
    """Sorted finite values: a list, or a numpy array (indexable, with a length)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> SupportsFloat: ...


def _finite_sorted(values: Iterable[float | None]) -> list[float]:
    return sorted(float(v) for v in values if v is not None and math.isfinite(v))


def _interpolate(xs: SortedValues, q: float) -> float | None:
    """The ``q`` quantile of the sorted ``xs`` by linear interpolation; None when empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"percentile: q must be in [0, 1], got {q!r}")
    if len(xs) == 0:
        return None
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    low, high = float(xs[lo]), float(xs[hi])
    return low + (h - lo) * (high - low)


def percentile(values: Iterable[float | None], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; None when there are none.

    None, NaN and infinite values are skipped. Units are the values' (milliseconds for
    handshakes).

    Raises:
        ValueError: ``q`` is not in [0, 1].
    """
    return _interpolate(_finite_sorted(values), q)


def sorted_percentiles(xs: SortedValues) -> dict[str, float | None]:
    """:data:`PERCENTILES` of values already sorted, all finite (a list, or a numpy array
    sorted by the caller: :func:`harness.analysis.sections.array_percentiles`)."""
    return {key: _interpolate(xs, q) for key, q in PERCENTILES.items()}


def percentiles(values: Iterable[float | None]) -> dict[str, float | None]:
    """:data:`PERCENTILES` of ``values`` (e.g. handshake times in ms), None each when empty."""
    return sorted_percentiles(_finite_sorted(values))
