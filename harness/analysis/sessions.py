"""Sessions and reconnects (pure): how users got their connection back, and who never did.

A session is a user's logical connection (``load.reconnect``): the records of one session
share its ``session`` id and are numbered by ``session_attempt`` (0 the first attempt, n the
n-th reconnect). Per session, in attempt order:

- an **outage** begins at the end of an attempt that did not end as a completed session (lost
  after opening, refused, dropped, timed out) and that a reconnect followed;
- it ends at the opening of the next attempt of the session that reached the open WebSocket
  (its start plus TCP connect, TLS and upgrade): its length is the **time to reconnect**;
- an outage no reconnect ended is lost: the session gave up (``max_attempts`` reconnects in
  a row failed), stopped (an auth failure, a server disconnect) or the run ended first.

A valid-token session whose last attempt was an auth rejection is counted apart: a front end
would send its user back to login.

After each restart or kill of the target (a ``process`` chaos window): how many sessions lost
their connection around it, how long until the last was back (time to full reconnection) and
how bunched their reconnects were: the busiest bin over the mean per bin (see
:func:`peak_to_mean`), from the window's start until 95 % of them were back. Clients without jitter
all retry after the same delay and stampede; jitter spreads them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.frames import paused_gc
from harness.analysis.run import Run
from harness.analysis.stats import NOT_COUNTED, percentile, ratio
from harness.analysis.summary import RestartReconnects, Sessions
from harness.numbers import finite, rounded
from harness.protocol.outcomes import AUTH_REJECTIONS, SESSION_ENDING

#: As text, for the outcome columns of the attempts frame.
SESSION_ENDING_VALUES: frozenset[str] = frozenset(o.value for o in SESSION_ENDING)
AUTH_REJECTION_VALUES: frozenset[str] = frozenset(o.value for o in AUTH_REJECTIONS)

#: An outage belongs to a restart when it began from this long before the window's start
#: to this long after its end (s): connections cut by the stop, refusals while it was down.
LOST_BEFORE_S = 0.5
LOST_AFTER_S = 1.0
#: The narrowest bin of the reconnect stampede measure (s): clients without jitter retry
#: within milliseconds of each other, so a bin this fine shows them bunched ...
STAMPEDE_BIN_S = 0.1
#: ... widened until an even spread would put this many reconnects in each bin.
STAMPEDE_PER_BIN = 5
#: The reconnect wave ends when this share of the sessions a restart cut were back.
STAMPEDE_BACK_SHARE = 0.95
#: A server close this soon after a token's exp (s) closed the session for its expiry.
EXPIRY_CLOSE_SLACK_S = 2.0
#: Fewer reconnects than this say nothing about bunching.
STAMPEDE_MIN_ATTEMPTS = 10


def reconnect_policy(scenario: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run's ``load.reconnect`` as written to ``scenario.json`` ({} when absent)."""
    load = scenario.get("load")
    policy = load.get("reconnect") if isinstance(load, Mapping) else None
    return policy if isinstance(policy, Mapping) else {}


@dataclass(frozen=True)
class Outage:
    """One stretch of a session without a connection (s since the run's start)."""

    session: str
    begun: float | None  # the end of the attempt that was lost or refused
    back: float | None  # the opening of the reconnect that ended it; None: never


def session_outages(session: str, rows: Sequence[Mapping[Any, Any]]) -> list[Outage]:
    """The outages of one session's rows of the attempts frame (with ``open_at_s`` and
    ``end_s``, :mod:`harness.analysis.run`), in attempt order."""
    out: list[Outage] = []
    current: Outage | None = None
    for i, row in enumerate(rows):
        if current is not None and row.get("stage") == "open":
            out.append(replace(current, back=finite(row.get("open_at_s"))))
            current = None
        ending = str(row.get("outcome")) in SESSION_ENDING_VALUES
        if current is None and not ending and i + 1 < len(rows):
            current = Outage(session, finite(row.get("end_s")), None)
    if current is not None:
        out.append(current)
    return out


def reconnect_time(o: Outage) -> float | None:
    """Seconds from an outage's start to the reconnect that ended it (None: never ended)."""
    if o.back is None or o.begun is None:
        return None
    return max(0.0, o.back - o.begun)


