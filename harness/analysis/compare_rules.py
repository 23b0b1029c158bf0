"""The rules of ``harness compare`` (pure): tolerances, the metric table, one metric's verdict.

The rules are data (:data:`METRICS`): a change is a regression only when B is worse than A
by *more* than its :class:`Tolerance`, and an improvement when B is better by more than the
same amount:

=====================  =====  ==========================================================
metric                 unit   regression when B ...
=====================  =====  ==========================================================
success_rate           share  drops by more than ``success_rate_drop`` (absolute)
abrupt_rate            share  rises by more than ``abrupt_rate_rise``
graceful_share         share  drops by more than ``graceful_share_drop``
valid_refused_rate     share  rises by more than ``valid_refused_rise``
invalid_accepted_rate  share  rises at all (``invalid_accepted_rise`` = 0)
handshake_p95_ms       ms     exceeds A x ``latency_ratio`` and A + ``latency_floor_ms``,
                              both runs have ``latency_min_samples`` handshakes, and the
                              two p95s' confidence intervals do not overlap
attempts_per_s         1/s    drops by more than ``attempts_rate_drop`` (relative; shown,
                              not judged, by default)
gate                   -      passed in A and fails in B
=====================  =====  ==========================================================

``handshake_p50_ms``, ``handshake_p99_ms`` and ``generator_fault_share`` are shown, not
judged; generator faults (the load generator's own failures) give a warning, never a
regression of the target. Shares are per counted attempt (:mod:`harness.analysis.stats`:
neither interrupted attempts nor generator faults count). The metrics that are also gate
metrics take their unit from the gate-metric registry
(:data:`harness.config.metrics.GATE_METRICS`); the p95 compared is the summary's point
estimate (linear interpolation), and its confidence interval (:func:`quantile_ci`) only
decides whether two p95s differ beyond noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Any

import numpy as np

from harness.config.metrics import GATE_METRICS

#: Row verdicts.
REGRESSION = "regression"
IMPROVEMENT = "improvement"
SAME = "within tolerance"
INFO = "not judged"
NO_DATA = "no data"

#: A change must exceed its tolerance by more than this (float noise: 1.0 - 0.99 > 0.01).
EPS = 1e-9


@dataclass(frozen=True)
class Tolerance:
    """How much worse run B may be than run A before a change is a regression.

    A change must be *more* than its tolerance; the same amount the other way is an
    improvement. Defaults suit short loopback runs of the embedded target.
    """

    # Rates: absolute, as shares of counted attempts (0.01 = 1 percentage point)
    success_rate_drop: float = 0.01
    abrupt_rate_rise: float = 0.01
    valid_refused_rise: float = 0.01
    invalid_accepted_rise: float = 0.0  # security: any rise is a regression
    graceful_share_drop: float = 0.05  # share of refusals that gave a reason
    # Latency: handshake p95
    latency_ratio: float = 1.25  # B's p95 may be up to 1.25 x A's ...
    latency_floor_ms: float = 2.0  # ... and differences under 2 ms are loopback noise
    latency_min_samples: int = 100  # handshakes each run needs in a scope to judge its p95
    latency_confidence: float | None = 0.95  # the p95s' CIs must not overlap; None: no check
    # Throughput
    attempts_rate_drop: float | None = None  # relative (0.25: 25% fewer/s); None: not judged

    def __post_init__(self) -> None:
        shares = [f.name for f in fields(self) if f.name.endswith(("_drop", "_rise"))]
        for name in shares:
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"tolerance {name}: expected a share in [0, 1], got {value!r}")
        if not self.latency_ratio >= 1.0 or not self.latency_floor_ms >= 0.0:
            raise ValueError("tolerance: latency_ratio must be >= 1 and latency_floor_ms >= 0")
        conf = self.latency_confidence
        if self.latency_min_samples < 0 or (conf is not None and not 0.0 < conf < 1.0):
            raise ValueError("tolerance: latency_min_samples >= 0, latency_confidence in (0, 1)")


#: The default tolerances (a module constant: a frozen dataclass is safe as a default).
DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True)
class Metric:
    """How one metric is shown and judged.

    Attributes:
        unit: ``share`` (0..1, shown in %), ``ms``, ``per_s`` (1/s) or ``gate`` (1 pass, 0 fail);
            the registry's unit for a gate metric.
        higher_is_better: the good direction; None: shown, not judged.
        tolerance: the :class:`Tolerance` field that bounds a worsening (None: special rule).
        relative: the tolerance is a share of A's value rather than an absolute amount.
    """

    unit: str
    higher_is_better: bool | None
    tolerance: str | None = None
    relative: bool = False


def gate_metric(name: str, higher_is_better: bool | None, tolerance: str | None = None) -> Metric:
    """A compared metric that is also a gate metric: its unit from the registry."""
    return Metric(GATE_METRICS[name].unit, higher_is_better, tolerance)


#: Every compared metric, in display order (see the table in the module docstring).
METRICS: Mapping[str, Metric] = {
    "success_rate": gate_metric("success_rate", True, "success_rate_drop"),
    "abrupt_rate": gate_metric("abrupt_rate", False, "abrupt_rate_rise"),
    "graceful_share": gate_metric("graceful_share", True, "graceful_share_drop"),
    "valid_refused_rate": Metric("share", False, "valid_refused_rise"),
    "invalid_accepted_rate": Metric("share", False, "invalid_accepted_rise"),
    "handshake_p50_ms": gate_metric("handshake_p50_ms", None),
    "handshake_p95_ms": gate_metric("handshake_p95_ms", False),  # the latency rule
    "handshake_p99_ms": gate_metric("handshake_p99_ms", None),
    "attempts_per_s": Metric("per_s", True, "attempts_rate_drop", relative=True),
    "generator_fault_share": Metric("share", None),
    "gate": Metric("gate", True),
}


# --- Rules (pure) -----------------------------------------------------------------------


def quantile_ci(
    values: Sequence[float] | np.ndarray[Any, Any], q: float, confidence: float
) -> tuple[float, float] | None:
    """A distribution-free confidence interval of the ``q`` quantile, from order statistics.

    The count of samples below the true quantile is Binomial(n, q); the interval runs from
    the sample of rank ``floor(n q - z s)`` to that of rank ``ceil(n q + z s) + 1``
    (``s = sqrt(n q (1 - q))``, normal approximation, clipped to the sample), which is
    slightly conservative. Returns (low, high) in the values' unit, None without values.
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n == 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    spread = z * math.sqrt(n * q * (1.0 - q))
    lo = min(n, max(1, math.floor(n * q - spread)))
    hi = min(n, max(1, math.ceil(n * q + spread) + 1))
    return float(ordered[lo - 1]), float(ordered[hi - 1])


