"""The embedded target as several processes on one port (``processes: N``, SO_REUSEPORT):
connections spread over the children, tokens and limits hold through each, the tree stops as
one (SIGTERM, SIGKILL), the probe and the chaos faults see every process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from harness.chaos.base import ChaosContext
from harness.chaos.faults.cpu_pause import CpuPause
from harness.chaos.faults.fd_limit import FdLimit
from harness.chaos.faults.kill_target import KillTarget
from harness.config.faults import CpuPauseParams, FdLimitParams, KillTargetParams
from harness.config.scenario import EmbeddedTarget, SocketIO
from harness.errors import TargetStartError
from harness.load.probe import Tree
from harness.target.pool import reserve_port, shares
from harness.target.process import TargetProcess, start_target
from tests.config.helpers import error, load
from tests.conftest import scaled
from tests.target.test_server import SECRET, health, token_for

CHILDREN = 3
CLIENTS = 30  # connections per test: each child gets some (all on one: p = 3 * 3**-30)


def _start(tmp_path: Path, name: str, **opts: Any) -> TargetProcess:
    return start_target(
        EmbeddedTarget(**{"processes": CHILDREN, **opts}),
        secret=SECRET,
        log_path=tmp_path / f"{name}.log",
        ready_timeout=scaled(30),
    )


@pytest.fixture
def target(tmp_path: Path) -> Iterator[TargetProcess]:
    with _start(tmp_path, "pool", max_connections=300) as t:
        yield t


def _open(target: TargetProcess, token: str | None) -> ClientConnection:
    url = target.url if token is None else f"{target.url}?token={token}"
    return connect(url, open_timeout=scaled(5), close_timeout=1, legacy=True)


def _server_pid(target: TargetProcess, ws: ClientConnection) -> int:
    """The child whose socket is the other end of ``ws`` (by the client's local port)."""
    port = ws.local_address[1]
    for pid in target.children:
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.raddr and c.raddr.port == port:
                return pid
    raise AssertionError(f"no child of {target.pid} holds the connection from port {port}")


def _wait_gone(pids: list[int]) -> list[int]:
    """Wait (bounded) until none of ``pids`` runs; the ones still running."""
    deadline = time.monotonic() + scaled(8)
    while True:
        left = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    left.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _log_pids(log: Path, pattern: str) -> set[int]:
    """PIDs of the processes whose log lines match ``pattern`` (``name[PID]: message``)."""
    found = re.findall(rf"harness\.target\[(\d+)\]: {pattern}", log.read_text())
    return {int(p) for p in found}


# --- Limits, pure --------------------------------------------------------------------


def test_shares_split_the_total_and_give_the_remainder_to_the_first() -> None:
    assert shares(10, 3) == [4, 3, 3]
    assert shares(11, 3) == [4, 4, 3]
    assert shares(6, 3) == [2, 2, 2]
    assert shares(5, 1) == [5]


def test_reserve_port_refuses_a_port_something_listens_on() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(OSError, match="in use"):
            reserve_port("127.0.0.1", listener.getsockname()[1])
    # the reserving socket never listens: a connection to the port alone is refused
    with reserve_port("127.0.0.1", 0) as reserved, pytest.raises(ConnectionRefusedError):
        socket.create_connection(reserved.getsockname(), timeout=scaled(2)).close()


# --- Spread, tokens, limits ----------------------------------------------------------


def test_one_parent_pid_and_connections_land_on_several_children(target: TargetProcess) -> None:
    assert len(target.children) == CHILDREN
    assert sorted(c.pid for c in psutil.Process(target.pid).children()) == sorted(target.children)
    clients = [_open(target, token_for(None)) for _ in range(CLIENTS)]
    try:
        serving = [_server_pid(target, ws) for ws in clients]
        assert len(set(serving)) > 1
        for ws in clients:
            ws.send("hi")
            assert ws.recv(timeout=scaled(5)) == "hi"
    finally:
        for ws in clients:
            ws.close()
    answered = {health(target)["process"] for _ in range(CLIENTS)}
    assert len(answered) > 1
    assert answered <= set(range(CHILDREN))


def test_valid_accepted_and_expired_refused_through_every_child(tmp_path: Path) -> None:
    with _start(tmp_path, "tokens", max_connections=300) as target:
        for _ in range(CLIENTS):
            with _open(target, token_for(None)) as ws:
                ws.send("x")
                assert ws.recv(timeout=scaled(5)) == "x"
            with pytest.raises(InvalidStatus) as info:
                _open(target, token_for("expired")).close()
            assert info.value.response.status_code == 401
        log = target.log_path
        deadline = time.monotonic() + scaled(5)
        while len(_log_pids(log, r"refused \S+ \(expired\)")) < CHILDREN:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        assert _log_pids(log, "accepted ") == set(target.children)
        assert _log_pids(log, r"refused \S+ \(expired\)") == set(target.children)


def test_max_connections_is_the_total_over_every_child(tmp_path: Path) -> None:
    limit = 6  # 2 a child
    with _start(tmp_path, "limit", max_connections=limit) as target:
        held: list[ClientConnection] = []
        refused: list[int] = []
        try:
            for _ in range(40):  # a child gets fewer than 2 of 40: p < 1e-5
                try:
                    held.append(_open(target, token_for(None)))
                except InvalidStatus as exc:
                    refused.append(exc.response.status_code)
            assert len(held) == limit
            assert refused == [503] * (40 - limit)
            assert {health(target)["max_connections"] for _ in range(CLIENTS)} == {2}
        finally:
            for ws in held:
                ws.close()


# --- Stop as one ---------------------------------------------------------------------


def test_sigterm_stops_every_child_gracefully(tmp_path: Path) -> None:
    target = _start(tmp_path, "sigterm")
    try:
        clients = [_open(target, token_for(None)) for _ in range(12)]
        assert len({_server_pid(target, ws) for ws in clients}) > 1
        children = list(target.children)
        os.kill(target.pid, signal.SIGTERM)
        for ws in clients:
            with ws, pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=scaled(5))
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        assert target.popen.wait(timeout=scaled(6)) == 0
        assert _wait_gone(children) == []
    finally:
        target.stop()