@dataclass(frozen=True)
class SessionWalk:
    """The outages of every session and the facts of each session's last attempt, from one
    pass over the attempts sorted by session and attempt (see :func:`walk_sessions`).

    Arrays hold one value per session, in the sorted order.
    """

    outages: list[Outage]
    last_valid: npt.NDArray[np.bool_]  # the last attempt's token kind is valid
    last_auth_rejected: npt.NDArray[np.bool_]  # ... and it ended in an auth rejection
    last_outcome_ends: npt.NDArray[np.bool_]  # ... it ended the session by itself
    #: the session's last outage was never ended by a reconnect that opened
    ends_without_reconnect: npt.NDArray[np.bool_]
    #: reconnects in a row at the end of the session that never reached the open WebSocket
    trailing_reconnects: npt.NDArray[np.int64]
    max_reconnects: int  # the highest session_attempt of a session's last attempt (NA: 0)


def walk_sessions(order: pd.DataFrame) -> SessionWalk:
    """:func:`session_outages` of every session at once (vectorised, same result).

    ``order`` holds the attempts sorted by ``session`` then attempt, so that each session's
    rows are contiguous. Within a session, an opened attempt starts a new segment (so does
    the session's first row); an outage begins at the first row of a segment that neither
    ended the session by itself nor was its last attempt (while an outage is pending no
    other begins, and the opened row that ends it may begin the next). It ends at the next
    segment's first row, an opened attempt, at its ``open_at_s``; none when the session has
    no next segment.
    """
    n = len(order)
    codes, names = pd.factorize(order["session"].astype(str))
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = codes[1:] != codes[:-1]
    last = np.append(new[1:], True) if n else new
    opened = (order["stage"] == "open").fillna(False).to_numpy(dtype=bool)
    ends = order["outcome"].isin(SESSION_ENDING_VALUES).fillna(False).to_numpy(dtype=bool)
    end_s = pd.to_numeric(order["end_s"], errors="coerce").to_numpy(dtype=float)
    open_at = pd.to_numeric(order["open_at_s"], errors="coerce").to_numpy(dtype=float)
    segment = np.cumsum(new | opened) - 1  # 0-based segment of each row
    seg_first = np.flatnonzero(new | opened)  # the first row of each segment
    group = np.cumsum(new) - 1
    group_first = np.flatnonzero(new)
    group_last = np.flatnonzero(last)
    eligible = np.flatnonzero(~ends & ~last)
    first_in_segment = np.ones(len(eligible), dtype=bool)
    first_in_segment[1:] = segment[eligible][1:] != segment[eligible][:-1]
    starts = eligible[first_in_segment]
    # each outage ends at the first row of the next segment, when that is the same session's
    nxt = segment[starts] + 1
    inside = np.flatnonzero(nxt < len(seg_first))
    rows = seg_first[nxt[inside]]
    same = ~new[rows]
    back = np.full(len(starts), np.nan)
    back[inside[same]] = open_at[rows[same]]
    begun = end_s[starts]
    sid = np.asarray(names, dtype=object)[codes[starts]]
    with paused_gc():
        outages = [
            Outage(str(s), _finite(b), _finite(k))
            for s, b, k in zip(sid.tolist(), begun.tolist(), back.tolist(), strict=True)
        ]
    # the last outage of each session (its last start), and whether a reconnect ended it
    unended = np.zeros(len(group_first), dtype=bool)
    if len(starts):
        last_start = np.append(group[starts][1:] != group[starts][:-1], True)
        unended[group[starts][last_start]] = ~np.isfinite(back[last_start])
    last_open = np.full(len(group_first), -1, dtype=np.int64)
    open_rows = np.flatnonzero(opened)
    np.maximum.at(last_open, group[open_rows], open_rows)
    position = np.where(last_open >= 0, last_open - group_first, 0)
    attempt = pd.to_numeric(order["session_attempt"], errors="coerce").to_numpy(dtype=float)
    last_attempt = attempt[group_last]
    last_attempt = np.trunc(last_attempt[np.isfinite(last_attempt)])
    return SessionWalk(
        outages=outages,
        last_valid=(order["token_kind"] == "valid").fillna(False).to_numpy(dtype=bool)[group_last],
        last_auth_rejected=order["outcome"]
        .isin(AUTH_REJECTION_VALUES)
        .fillna(False)
        .to_numpy(dtype=bool)[group_last],
        last_outcome_ends=ends[group_last],
        ends_without_reconnect=unended,
        trailing_reconnects=(group_last - group_first - np.maximum(position, 0)).astype(np.int64),
        max_reconnects=max(0, int(last_attempt.max())) if len(last_attempt) else 0,
    )


