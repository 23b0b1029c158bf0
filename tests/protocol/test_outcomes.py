"""The outcome classifier and the expectation table (pure, no network)."""

from __future__ import annotations

import errno

import pytest

from harness.config.scenario import HTTP_STATUS_CLASSES, TOKEN_KINDS
from harness.protocol.frames import LIMIT_VIOLATIONS, Violation
from harness.protocol.outcomes import (
    ABRUPT_OUTCOMES,
    AUTH_REJECTIONS,
    DEADLINE_OUTCOMES,
    DEFAULT_APP_CLOSE_CODES,
    DEFAULT_HTTP_STATUSES,
    EXPECTED_OUTCOMES,
    GAVE_UP_OUTCOMES,
    HTTP_CLASS_OUTCOMES,
    VIOLATION_OUTCOMES,
    Deadline,
    Manner,
    Observation,
    Outcome,
    SocketIOMeaning,
    Stage,
    Verdict,
    classify,
    close_code_outcome,
    expects_accept,
    manner,
    verdict,
)

CASES = [
    (Observation(Stage.CONNECT, errno=errno.ECONNREFUSED), Outcome.REFUSED),
    (Observation(Stage.CONNECT, timed_out=True), Outcome.TIMEOUT_CONNECT),
    (Observation(Stage.CONNECT, errno=errno.ETIMEDOUT), Outcome.TIMEOUT_CONNECT),
    (Observation(Stage.CONNECT, errno=errno.EHOSTUNREACH), Outcome.CONNECT_ERROR),
    (Observation(Stage.CONNECT, errno=errno.ECONNRESET), Outcome.ABNORMAL_HANDSHAKE),
    (Observation(Stage.CONNECT, errno=errno.EMFILE), Outcome.GENERATOR_FAULT),
    (Observation(Stage.CONNECT, errno=errno.EADDRNOTAVAIL), Outcome.GENERATOR_FAULT),
    (Observation(Stage.HANDSHAKE, errno=errno.ENFILE), Outcome.GENERATOR_FAULT),
    (Observation(Stage.CONNECT, interrupted=True), Outcome.INTERRUPTED),
    (Observation(Stage.HANDSHAKE, http_status=401), Outcome.REJECTED_AUTH),
    (Observation(Stage.HANDSHAKE, http_status=403), Outcome.REJECTED_AUTH),
    (Observation(Stage.HANDSHAKE, http_status=429), Outcome.REJECTED_CAPACITY),
    (Observation(Stage.HANDSHAKE, http_status=503), Outcome.REJECTED_CAPACITY),
    (Observation(Stage.HANDSHAKE, http_status=500), Outcome.REJECTED_STATUS),
    (Observation(Stage.HANDSHAKE, http_status=302), Outcome.REJECTED_STATUS),
    (Observation(Stage.HANDSHAKE, timed_out=True), Outcome.TIMEOUT_HANDSHAKE),
    (Observation(Stage.HANDSHAKE, tls_error=True), Outcome.TLS_ERROR),
    (Observation(Stage.HANDSHAKE, protocol_error=True), Outcome.PROTOCOL_ERROR),
    (Observation(Stage.HANDSHAKE), Outcome.ABNORMAL_HANDSHAKE),
    (Observation(Stage.HANDSHAKE, errno=errno.ECONNRESET), Outcome.ABNORMAL_HANDSHAKE),
    (Observation(Stage.HANDSHAKE, interrupted=True), Outcome.INTERRUPTED),
    (Observation(Stage.OPEN, closed_by="client", close_code=1000), Outcome.ACCEPTED),
    (Observation(Stage.OPEN, interrupted=True, closed_by="client"), Outcome.ACCEPTED),
    (Observation(Stage.OPEN), Outcome.ABNORMAL_CLOSURE),
    (Observation(Stage.OPEN, errno=errno.ECONNRESET), Outcome.ABNORMAL_CLOSURE),
    (Observation(Stage.OPEN, protocol_error=True), Outcome.PROTOCOL_ERROR),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=1000),
        Outcome.CLOSED_NORMAL,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=1001),
        Outcome.CLOSED_NORMAL,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=1008),
        Outcome.CLOSED_POLICY,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=1011),
        Outcome.CLOSED_INTERNAL,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=1013),
        Outcome.CLOSED_TRY_AGAIN,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=4401),
        Outcome.CLOSED_AUTH,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=4429),
        Outcome.CLOSED_CAPACITY,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=4999),
        Outcome.CLOSED_OTHER,
    ),
    (
        Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=None),
        Outcome.CLOSED_OTHER,
    ),
    # the client's deadlines: it gave up, the peer did not vanish
    (Observation(Stage.CONNECT, gave_up=Deadline.CONNECT), Outcome.TIMEOUT_CONNECT),
    (Observation(Stage.HANDSHAKE, gave_up=Deadline.HANDSHAKE), Outcome.TIMEOUT_HANDSHAKE),
    (Observation(Stage.OPEN, gave_up=Deadline.SEND, closed_by="client"), Outcome.TIMEOUT_SEND),
    (Observation(Stage.OPEN, gave_up=Deadline.REPLY, closed_by="client"), Outcome.TIMEOUT_REPLY),
    (Observation(Stage.OPEN, gave_up=Deadline.PONG, closed_by="client"), Outcome.TIMEOUT_PONG),
    (Observation(Stage.OPEN, gave_up=Deadline.MESSAGE), Outcome.TIMEOUT_MESSAGE),
    (Observation(Stage.OPEN, gave_up=Deadline.SEND, timed_out=True), Outcome.TIMEOUT_SEND),
    # the close handshake is ours, after the plan ran: still accepted
    (
        Observation(Stage.OPEN, gave_up=Deadline.CLOSE, closed_by="client", close_code=1000),
        Outcome.ACCEPTED,
    ),
    # rules the server broke: the code it sent is kept, the rule decides
    (
        Observation(
            Stage.OPEN,
            close_frame=True,
            closed_by="server",
            close_code=1000,
            violation=Violation.CLOSE_REASON_UTF8,
        ),
        Outcome.PROTOCOL_ERROR,
    ),
    (
        Observation(
            Stage.OPEN,
            close_frame=True,
            closed_by="server",
            close_code=1005,
            violation=Violation.CLOSE_CODE,
        ),
        Outcome.PROTOCOL_ERROR,
    ),
    (Observation(Stage.OPEN, violation=Violation.MASKED_FRAME), Outcome.PROTOCOL_ERROR),
    (Observation(Stage.OPEN, violation=Violation.TEXT_UTF8), Outcome.PROTOCOL_ERROR),
    (Observation(Stage.OPEN, violation=Violation.FRAME_SIZE), Outcome.LIMIT_EXCEEDED),
    (Observation(Stage.OPEN, violation=Violation.MESSAGE_SIZE), Outcome.LIMIT_EXCEEDED),
    (Observation(Stage.OPEN, violation=Violation.FRAGMENTS), Outcome.LIMIT_EXCEEDED),
    (Observation(Stage.HANDSHAKE, violation=Violation.UPGRADE_SIZE), Outcome.LIMIT_EXCEEDED),
    # a generator fault is the harness's, whatever else happened
    (
        Observation(Stage.OPEN, errno=errno.ENOBUFS, gave_up=Deadline.SEND),
        Outcome.GENERATOR_FAULT,
    ),
]


