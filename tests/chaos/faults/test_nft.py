"""nftables faults (packet_loss, reject) against real loopback servers, and the table helpers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.chaos import load_faults
from harness.chaos.base import ChaosContext
from harness.chaos.faults.packet_loss import PacketLoss
from harness.chaos.faults.reject import Reject
from harness.chaos.nft import TABLE_PREFIX, NftTable, list_tables, nft_available, sweep_stale
from harness.config.faults import PacketLossParams, RejectParams
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.protocol.outcomes import Outcome, classify
from tests.conftest import scaled
from tests.rawserver import raw_server

NFT_SKIP = nft_available()
pytestmark = pytest.mark.skipif(NFT_SKIP is not None, reason=f"nftables: {NFT_SKIP}")

QUICK = SessionPlan(hold=0.2, messages=1, message_bytes=16, reply_timeout=2)


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """A WebSocket echo server on 127.0.0.1: (its /echo URL, its port)."""
    with raw_server() as (base, _):
        yield f"{base}/echo", int(urlsplit(base).port or 0)


@pytest.fixture
def ctx(tmp_path: Path) -> ChaosContext:
    return ChaosContext(target_pid=None, run_dir=tmp_path)


def outcome(url: str, connect_timeout: float = 5.0) -> Outcome:
    req = Request(url=url, token="t", connect_timeout=connect_timeout, handshake_timeout=5.0)
    return classify(open_attempt(req, QUICK).observation)


def our_tables() -> list[str]:
    """The tables this test process created (others may run their own harness meanwhile)."""
    return [t for t in list_tables() if t.startswith(f"{TABLE_PREFIX}{os.getpid()}_")]


@contextlib.contextmanager
def v6_listener() -> Iterator[int | None]:
    """A bare listening socket on [::1]: its port, or None without IPv6 loopback."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(("::1", 0))
    except OSError:
        yield None
        return
    with sock:
        sock.listen(8)
        yield sock.getsockname()[1]


def v6_connect(port: int) -> str:
    try:
        with socket.create_connection(("::1", port), timeout=scaled(3)):
            return "connected"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def test_registered() -> None:
    faults = load_faults()
    for name in ("packet_loss", "reject"):
        assert faults[name].kind == "network"
        assert faults[name].needs_pid is False
        assert faults[name].unsupported() is None


@pytest.mark.parametrize("mode", ["reset", "icmp"])
def test_reject_refuses_then_recovers(
    server: tuple[str, int], ctx: ChaosContext, mode: str
) -> None:
    url, port = server
    assert outcome(url) is Outcome.ACCEPTED
    fault = Reject(RejectParams(port=port, mode=mode))
    with raw_server() as (other, _), v6_listener() as v6:
        v6_fault = Reject(RejectParams(port=v6, mode=mode)) if v6 else None
        try:
            fault.apply(ctx)
            assert outcome(url) is Outcome.REFUSED
            assert outcome(f"{other}/echo") is Outcome.ACCEPTED  # another port: untouched
            if v6_fault is not None and v6 is not None:
                v6_fault.apply(ctx)
                assert v6_connect(v6) == "refused"
        finally:
            fault.revert(ctx)
            if v6_fault is not None:
                v6_fault.revert(ctx)
        if v6 is not None:
            assert v6_connect(v6) == "connected"
    assert outcome(url) is Outcome.ACCEPTED
    assert our_tables() == []
    fault.revert(ctx)  # twice is fine


def test_total_packet_loss_times_out_then_recovers(
    server: tuple[str, int], ctx: ChaosContext
) -> None:
    url, port = server
    fault = PacketLoss(PacketLossParams(port=port, percent=100))
    try:
        fault.apply(ctx)
        assert outcome(url, connect_timeout=1.5) is Outcome.TIMEOUT_CONNECT
    finally:
        fault.revert(ctx)
    assert outcome(url) is Outcome.ACCEPTED
    assert our_tables() == []
    fault.revert(ctx)


def test_partial_loss_rule_uses_the_percentage(server: tuple[str, int], ctx: ChaosContext) -> None:
    _, port = server
    fault = PacketLoss(PacketLossParams(port=port, percent=12.5))
    try:
        fault.apply(ctx)
        (name,) = our_tables()
        text = subprocess.run(
            ["nft", "list", "table", "inet", name], capture_output=True, text=True, check=True
        ).stdout
        assert f"tcp dport {port} ip daddr 127.0.0.0/8 numgen random mod 10000 < 1250 drop" in text
        assert f"tcp dport {port} ip6 daddr ::1 numgen random mod 10000 < 1250 drop" in text
    finally:
        fault.revert(ctx)
    assert our_tables() == []


def test_apply_twice_leaves_one_table(server: tuple[str, int], ctx: ChaosContext) -> None:
    fault = Reject(RejectParams(port=server[1]))
    try:
        fault.apply(ctx)
        fault.apply(ctx)
        assert len(our_tables()) == 1
    finally:
        fault.revert(ctx)
    assert our_tables() == []


@pytest.mark.parametrize(
    "fault",
    [Reject(RejectParams(port=1)), PacketLoss(PacketLossParams(port=1))],
    ids=["reject", "packet_loss"],
)
def test_revert_without_apply(fault: Reject, ctx: ChaosContext) -> None:
    fault.revert(ctx)
    fault.revert(ctx)


def test_sweep_removes_tables_of_dead_creators_only() -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    stale = f"{TABLE_PREFIX}{int(dead.stdout)}_deadbeef"
    subprocess.run(["nft", "add", "table", "inet", stale], check=True)
    mine = NftTable.create()
    try:
        assert stale in sweep_stale()
        tables = list_tables()
        assert stale not in tables
        assert mine.name in tables
    finally:
        mine.delete()
        NftTable(stale).delete()
    mine.delete()  # idempotent
    assert our_tables() == []
