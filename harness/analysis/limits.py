"""Declared limits (pure): where a service refused, against what it promises (``target.expect``).

A service that declares ``max_connections: 200, refusals: [503, 1013]`` promises to serve 200
concurrent connections and to refuse more with a 503 upgrade response or a 1013 close.

The harness can only count the connections it holds itself: an attempt whose WebSocket
opened (``open_s`` known) holds one until its ``end_s``, unless it is itself a declared
refusal (a 1013 close right after the upgrade holds nothing). A refusal is *at the declared
limit* when, as its answer came (its ``open_at_s``), the harness held at least
``max_connections`` less :meth:`DeclaredLimits.slack`, counting each connection from its
start (``t_s``): a service counts a connection from its TCP accept, before its upgrade is
answered, and connections closing as it decides, or a few of other clients', are not the
service breaking its promise. The most held open at once counts each connection only once
it opened (``open_at_s``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Share of the declared limit below it that still counts as at the limit ...
LIMIT_SLACK_SHARE = 0.05
#: ... and at least this many connections.
LIMIT_SLACK_MIN = 2


@dataclass(frozen=True)
class DeclaredLimits:
    """``target.expect`` as the run's ``scenario.json`` holds it."""

    max_connections: int | None
    refusals: frozenset[int]

    @classmethod
    def of(cls, scenario: Mapping[str, Any]) -> DeclaredLimits | None:
        """The declared limits of a scenario dict; None when it declares no connection
        limit (older run directories have no ``target.expect``)."""
        target = scenario.get("target")
        expect = target.get("expect") if isinstance(target, Mapping) else None
        if not isinstance(expect, Mapping):
            return None
        limit = expect.get("max_connections")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return None
        codes = expect.get("refusals") or ()
        return cls(limit, frozenset(int(c) for c in codes if isinstance(c, int)))

    def slack(self) -> int:
        """Connections below the limit that still count as at it (see the module docstring)."""
        limit = self.max_connections or 0
        return max(LIMIT_SLACK_MIN, math.ceil(LIMIT_SLACK_SHARE * limit))

    @property
    def floor(self) -> int:
        """The fewest connections held open at which a refusal is at the limit."""
        return max(1, (self.max_connections or 0) - self.slack())


def declared_refusals(attempts: pd.DataFrame, limits: DeclaredLimits) -> npt.NDArray[np.bool_]:
    """Attempts refused with a declared answer: an upgrade refused with one of its HTTP
    statuses, or a close frame from the server with one of its close codes."""
    codes = list(limits.refusals)
    status = attempts["http_status"]
    refused_upgrade = (status.isin(codes) & (status != 101)).fillna(False)
    by_server = (attempts["closed_by"].astype("string") == "server").fillna(False)
    closed = (attempts["close_code"].isin(codes) & by_server).fillna(False)
    return (refused_upgrade | closed).to_numpy(dtype=bool)


def held_open_at(
    attempts: pd.DataFrame,
    times: npt.NDArray[np.float64],
    limits: DeclaredLimits,
    *,
    since: str = "t_s",
) -> npt.NDArray[np.int64]:
    """How many connections the harness held at each of ``times`` (s since the start), each
    from its ``since`` column (``t_s``: its start; ``open_at_s``: once open) to its end."""
    opened = attempts["open_s"].notna().to_numpy(dtype=bool) & ~declared_refusals(attempts, limits)
    start = attempts[since].to_numpy(dtype=float)[opened]
    end = attempts["end_s"].to_numpy(dtype=float)[opened]
    known = ~np.isnan(start) & ~np.isnan(end)
    starts, ends = np.sort(start[known]), np.sort(end[known])
    return (
        np.searchsorted(starts, times, side="right") - np.searchsorted(ends, times, side="right")
    ).astype(np.int64)


def answered_at(attempts: pd.DataFrame) -> npt.NDArray[np.float64]:
    """When each attempt's answer came (its ``open_at_s``; -inf where unknown)."""
    at: npt.NDArray[np.float64] = attempts["open_at_s"].to_numpy(dtype=float)
    return np.nan_to_num(at, nan=-math.inf)


def most_held_open(attempts: pd.DataFrame, limits: DeclaredLimits) -> int:
    """The most connections the harness held open at once (each from when it opened)."""
    opened = attempts["open_s"].notna().to_numpy(dtype=bool) & ~declared_refusals(attempts, limits)
    starts = attempts["open_at_s"].to_numpy(dtype=float)[opened]
    starts = starts[~np.isnan(starts)]
    if not len(starts):
        return 0
    return int(held_open_at(attempts, starts, limits, since="open_at_s").max())


def at_declared_limit(attempts: pd.DataFrame, limits: DeclaredLimits) -> npt.NDArray[np.bool_]:
    """Attempts refused with a declared answer while the harness held the declared limit
    (less the slack): the service keeping its promise."""
    refused = declared_refusals(attempts, limits)
    out = np.zeros(len(attempts), dtype=bool)
    if refused.any():
        held = held_open_at(attempts, answered_at(attempts)[refused], limits)
        out[np.flatnonzero(refused)] = held >= limits.floor
    return out