@pytest.mark.parametrize(("obs", "expected"), CASES)
def test_classify(obs: Observation, expected: Outcome) -> None:
    assert classify(obs) is expected


def test_status_wins_over_interruption_once_read() -> None:
    # a status line was read: the target answered, whatever we did afterwards
    assert classify(Observation(Stage.HANDSHAKE, http_status=401, interrupted=True)) is (
        Outcome.REJECTED_AUTH
    )


def test_private_codes_follow_the_target_table() -> None:
    table = {4000: "auth", 4001: "capacity"}
    assert close_code_outcome(4000, table) is Outcome.CLOSED_AUTH
    assert close_code_outcome(4001, table) is Outcome.CLOSED_CAPACITY
    assert close_code_outcome(4401, table) is Outcome.CLOSED_OTHER  # not in this target's table
    assert close_code_outcome(1008, {}) is Outcome.CLOSED_POLICY  # the registered meaning


def test_a_target_table_overrides_standard_codes() -> None:
    # a service that closes with 1008 for a bad token and 1013 when full says so in its scenario
    table = {1008: "auth", 1013: "capacity", 3003: "auth"}
    assert close_code_outcome(1008, table) is Outcome.CLOSED_AUTH
    assert close_code_outcome(1013, table) is Outcome.CLOSED_CAPACITY
    assert close_code_outcome(3003, table) is Outcome.CLOSED_AUTH
    assert close_code_outcome(1011, table) is Outcome.CLOSED_INTERNAL  # not in the table
    assert close_code_outcome(3003, {}) is Outcome.CLOSED_OTHER
    obs = Observation(Stage.OPEN, close_frame=True, closed_by="server", close_code=1013)
    assert classify(obs) is Outcome.CLOSED_TRY_AGAIN
    assert classify(obs, {**DEFAULT_APP_CLOSE_CODES, **table}) is Outcome.CLOSED_CAPACITY


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, Outcome.REJECTED_AUTH),
        (403, Outcome.REJECTED_AUTH),
        (404, Outcome.REJECTED_NOT_FOUND),
        (410, Outcome.REJECTED_NOT_FOUND),
        (429, Outcome.REJECTED_CAPACITY),
        (503, Outcome.REJECTED_CAPACITY),
        (502, Outcome.REJECTED_UPSTREAM),
        (504, Outcome.REJECTED_UPSTREAM),
        (500, Outcome.REJECTED_STATUS),
        (400, Outcome.REJECTED_STATUS),
    ],
)
def test_default_statuses_of_a_refused_upgrade(status: int, expected: Outcome) -> None:
    assert classify(Observation(Stage.HANDSHAKE, http_status=status)) is expected
    assert manner(expected) is Manner.GRACEFUL  # a status is a stated reason
    assert verdict("valid", expected) is Verdict.VALID_REFUSED


