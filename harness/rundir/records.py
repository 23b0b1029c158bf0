"""The attempt record: one row of ``attempts.jsonl`` per connection attempt, written once."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import orjson


@dataclass
class AttemptRecord:
    """One connection attempt, whatever happened to it.

    Times are wall-clock seconds since the epoch (``t_start``) or durations in
    milliseconds (``*_ms``) / seconds (``open_s``). ``None`` means "not reached".
    Fields added later have defaults, so older files still read.
    """

    run_id: str
    worker: str  # load-generator process, e.g. "local" or a Locust worker id
    user: int  # Locust user number within the worker
    attempt: int  # attempt number of this user, from 1
    token_kind: str  # valid, empty, missing, expired, ...
    placement: str  # query, header, none
    expected: str  # "accept" or "reject"
    t_start: float  # epoch seconds when the attempt began
    connect_ms: float | None = None  # TCP connect time
    handshake_ms: float | None = None  # upgrade request sent -> response read (TLS apart)
    outcome: str = ""  # harness.protocol.outcomes.Outcome value
    verdict: str = ""  # harness.protocol.outcomes.Verdict value
    manner: str | None = None  # graceful / abrupt for refusals
    stage: str = ""  # connect, handshake, open: where the attempt ended
    http_status: int | None = None  # status of the upgrade response
    close_code: int | None = None  # from the close frame
    close_reason: str | None = None  # from the close frame (UTF-8)
    closed_by: str | None = None  # server, client, or None (connection just ended)
    #: the close code the client started with: 1000 at the end of a session, 1001 when it
    #: gave up, 1002/1007/1009 when it failed the connection (None: none sent)
    client_close_code: int | None = None
    #: which deadline of the client expired: connect, handshake, send, reply, message, close
    gave_up: str | None = None
    #: the rule of RFC 6455 the server broke or the limit it exceeded (see
    #: harness.protocol.frames.Violation), e.g. close_code, text_utf8, frame_size
    violation: str | None = None
    open_s: float | None = None  # how long the WebSocket stayed open
    msgs_sent: int = 0
    msgs_recv: int = 0  # data messages received, echoes or not
    msgs_unmatched: int = 0  # of those, not the echo awaited (unsolicited or different)
    rtt_ms_avg: float | None = None  # round trip of messages whose echo came back
    rtt_ms_max: float | None = None
    pings: int = 0  # server pings seen while open
    error: str | None = None  # short error text, secrets redacted
    chaos: list[str] = field(default_factory=list)  # chaos window labels the attempt lived through
    load_stage: str = ""  # label of the load stage at t_start
    #: the user's logical connection this attempt belongs to (its first attempt and every
    #: reconnect, with the same token), "<worker>-<user>-<n>"; "" in older files
    session: str = ""
    session_attempt: int = 0  # 0: the session's first attempt; n: its n-th reconnect
    reconnect_delay_s: float | None = None  # the delay waited before this reconnect
    t_end: float | None = None  # epoch seconds when the attempt ended
    #: epoch seconds of the token's exp claim (None: no token, or a scenario that does not
    #: reconnect: only reconnects read it)
    token_exp: float | None = None
    token_refreshed: bool = False  # a reconnect's token, minted anew because the last expired
    tls_ms: float | None = None  # the TLS handshake (wss://), between connect_ms and handshake_ms
    client_pings: int = 0  # pings the client sent while open (load.session.ping_interval)
    ping_rtt_ms_avg: float | None = None  # round trip of the client's pings whose pong came
    ping_rtt_ms_max: float | None = None
    #: Socket.IO: the Engine.IO transport that carried the session, websocket or polling
    #: (None: a plain WebSocket target, or no Engine.IO session opened)
    transport: str | None = None
    fallback: bool = False  # Socket.IO: the WebSocket failed and polling carried the session
    upgraded: bool | None = None  # Socket.IO: a polling session upgraded (None: not tried)
    connect_error: str | None = None  # Socket.IO: the server's CONNECT_ERROR message

    def to_json(self) -> str:
        """One JSON line (no newline): orjson serialises the dataclass as it is, in field
        order, about 60 times faster than ``json.dumps(asdict(...))`` (1 against 68 us a
        record here), which a generator pays per attempt; a NaN would be written null."""
        return orjson.dumps(self).decode()


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AttemptRecord))