def test_sigkill_of_the_parent_leaves_no_orphan(tmp_path: Path) -> None:
    target = _start(tmp_path, "sigkill")
    try:
        children = list(target.children)
        os.kill(target.pid, signal.SIGKILL)
        target.popen.wait(timeout=scaled(5))
        assert _wait_gone(children) == []  # PR_SET_PDEATHSIG: SIGKILL to each
    finally:
        target.stop()


def test_a_child_that_dies_takes_the_target_down(tmp_path: Path) -> None:
    target = _start(tmp_path, "crash")
    try:
        children = list(target.children)
        os.kill(children[1], signal.SIGKILL)
        assert target.popen.wait(timeout=scaled(8)) == 1
        assert _wait_gone(children) == []
        assert "exited on its own" in target.log_path.read_text()
    finally:
        target.stop()


# --- Probe and chaos see the tree ----------------------------------------------------


def test_probe_sample_sums_the_children(target: TargetProcess) -> None:
    clients = [_open(target, token_for(None)) for _ in range(9)]
    try:
        tree = Tree(target.pid)
        assert sorted(p.pid for p in tree.descendants()) == sorted(target.children)
        s = tree.sample()
        procs = [psutil.Process(target.pid), *(psutil.Process(p) for p in target.children)]
        assert s["processes"] == CHILDREN + 1
        assert s["threads"] == sum(p.num_threads() for p in procs)
        # each child holds its clients' sockets and a listening one; the parent none
        assert s["connections"] >= 9 + CHILDREN
        assert s["rss_mb"] > max(p.memory_info().rss for p in procs) / 2**20
        assert set(s) == {
            "t",
            "cpu_percent",
            "rss_mb",
            "fds",
            "connections",
            "threads",
            "processes",
        }
    finally:
        for ws in clients:
            ws.close()


def _ctx(target: TargetProcess, tmp_path: Path) -> ChaosContext:
    return ChaosContext(target_pid=target.pid, run_dir=tmp_path)


@pytest.mark.xdist_group("serial")
def test_fd_limit_limits_every_process_and_restores_each(
    target: TargetProcess, tmp_path: Path
) -> None:
    pids = [target.pid, *target.children]
    before = {p: psutil.Process(p).rlimit(psutil.RLIMIT_NOFILE) for p in pids}
    fault = FdLimit(FdLimitParams(headroom=64))
    fault.apply(_ctx(target, tmp_path))
    try:
        for p in pids:
            proc = psutil.Process(p)
            assert proc.rlimit(psutil.RLIMIT_NOFILE)[0] <= proc.num_fds() + 64
    finally:
        fault.revert(_ctx(target, tmp_path))
    assert {p: psutil.Process(p).rlimit(psutil.RLIMIT_NOFILE) for p in pids} == before


