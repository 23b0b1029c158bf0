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
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis.run import Run
from harness.analysis.stats import NOT_COUNTED, percentile, ratio
from harness.analysis.summary import RestartReconnects, Sessions
from harness.protocol.outcomes import AUTH_REJECTIONS, Outcome

#: Outcomes after which a session is over by itself: its plan ran, or the harness stopped it.
SESSION_DONE: frozenset[str] = frozenset({Outcome.ACCEPTED.value, Outcome.INTERRUPTED.value})
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


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _opened_at(row: Mapping[str, Any]) -> float | None:
    """When the attempt's WebSocket opened (epoch s): start plus connect, TLS and upgrade."""
    start = _num(row.get("t_start"))
    if start is None:
        return None
    parts = (_num(row.get(c)) or 0.0 for c in ("connect_ms", "tls_ms", "handshake_ms"))
    return start + sum(parts) / 1000.0


def _ended_at(row: Mapping[str, Any], t0: float | None) -> float | None:
    """When the attempt ended (epoch s): its recorded end, else its computed one."""
    end = _num(row.get("t_end"))
    if end is None and t0 is not None and (end_s := _num(row.get("end_s"))) is not None:
        end = t0 + end_s
    return end


@dataclass(frozen=True)
class Outage:
    """One stretch of a session without a connection (epoch s)."""

    session: str
    begun: float | None  # the end of the attempt that was lost or refused
    back: float | None  # the opening of the reconnect that ended it; None: never


def session_outages(
    session: str, rows: Sequence[Mapping[str, Any]], t0: float | None
) -> list[Outage]:
    """The outages of one session's records, in attempt order."""
    out: list[Outage] = []
    begun: float | None = None  # when the current outage began (epoch s)
    in_outage = False
    for i, row in enumerate(rows):
        if in_outage and row.get("stage") == "open":
            out.append(Outage(session, begun, _opened_at(row)))
            in_outage, begun = False, None
        if str(row.get("outcome")) not in SESSION_DONE and i + 1 < len(rows) and not in_outage:
            in_outage, begun = True, _ended_at(row, t0)
    if in_outage:
        out.append(Outage(session, begun, None))
    return out


def reconnect_time(o: Outage) -> float | None:
    """Seconds from an outage's start to the reconnect that ended it (None: never ended)."""
    if o.back is None or o.begun is None:
        return None
    return max(0.0, o.back - o.begun)


def compute_sessions(run: Run) -> Sessions | None:
    """Sessions and reconnects of the run; None when its scenario does not reconnect."""
    policy = reconnect_policy(run.scenario)
    name = str(policy.get("policy") or "none")
    df = run.attempts
    if name == "none" or df.empty or "session" not in df.columns:
        return None
    df = df[df["session"].notna() & (df["session"] != "")]
    if df.empty:
        return Sessions(policy=name, preset=str(policy.get("preset") or "") or None)
    max_attempts = int(_num(policy.get("max_attempts")) or 0)
    outages: list[Outage] = []
    gave_up = auth_failed = most = 0
    order = df.sort_values(["session", "session_attempt", "t_start"], kind="stable")
    for sid, group in order.groupby("session", sort=False):
        rows: list[Mapping[str, Any]] = [
            {str(k): v for k, v in r.items()} for r in group.to_dict("records")
        ]
        found = session_outages(str(sid), rows, run.started_at)
        outages += found
        last = rows[-1]
        most = max(most, int(_num(last.get("session_attempt")) or 0))
        outcome = str(last.get("outcome"))
        if last.get("token_kind") == "valid" and outcome in AUTH_REJECTION_VALUES:
            auth_failed += 1
        elif found and found[-1].back is None and max_attempts and outcome not in SESSION_DONE:
            gave_up += int(_trailing_reconnects(rows) >= max_attempts)
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
        time_to_reconnect_p50_s=_r(percentile(times, 0.50)),
        time_to_reconnect_p95_s=_r(percentile(times, 0.95)),
        time_to_reconnect_max_s=_r(max(times) if times else None),
        gave_up=gave_up,
        auth_failed=auth_failed,
        restarts=restart_reconnects(run, df, outages),
        **token_lifetimes(df),
    )


def token_lifetimes(df: pd.DataFrame) -> dict[str, Any]:
    """Tokens that expired during a session: connections open at the expiry (closed by the
    server at it, or kept open past it), stale tokens sent again, refreshed tokens."""
    out: dict[str, Any] = {}
    exp = pd.to_numeric(df["token_exp"], errors="coerce")
    end = pd.to_numeric(df["t_end"], errors="coerce")
    opened = pd.to_numeric(df["t_start"], errors="coerce") + sum(
        pd.to_numeric(df[c], errors="coerce").fillna(0.0) / 1000.0
        for c in ("connect_ms", "tls_ms", "handshake_ms")
        if c in df.columns
    )
    live = ((df["stage"] == "open") & (opened < exp) & (exp < end)).fillna(False)
    past = (end - exp)[live]
    by_server = (df["closed_by"] == "server").fillna(False)[live]
    at_expiry = by_server & (past <= EXPIRY_CLOSE_SLACK_S)
    out["expired_open"] = int(live.sum())
    out["closed_at_expiry"] = int(at_expiry.sum())
    kept = past[~at_expiry]
    out["kept_past_expiry_s"] = _r(float(kept.max())) if not kept.empty else None
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
    t0 = run.started_at
    out: dict[str, RestartReconnects] = {}
    if t0 is None:
        return out
    starts = pd.to_numeric(df["t_start"], errors="coerce") - t0
    again = pd.to_numeric(df["session_attempt"], errors="coerce") > 0
    for w in run.windows:
        if w.kind != "process" or w.applied_s is None:
            continue
        lo = w.applied_s - LOST_BEFORE_S
        hi = (w.reverted_s if w.reverted_s is not None else w.applied_s) + LOST_AFTER_S
        hit = [o for o in outages if o.begun is not None and lo <= o.begun - t0 <= hi]
        sessions = {o.session for o in hit}
        back = {o.session for o in hit if o.back is not None}
        backs = sorted(o.back - t0 for o in hit if o.back is not None)
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
            full_reconnection_s=_r(full),
            reconnect_attempts=int(times.size),
            peak_to_mean=_r(peak_to_mean(wave.to_numpy(dtype=float), w.applied_s)),
        )
    return out


def peak_to_mean(times: Any, start: float | None = None) -> float | None:
    """The busiest bin of ``times`` (s) over the mean per bin, from ``start`` (default: the
    first) to the last.

    Bins are :data:`STAMPEDE_BIN_S` wide, or wider so that an even spread would put
    :data:`STAMPEDE_PER_BIN` reconnects in each: with fewer per bin, chance alone makes peaks
    (jittered reconnects then read about 1.5-2.5; clients retrying in step read about their
    number over 5). None with fewer than :data:`STAMPEDE_MIN_ATTEMPTS`, or all in one bin.
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
    counts = [0] * bins
    for t in times:
        counts[min(bins - 1, int((float(t) - first) // bin_s))] += 1
    return max(counts) / (n / bins)


def _trailing_reconnects(rows: list[Mapping[str, Any]]) -> int:
    """Reconnects in a row at the end of a session that never reached the open WebSocket."""
    n = 0
    for row in reversed(rows[1:]):
        if row.get("stage") == "open":
            break
        n += 1
    return n


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
