"""wss:// attempts against a real TLS WebSocket server on loopback, certificates made by
trustme: accepted with the CA trusted (the TLS time recorded apart from the upgrade's), and
each certificate failure its own outcome."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
from websockets.sync.server import ServerConnection, serve

from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.protocol.outcomes import Outcome, classify

PLAN = SessionPlan(hold=0.1, messages=1)


def echo(connection: ServerConnection) -> None:
    for message in connection:
        connection.send(message)


@contextmanager
def wss_server(cert: trustme.LeafCert) -> Iterator[str]:
    """A TLS echo WebSocket server on an OS-chosen port; yields its wss:// base URL."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    with serve(echo, "127.0.0.1", 0, ssl=ctx) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"wss://127.0.0.1:{server.socket.getsockname()[1]}"
        finally:
            server.shutdown()
            thread.join(timeout=5)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def attempt(url: str, ca_file: str) -> tuple[Outcome, float | None, str | None]:
    res = open_attempt(Request(url=f"{url}/ws", token="t0k", ca_file=ca_file), PLAN)
    return classify(res.observation), res.tls_ms, res.error


def test_accepted_over_wss_with_the_ca_trusted_and_tls_time_apart(
    ca: trustme.CA, ca_file: str
) -> None:
    with wss_server(ca.issue_cert("127.0.0.1", "localhost")) as url:
        res = open_attempt(Request(url=f"{url}/ws", token="t0k", ca_file=ca_file), PLAN)
    assert classify(res.observation) is Outcome.ACCEPTED, res.error
    assert res.tls_ms is not None and res.tls_ms > 0
    assert res.handshake_ms is not None and res.connect_ms is not None
    assert len(res.rtts_ms) == 1


def test_a_certificate_from_an_unknown_ca_is_untrusted(ca: trustme.CA, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with wss_server(ca.issue_cert("127.0.0.1")) as url:
        outcome, tls_ms, error = attempt(url, str(other))
    assert outcome is Outcome.TLS_UNTRUSTED, error
    assert tls_ms is None


def test_a_certificate_for_another_name_is_a_hostname_failure(ca: trustme.CA, ca_file: str) -> None:
    with wss_server(ca.issue_cert("other.example")) as url:
        outcome, _, error = attempt(url, ca_file)
    assert outcome is Outcome.TLS_HOSTNAME, error


def test_an_expired_certificate_is_expired(ca: trustme.CA, ca_file: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    old = ca.issue_cert(
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    with wss_server(old) as url:
        outcome, _, error = attempt(url, ca_file)
    assert outcome is Outcome.TLS_EXPIRED, error


def test_other_tls_failures_stay_tls_error(ca: trustme.CA, ca_file: str) -> None:
    # a plain (non-TLS) WebSocket server: the ClientHello gets an HTTP answer
    with serve(echo, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"wss://127.0.0.1:{server.socket.getsockname()[1]}"
            outcome, _, error = attempt(url, ca_file)
        finally:
            server.shutdown()
            thread.join(timeout=5)
    assert outcome is Outcome.TLS_ERROR, error