def latency_verdict(a: float, b: float, tol: Tolerance, sa: Any, sb: Any) -> tuple[str, str]:
    """The handshake p95 rule (see the module docstring); ``sa``/``sb`` raw ms or None."""
    worse = b > a * tol.latency_ratio + EPS and b - a > tol.latency_floor_ms + EPS
    better = a > b * tol.latency_ratio + EPS and a - b > tol.latency_floor_ms + EPS
    limit = f"x{tol.latency_ratio:g} and {tol.latency_floor_ms:g} ms allowed"
    if not (worse or better):
        return SAME, f"within {limit}"
    verdict = REGRESSION if worse else IMPROVEMENT
    if sa is None or sb is None:
        return verdict, f"beyond {limit} (no raw samples)"
    if min(len(sa), len(sb)) < tol.latency_min_samples:
        return INFO, (
            f"too few handshakes to judge p95 ({len(sa)} / {len(sb)};"
            f" need {tol.latency_min_samples})"
        )
    conf = tol.latency_confidence
    ca = None if conf is None else quantile_ci(sa, 0.95, conf)
    cb = None if conf is None else quantile_ci(sb, 0.95, conf)
    if ca is None or cb is None:
        return verdict, f"beyond {limit}"
    cis = f"{conf:.0%} CI A {ca[0]:.1f}-{ca[1]:.1f} ms, B {cb[0]:.1f}-{cb[1]:.1f} ms"
    if (worse and cb[0] <= ca[1]) or (better and ca[0] <= cb[1]):
        return SAME, f"beyond {limit} but within noise ({cis} overlap)"
    return verdict, f"beyond {limit}; {cis}"


def judge(
    metric: str,
    a: float | None,
    b: float | None,
    tol: Tolerance,
    samples_a: Any = None,
    samples_b: Any = None,
) -> tuple[str, str]:
    """The verdict and note of one metric, A against B (pure).

    Args:
        metric: a key of :data:`METRICS`; a and b its values in its unit.
        tol: the tolerances.
        samples_a, samples_b: raw handshake times (ms) of the scope, for
            ``handshake_p95_ms`` only; None when the run's attempts are not at hand.
    """
    rule = METRICS[metric]
    if a is None or b is None:
        return NO_DATA, "no data in " + (
            "A and B" if a is None and b is None else "A" if a is None else "B"
        )
    if rule.higher_is_better is None:
        return INFO, ""
    if metric == "handshake_p95_ms":
        return latency_verdict(a, b, tol, samples_a, samples_b)
    if metric == "gate":
        if a == b:
            return SAME, ""
        return (REGRESSION, "passed in A, fails in B") if a > b else (IMPROVEMENT, "fixed in B")
    allowed = None if rule.tolerance is None else getattr(tol, rule.tolerance)
    if allowed is None:
        return INFO, "no tolerance set"
    worse_by = (a - b) if rule.higher_is_better else (b - a)
    if rule.relative:
        if a == 0:
            return INFO, "A is 0"
        worse_by /= a
    shown = f"{allowed:.0%}" if rule.relative else f"{allowed * 100:g} pp"
    if worse_by > allowed + EPS:
        return REGRESSION, f"worse by more than {shown}" if allowed else "worse: none allowed"
    if -worse_by > allowed + EPS:
        return IMPROVEMENT, f"better by more than {shown}"
    return SAME, f"within {shown}" if allowed else "unchanged"