#: The columns :func:`walk_sessions` reads.
WALK_COLUMNS: tuple[str, ...] = (
    "session",
    "session_attempt",
    "stage",
    "outcome",
    "token_kind",
    "open_at_s",
    "end_s",
)


#: The columns the sessions are computed from.
SESSION_COLUMNS: tuple[str, ...] = (
    *WALK_COLUMNS,
    "t_s",
    "t_start",
    "token_exp",
    "closed_by",
    "verdict",
    "token_refreshed",
)


def session_order(df: pd.DataFrame) -> pd.DataFrame:
    """The :data:`WALK_COLUMNS` of ``df``'s attempts sorted by session, then attempt number,
    then start (stable; missing numbers last): what :func:`walk_sessions` reads.

    The same order as ``df.sort_values(["session", "session_attempt", "t_start"],
    kind="stable")``, sorted by integer codes (sessions in text order) instead of strings.
    """
    codes, _ = pd.factorize(df["session"].astype(str), sort=True)
    attempt = pd.to_numeric(df["session_attempt"], errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    start = pd.to_numeric(df["t_start"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    rows = np.lexsort((start, attempt, codes))  # the last key first; NaN sort last
    return df[list(WALK_COLUMNS)].take(rows)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def compute_sessions(run: Run) -> Sessions | None:
    """Sessions and reconnects of the run; None when its scenario does not reconnect."""
    policy = reconnect_policy(run.scenario)
    name = str(policy.get("policy") or "none")
    df = run.attempts
    if name == "none" or df.empty or "session" not in df.columns:
        return None
    keep = (df["session"].notna() & (df["session"] != "")).to_numpy(dtype=bool)
    df = df.loc[keep, list(SESSION_COLUMNS)]  # the columns read here, not the whole frame
    if df.empty:
        return Sessions(policy=name, preset=str(policy.get("preset") or "") or None)
    max_attempts = int(finite(policy.get("max_attempts")) or 0)
    walk = walk_sessions(session_order(df))
    outages = walk.outages
    ends = walk.last_outcome_ends
    auth = walk.last_valid & walk.last_auth_rejected
    gives_up = (
        ~auth & walk.ends_without_reconnect & ~ends & (walk.trailing_reconnects >= max_attempts)
    )
    gave_up = int(gives_up.sum()) if max_attempts else 0
    auth_failed = int(auth.sum())
    most = walk.max_reconnects
    times = [t for o in outages if (t := reconnect_time(o)) is not None]
    sessions = int(df["session"].nunique())
    reconnects = int((pd.to_numeric(df["session_attempt"], errors="coerce") > 0).sum())
    return Sessions(
        policy=name,
        preset=str(policy.get("preset") or "") or None,
        sessions=sessions,
        reconnects=reconnects,
        reconnects_per_session=ratio(reconnects, sessions),
        max_reconnects=most,
        outages=len(outages),
        reconnected=len(times),
        time_to_reconnect_p50_s=rounded(percentile(times, 0.50), 3),
        time_to_reconnect_p95_s=rounded(percentile(times, 0.95), 3),
        time_to_reconnect_max_s=rounded(max(times) if times else None, 3),
        gave_up=gave_up,
        auth_failed=auth_failed,
        restarts=restart_reconnects(run, df, outages),
        **token_lifetimes(df, run.started_at),
    )


def token_lifetimes(df: pd.DataFrame, t0: float | None) -> dict[str, Any]:
    """Tokens that expired during a session: connections open at the expiry (closed by the
    server at it, or kept open past it), stale tokens sent again, refreshed tokens."""
    out: dict[str, Any] = {}
    exp = pd.to_numeric(df["token_exp"], errors="coerce") - (t0 or 0.0)
    opened, end = df["open_at_s"], df["end_s"]
    live = ((df["stage"] == "open") & (opened < exp) & (exp < end)).fillna(False)
    past = (end - exp)[live]
    by_server = (df["closed_by"] == "server").fillna(False)[live]
    at_expiry = by_server & (past <= EXPIRY_CLOSE_SLACK_S)
    out["expired_open"] = int(live.sum())
    out["closed_at_expiry"] = int(at_expiry.sum())
    kept = past[~at_expiry]
    out["kept_past_expiry_s"] = rounded(float(kept.max()), 3) if not kept.empty else None
    again = (pd.to_numeric(df["session_attempt"], errors="coerce") > 0).fillna(False)
    again &= ~df["verdict"].isin(NOT_COUNTED).fillna(False)  # not the harness's own stop
    # let in: the WebSocket opened and was not closed for its token (a reset afterwards, by
    # chaos or a restart, does not undo that the token was accepted)
    accepted = ((df["stage"] == "open") & ~df["outcome"].isin(AUTH_REJECTION_VALUES)).fillna(False)
    stale = again & (df["token_kind"] == "expired_reused").fillna(False)
    refreshed = again & (df["token_refreshed"] == True).fillna(False)  # noqa: E712 (NA-safe)
    out["stale_reconnects"] = int(stale.sum())
    out["stale_accepted"] = int((stale & accepted).sum())
    out["refreshed"] = int(refreshed.sum())
    out["refreshed_accepted"] = int((refreshed & accepted).sum())
    return out


def restart_reconnects(
    run: Run, df: pd.DataFrame, outages: list[Outage]
) -> dict[str, RestartReconnects]:
    """For each restart or kill of the target: who lost the connection, when all were back,
    and how bunched the reconnects were (:func:`peak_to_mean`)."""
    out: dict[str, RestartReconnects] = {}
    starts = df["t_s"]
    again = pd.to_numeric(df["session_attempt"], errors="coerce") > 0
    for w in run.windows:
        if w.kind != "process" or w.applied_s is None:
            continue
        lo = w.applied_s - LOST_BEFORE_S
        hi = (w.reverted_s if w.reverted_s is not None else w.applied_s) + LOST_AFTER_S
        hit = [o for o in outages if o.begun is not None and lo <= o.begun <= hi]
        sessions = {o.session for o in hit}
        back = {o.session for o in hit if o.back is not None}
        backs = sorted(o.back for o in hit if o.back is not None)
        full = backs[-1] - w.applied_s if hit and len(back) == len(sessions) else None
        # the reconnect wave: until most sessions were back (a few stragglers, late by
        # jitter or by bad luck, would stretch the mean and hide a stampede)
        most = math.ceil(STAMPEDE_BACK_SHARE * len(hit))
        end = backs[most - 1] if hit and len(backs) >= most else run.end_s
        wave = starts[again & (starts >= w.applied_s) & (starts <= end + STAMPEDE_BIN_S)]
        times = starts[again & (starts >= w.applied_s)]
        if full is not None:
            times = times[times <= w.applied_s + full + STAMPEDE_BIN_S]
        out[w.label] = RestartReconnects(
            label=w.label,
            applied_s=w.applied_s,
            lost=len(sessions),
            reconnected=len(back),
            full_reconnection_s=rounded(full, 3),
            reconnect_attempts=int(times.size),
            peak_to_mean=rounded(peak_to_mean(wave.to_numpy(dtype=float), w.applied_s), 3),
        )
    return out


def peak_to_mean(times: Any, start: float | None = None) -> float | None:
    """The busiest bin of ``times`` (s) over the mean per bin, from ``start`` (default: the
    first) to the last.

    Bins are :data:`STAMPEDE_BIN_S` wide, or wider so that an even spread would put
    :data:`STAMPEDE_PER_BIN` reconnects in each: with fewer per bin, chance alone makes
    peaks. After a restart, full jitter read 3.5-4.4 on this machine, clients retrying in
    step 11-15 (``docs/scenario.md``). None with fewer than :data:`STAMPEDE_MIN_ATTEMPTS`,
    or all in one bin.
    """
    n = len(times)
    if n < STAMPEDE_MIN_ATTEMPTS:
        return None
    first = float(min(times)) if start is None else min(start, float(min(times)))
    last = float(max(times))
    span = last - first
    bin_s = max(STAMPEDE_BIN_S, STAMPEDE_PER_BIN * span / n)
    bins = int(span // bin_s) + 1
    if bins < 2:
        return None
    at = (np.asarray(times, dtype=float) - first) // bin_s
    counts = np.bincount(np.minimum(bins - 1, at.astype(np.int64)), minlength=bins)
    return int(counts.max()) / (n / bins)
