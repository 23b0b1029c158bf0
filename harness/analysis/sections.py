"""The numbers of a set of attempts (pure): one :class:`~harness.analysis.summary.Section`.

A section is computed the same way for every scope: all attempts of a run, one token kind,
one phase, or one token kind within a phase. Counted attempts, rates and percentiles follow
:mod:`harness.analysis.stats`; graceful and abrupt count attempts by their ``manner``
(derived from the outcome where a record lacks it), whatever the token kind: an empty token
refused with 401 is a graceful refusal too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis import stats
from harness.analysis.summary import Percentiles, Section
from harness.config.scenario import TOKEN_KINDS
from harness.protocol.outcomes import Manner, Verdict

#: How many distinct close reasons each section keeps.
TOP_REASONS = 10
#: The columns of the attempts frame a section reads: scopes are cut from these alone, not
#: from the whole frame (a million rows of fifty columns, copied per phase and token kind).
SECTION_COLUMNS: tuple[str, ...] = (
    "token_kind",
    "expected",
    "outcome",
    "verdict",
    "manner",
    "close_code",
    "close_reason",
    "handshake_ms",
    "ping_rtt_ms_avg",
)


def value_counts(series: pd.Series[Any]) -> dict[str, int]:
    """Counts of the non-null values of ``series`` as text, most frequent first, ties by value."""
    vc = series.dropna().astype(str).value_counts()
    pairs = sorted(((str(k), int(v)) for k, v in vc.items()), key=lambda kv: (-kv[1], kv[0]))
    return dict(pairs)


def expectation(series: pd.Series[Any]) -> str | None:
    """``accept``, ``reject``, ``mixed`` (both), or None for no attempts."""
    values = sorted(str(v) for v in series.dropna().unique())
    if not values:
        return None
    return values[0] if len(values) == 1 else "mixed"


def manners(rows: pd.DataFrame) -> pd.Series[Any]:
    """Each row's manner (``graceful``/``abrupt``/NA), from the outcome where it is missing."""
    given = rows["manner"].astype("string")
    derived = rows["outcome"].astype("string").map(stats.OUTCOME_MANNERS, na_action="ignore")
    return given.fillna(derived.astype("string"))


def array_percentiles(values: pd.Series[Any] | npt.NDArray[Any]) -> dict[str, float | None]:
    """:func:`harness.analysis.stats.percentiles` of a column: the same numbers, the values
    sorted by numpy instead of as a Python list (a million handshakes: 20 ms, not 0.5 s).

    Values that are not numbers, NaN or infinite are skipped. The sort is stable, so
    ``-0.0`` and ``0.0`` keep their order, as ``sorted`` keeps it.
    """
    xs = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return stats.sorted_percentiles(np.sort(xs[np.isfinite(xs)], kind="stable"))


def handshake_percentiles(handshake_ms: pd.Series[Any]) -> Percentiles:
    """p50/p95/p99 of handshake times in ms (:func:`harness.analysis.stats.percentile`)."""
    return Percentiles(**array_percentiles(handshake_ms))


def ping_rtt_percentiles(ping_rtt_ms_avg: pd.Series[Any]) -> Percentiles:
    """p50/p95/p99 in ms of the attempts' average ping round trips (those that had one)."""
    return Percentiles(**array_percentiles(ping_rtt_ms_avg))


def section(rows: pd.DataFrame) -> Section:
    """The section of a set of attempt rows (one token kind, all of them, one phase)."""
    verdict = rows["verdict"].astype("string")
    found = value_counts(verdict)
    verdicts = {v.value: found.get(v.value, 0) for v in Verdict}
    # A verdict string the enum does not know is kept, so nothing disappears silently.
    verdicts.update({k: n for k, n in found.items() if k not in verdicts})
    attempts = len(rows)
    counted = stats.counted(
        attempts, verdicts[Verdict.EXCLUDED.value], verdicts[Verdict.GENERATOR_FAULT.value]
    )
    close_codes = pd.to_numeric(rows["close_code"], errors="coerce").dropna().astype(int)
    codes = {str(c): int(n) for c, n in sorted(close_codes.value_counts().items())}
    reasons = rows["close_reason"].astype("string")
    reasons = reasons[reasons.notna() & (reasons.str.strip() != "")]
    how = rows[MANNER_FILLED] if MANNER_FILLED in rows.columns else manners(rows)
    graceful = int((how == Manner.GRACEFUL.value).fillna(False).sum())
    abrupt = int((how == Manner.ABRUPT.value).fillna(False).sum())
    return Section(
        attempts=attempts,
        counted=counted,
        expected=expectation(rows["expected"]),
        outcomes=value_counts(rows["outcome"]),
        verdicts=verdicts,
        success_rate=stats.success_rate(verdicts[Verdict.OK.value], counted),
        abrupt_rate=stats.abrupt_rate(verdicts[Verdict.ABRUPT.value], counted),
        graceful=graceful,
        abrupt=abrupt,
        graceful_share=stats.graceful_share(graceful, abrupt),
        handshake_ms=handshake_percentiles(rows["handshake_ms"]),
        ping_rtt_ms=ping_rtt_percentiles(rows["ping_rtt_ms_avg"]),
        close_codes=codes,
        close_reasons=dict(list(value_counts(reasons).items())[:TOP_REASONS]),
    )


def ordered_kinds(kinds: pd.Series[Any] | list[str]) -> list[str]:
    """Distinct token kinds, in :data:`TOKEN_KINDS` order first, then the others sorted."""
    values = pd.Series(kinds, dtype=object) if isinstance(kinds, list) else kinds
    present = {str(k) for k in values.dropna().unique()}
    known = [k for k in TOKEN_KINDS if k in present]
    return known + sorted(present - set(known))


#: The column of a :func:`section_view` that holds each row's :func:`manners`.
MANNER_FILLED = "manner_filled"


def section_view(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with only the :data:`SECTION_COLUMNS`, plus :data:`MANNER_FILLED` (each row's
    :func:`manners`, derived once for every scope cut from the view): the same sections,
    cheaper to cut. A view is returned as it is."""
    if MANNER_FILLED in rows.columns:
        return rows
    return rows[list(SECTION_COLUMNS)].assign(**{MANNER_FILLED: manners(rows)})


def kind_sections(rows: pd.DataFrame) -> dict[str, Section]:
    """One section per token kind present in ``rows``, in :func:`ordered_kinds` order."""
    rows = section_view(rows)
    kinds = rows["token_kind"].astype("string")
    return {
        kind: section(rows[(kinds == kind).fillna(False).to_numpy(dtype=bool)])
        for kind in ordered_kinds(kinds)
    }