def test_a_target_table_overrides_statuses() -> None:
    table = {**DEFAULT_HTTP_STATUSES, 404: "auth", 400: "auth", 503: "upstream", 401: "other"}

    def outcome(status: int) -> Outcome:
        return classify(Observation(Stage.HANDSHAKE, http_status=status), http_statuses=table)

    assert outcome(404) is Outcome.REJECTED_AUTH
    assert outcome(400) is Outcome.REJECTED_AUTH
    assert outcome(503) is Outcome.REJECTED_UPSTREAM
    assert outcome(401) is Outcome.REJECTED_STATUS
    assert outcome(502) is Outcome.REJECTED_UPSTREAM  # the defaults under it stay
    assert verdict("empty", outcome(400)) is Verdict.OK  # an auth refusal for this service
    assert set(HTTP_CLASS_OUTCOMES) == set(HTTP_STATUS_CLASSES)


def test_expectation_table_covers_every_kind() -> None:
    assert set(TOKEN_KINDS) == {
        "valid",
        "empty",
        "missing",
        "expired",
        "not_yet_valid",
        "bad_signature",
        "alg_none",
        "malformed",
        "expired_reused",
    }
    assert expects_accept("valid")
    for kind in TOKEN_KINDS:
        if kind != "valid":
            assert not expects_accept(kind)
            assert Outcome.ACCEPTED not in EXPECTED_OUTCOMES[kind]
            assert Outcome.CLOSED_AUTH in EXPECTED_OUTCOMES[kind]


