"""From one attempt's protocol facts to its record: classification, verdict, measurements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.load.result import Result
from harness.protocol.outcomes import (
    DEFAULT_HTTP_STATUSES,
    DEFAULT_SOCKETIO,
    Outcome,
    SocketIOMeaning,
    classify,
    expects_accept,
    manner,
    verdict,
)
from harness.rundir.records import AttemptRecord


@dataclass(frozen=True)
class AttemptInfo:
    """Who made the attempt, with what, and in which conditions."""

    run_id: str
    worker: str
    user: int
    attempt: int
    token_kind: str
    placement: str  # an auth.placement; "none" is recorded when no token was sent
    token_sent: bool
    t_start: float  # epoch seconds
    chaos: tuple[str, ...] = ()
    load_stage: str = ""
    session: str = ""  # "<worker>-<user>-<n>"
    session_attempt: int = 0  # 0: first attempt of the session; n: its n-th reconnect
    reconnect_delay_s: float | None = None
    t_end: float | None = None  # epoch seconds when the attempt ended
    token_exp: float | None = None  # epoch seconds of the token's exp claim
    token_refreshed: bool = False


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def build_record(
    info: AttemptInfo,
    res: Result,
    app_codes: Mapping[int, str],
    http_statuses: Mapping[int, str] = DEFAULT_HTTP_STATUSES,
    sio: SocketIOMeaning = DEFAULT_SOCKETIO,
) -> tuple[AttemptRecord, Outcome]:
    """The record of one attempt (pure): classify what the client saw, judge it for its kind."""
    obs = res.observation
    outcome = classify(obs, app_codes, http_statuses, sio)
    m = manner(outcome)
    rtts, pongs = res.rtts_ms, res.ping_rtts_ms
    record = AttemptRecord(
        run_id=info.run_id,
        worker=info.worker,
        user=info.user,
        attempt=info.attempt,
        token_kind=info.token_kind,
        placement=info.placement if info.token_sent else "none",
        expected="accept" if expects_accept(info.token_kind) else "reject",
        t_start=info.t_start,
        connect_ms=_r(res.connect_ms),
        tls_ms=_r(res.tls_ms),
        handshake_ms=_r(res.handshake_ms),
        outcome=outcome.value,
        verdict=verdict(info.token_kind, outcome).value,
        manner=m.value if m else None,
        stage=obs.stage.value,
        http_status=obs.http_status,
        close_code=obs.close_code,
        close_reason=res.close_reason,
        closed_by=obs.closed_by,
        client_close_code=res.client_close_code,
        gave_up=obs.gave_up.value if obs.gave_up else None,
        violation=obs.violation.value if obs.violation else None,
        open_s=_r(res.open_s, 3),
        msgs_sent=res.msgs_sent,
        msgs_recv=res.msgs_recv,
        msgs_unmatched=res.msgs_unmatched,
        rtt_ms_avg=_r(sum(rtts) / len(rtts)) if rtts else None,
        rtt_ms_max=_r(max(rtts)) if rtts else None,
        pings=res.pings,
        error=res.error,
        chaos=list(info.chaos),
        load_stage=info.load_stage,
        session=info.session,
        session_attempt=info.session_attempt,
        reconnect_delay_s=_r(info.reconnect_delay_s, 3),
        t_end=_r(info.t_end, 3),
        token_exp=info.token_exp,
        token_refreshed=info.token_refreshed,
        client_pings=res.client_pings,
        ping_rtt_ms_avg=_r(sum(pongs) / len(pongs)) if pongs else None,
        ping_rtt_ms_max=_r(max(pongs)) if pongs else None,
        transport=res.transport,
        fallback=res.fallback,
        upgraded=res.upgraded,
        connect_error=res.connect_error,
    )
    return record, outcome