@pytest.mark.xdist_group("serial")
def test_cpu_pause_stops_every_process(target: TargetProcess, tmp_path: Path) -> None:
    pids = [target.pid, *target.children]
    fault = CpuPause(CpuPauseParams(percent=1, period_ms=2000))  # stopped ~1.98 s of 2
    fault.apply(_ctx(target, tmp_path))
    try:
        deadline = time.monotonic() + scaled(3)
        stopped: set[int] = set()
        while stopped != set(pids) and time.monotonic() < deadline:
            stopped |= {p for p in pids if psutil.Process(p).status() == psutil.STATUS_STOPPED}
            time.sleep(0.01)
        assert stopped == set(pids)
    finally:
        fault.revert(_ctx(target, tmp_path))
    assert all(psutil.Process(p).status() != psutil.STATUS_STOPPED for p in pids)
    assert "connections" in health(target)  # it serves again


@pytest.mark.xdist_group("serial")
def test_kill_target_kills_the_whole_tree(tmp_path: Path) -> None:
    target = _start(tmp_path, "kill")
    try:
        pids = [target.pid, *target.children]
        KillTarget(KillTargetParams(signal="KILL")).apply(_ctx(target, tmp_path))
        target.popen.wait(timeout=scaled(5))
        assert target.popen.returncode == -signal.SIGKILL
        assert _wait_gone(pids) == []
    finally:
        target.stop()


# --- Socket.IO: WebSocket only -------------------------------------------------------


def _sio_connect(target: TargetProcess, token: str | None) -> str:
    """Open an Engine.IO WebSocket, send the CONNECT with ``token``; the server's answer."""
    url = f"ws://127.0.0.1:{target.port}/socket.io/?EIO=4&transport=websocket"
    with connect(url, open_timeout=scaled(5), close_timeout=1) as ws:
        opened = ws.recv(timeout=scaled(5))
        assert isinstance(opened, str) and opened.startswith("0")
        ws.send("40" + json.dumps({"token": token}))
        answer = ws.recv(timeout=scaled(5))
        assert isinstance(answer, str)
        return answer


def test_socketio_over_websocket_with_two_processes(tmp_path: Path) -> None:
    with start_target(
        EmbeddedTarget(processes=2, socketio_transports=("websocket",)),
        secret=SECRET,
        log_path=tmp_path / "sio.log",
        protocol="socketio",
        socketio=SocketIO(),
        ready_timeout=scaled(30),
    ) as target:
        assert len(target.children) == 2
        for _ in range(10):
            assert _sio_connect(target, token_for(None)).startswith("40")
            assert _sio_connect(target, token_for("expired")).startswith("44")
        assert _log_pids(target.log_path, r"accepted ") == set(target.children)


def test_socketio_polling_with_several_processes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TargetStartError, match="--transports websocket"):
        start_target(
            EmbeddedTarget(processes=2),
            secret=SECRET,
            log_path=tmp_path / "sio.log",
            protocol="socketio",
            ready_timeout=scaled(30),
        )


# --- The scenario's keys -------------------------------------------------------------


def test_scenario_processes_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load("name: x\ntarget:\n  embedded: {processes: 4}\n")
    assert s.target.embedded is not None and s.target.embedded.processes == 4
    assert load("name: x\n").target.embedded == EmbeddedTarget()
    assert error("name: x\ntarget:\n  embedded: {processes: 65}\n") == (
        "x.yaml:3: target.embedded.processes: expected an integer in [1, 64], got 65"
    )
    assert "target.embedded.processes: max_connections is split over the processes" in error(
        "name: x\ntarget:\n  embedded: {processes: 8, max_connections: 4}\n"
    )
    sio = "name: x\ntarget:\n  protocol: socketio\n  embedded: {processes: 2%s}\n"
    message = error(sio % "")
    assert "target.embedded.processes: 2 processes serve Socket.IO over WebSocket only" in message
    assert "target.embedded.socketio_transports: [websocket]" in message
    ok = load(sio % ", socketio_transports: [websocket]").target.embedded
    assert ok is not None and ok.processes == 2