@pytest.mark.parametrize(
    ("kind", "outcome", "expected"),
    [
        ("valid", Outcome.ACCEPTED, Verdict.OK),
        ("valid", Outcome.REJECTED_CAPACITY, Verdict.VALID_REFUSED),
        ("valid", Outcome.REJECTED_AUTH, Verdict.VALID_REFUSED),
        ("valid", Outcome.CLOSED_TRY_AGAIN, Verdict.VALID_REFUSED),
        ("valid", Outcome.ABNORMAL_HANDSHAKE, Verdict.ABRUPT),
        ("valid", Outcome.ABNORMAL_CLOSURE, Verdict.ABRUPT),
        ("valid", Outcome.TIMEOUT_HANDSHAKE, Verdict.ABRUPT),
        ("valid", Outcome.GENERATOR_FAULT, Verdict.GENERATOR_FAULT),
        ("valid", Outcome.INTERRUPTED, Verdict.EXCLUDED),
        ("empty", Outcome.REJECTED_AUTH, Verdict.OK),
        ("empty", Outcome.CLOSED_AUTH, Verdict.OK),
        ("expired", Outcome.CLOSED_POLICY, Verdict.OK),
        ("empty", Outcome.ACCEPTED, Verdict.INVALID_ACCEPTED),
        ("alg_none", Outcome.ACCEPTED, Verdict.INVALID_ACCEPTED),
        ("expired", Outcome.REJECTED_CAPACITY, Verdict.WRONG_REJECTION),
        ("expired", Outcome.ABNORMAL_HANDSHAKE, Verdict.ABRUPT),
        ("missing", Outcome.GENERATOR_FAULT, Verdict.GENERATOR_FAULT),
        ("valid", Outcome.TIMEOUT_SEND, Verdict.ABRUPT),
        ("valid", Outcome.TIMEOUT_REPLY, Verdict.ABRUPT),
        ("valid", Outcome.TIMEOUT_MESSAGE, Verdict.ABRUPT),
        ("valid", Outcome.LIMIT_EXCEEDED, Verdict.ABRUPT),
        ("valid", Outcome.PROTOCOL_ERROR, Verdict.ABRUPT),
        ("expired", Outcome.TIMEOUT_SEND, Verdict.ABRUPT),
        ("empty", Outcome.TIMEOUT_REPLY, Verdict.ABRUPT),
        ("bad_signature", Outcome.TIMEOUT_MESSAGE, Verdict.ABRUPT),
        ("alg_none", Outcome.LIMIT_EXCEEDED, Verdict.ABRUPT),
    ],
)
def test_verdict(kind: str, outcome: Outcome, expected: Verdict) -> None:
    assert verdict(kind, outcome) is expected


def test_manner_splits_graceful_from_abrupt() -> None:
    assert manner(Outcome.REJECTED_CAPACITY) is Manner.GRACEFUL
    assert manner(Outcome.CLOSED_TRY_AGAIN) is Manner.GRACEFUL
    assert manner(Outcome.ABNORMAL_HANDSHAKE) is Manner.ABRUPT
    assert manner(Outcome.TIMEOUT_CONNECT) is Manner.ABRUPT
    assert manner(Outcome.ACCEPTED) is None
    assert manner(Outcome.GENERATOR_FAULT) is None


def test_every_deadline_but_the_close_has_its_outcome() -> None:
    assert set(DEADLINE_OUTCOMES) == set(Deadline) - {Deadline.CLOSE}
    expected = {
        Outcome.TIMEOUT_CONNECT,
        Outcome.TIMEOUT_HANDSHAKE,
        Outcome.TIMEOUT_SEND,
        Outcome.TIMEOUT_REPLY,
        Outcome.TIMEOUT_MESSAGE,
        Outcome.TIMEOUT_AUTH,
        Outcome.TIMEOUT_PONG,
        Outcome.TIMEOUT_HEARTBEAT,
    }
    assert expected == GAVE_UP_OUTCOMES
    assert Outcome.ABNORMAL_CLOSURE not in GAVE_UP_OUTCOMES  # that means the peer vanished


def test_every_violation_has_its_outcome() -> None:
    assert set(VIOLATION_OUTCOMES) == set(Violation)
    for v, outcome in VIOLATION_OUTCOMES.items():
        expected = Outcome.LIMIT_EXCEEDED if v in LIMIT_VIOLATIONS else Outcome.PROTOCOL_ERROR
        assert outcome is expected, v


def test_new_outcomes_are_abrupt() -> None:
    for outcome in (*GAVE_UP_OUTCOMES, Outcome.LIMIT_EXCEEDED):
        assert outcome in ABRUPT_OUTCOMES
        assert manner(outcome) is Manner.ABRUPT


# --- Socket.IO ------------------------------------------------------------------------

HS, OPEN = Stage.HANDSHAKE, Stage.OPEN


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("unauthorized: token expired", Outcome.CONNECT_ERROR_AUTH),
        ("Invalid credentials", Outcome.CONNECT_ERROR_AUTH),  # any case
        ("insufficient resources", Outcome.CONNECT_ERROR_CAPACITY),
        ("Server BUSY, retry", Outcome.CONNECT_ERROR_CAPACITY),
        ("auth service over capacity", Outcome.CONNECT_ERROR_AUTH),  # auth patterns first
        ("", Outcome.CONNECT_ERROR_OTHER),  # a CONNECT_ERROR without a message
        ("namespace not found", Outcome.CONNECT_ERROR_OTHER),
    ],
)
def test_a_connect_error_is_classified_by_its_message(message: str, expected: Outcome) -> None:
    assert classify(Observation(stage=HS, connect_error=message)) is expected


def test_connect_error_patterns_come_from_the_scenario() -> None:
    sio = SocketIOMeaning(auth_errors=("denied",), capacity_errors=("quota",))
    obs = Observation(stage=HS, connect_error="quota reached")
    assert classify(obs, sio=sio) is Outcome.CONNECT_ERROR_CAPACITY
    assert classify(Observation(stage=HS, connect_error="token expired"), sio=sio) is (
        Outcome.CONNECT_ERROR_OTHER
    )


def test_socket_io_refusals_are_graceful_and_auth_ones_expected_of_bad_tokens() -> None:
    for outcome in (Outcome.CONNECT_ERROR_AUTH, Outcome.EVENT_AUTH):
        assert outcome in AUTH_REJECTIONS
        assert verdict("expired", outcome) is Verdict.OK
        assert verdict("valid", outcome) is Verdict.VALID_REFUSED
    for outcome in (Outcome.CONNECT_ERROR_CAPACITY, Outcome.SERVER_DISCONNECT):
        assert manner(outcome) is Manner.GRACEFUL
        assert verdict("expired", outcome) is Verdict.WRONG_REJECTION
    assert manner(Outcome.TIMEOUT_HEARTBEAT) is Manner.ABRUPT


def test_server_events_and_disconnects_after_the_connect() -> None:
    sio = SocketIOMeaning(events={"auth_error": "auth", "full": "capacity"})
    assert classify(Observation(stage=OPEN, server_event="auth_error"), sio=sio) is (
        Outcome.EVENT_AUTH
    )
    assert classify(Observation(stage=OPEN, server_event="full"), sio=sio) is (
        Outcome.EVENT_CAPACITY
    )
    obs = Observation(stage=OPEN, server_disconnect=True, closed_by="server")
    assert classify(obs) is Outcome.SERVER_DISCONNECT
    # the client's own deadline wins: a missing ping is the client giving up
    late = Observation(stage=OPEN, gave_up=Deadline.HEARTBEAT, closed_by="client")
    assert classify(late) is Outcome.TIMEOUT_HEARTBEAT
