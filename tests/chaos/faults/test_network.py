"""The network faults through the Fault interface, against a real proxy and target."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import load_faults
from harness.chaos.base import ChaosContext, ChaosError
from harness.chaos.proxy.server import ChaosProxy, ProxyThread
from harness.config.scenario import Auth, EmbeddedTarget
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.load.result import Result
from harness.protocol.outcomes import Outcome, classify
from harness.protocol.tokens import mint, new_secret
from harness.target.process import TargetProcess, start_target
from tests.conftest import scaled

SECRET = new_secret()
QUICK = SessionPlan(hold=0.1, messages=1, message_bytes=64, reply_timeout=5)
BIG = SessionPlan(hold=0.1, messages=1, message_bytes=16 * 1024, reply_timeout=30)


@dataclass(frozen=True)
class Case:
    """A fault, the parameters to apply it with, and what a client sees while it is on."""

    name: str
    kind: str
    params: dict[str, Any]
    plan: SessionPlan
    seen: Callable[[Outcome, Result], bool]


CASES = [
    Case(
        "latency",
        "network",
        {"ms": 150.0},
        QUICK,  # request and response each wait 150 ms
        lambda o, r: o is Outcome.ACCEPTED and (r.handshake_ms or 0) >= 270,
    ),
    Case(
        "bandwidth",
        "network",
        {"kib_per_s": 16.0},
        BIG,  # 16 KiB each way at 16 KiB/s: about 2 s
        lambda o, r: o is Outcome.ACCEPTED and bool(r.rtts_ms) and r.rtts_ms[0] >= 1500,
    ),
    Case(  # an RST at accept: usually during the upgrade, rarely already in connect()
        "reset",
        "network",
        {},
        QUICK,
        lambda o, r: o in (Outcome.ABNORMAL_HANDSHAKE, Outcome.CONNECT_ERROR),
    ),
    Case(
        "reset",
        "network",
        {"after_ms": 300.0},
        SessionPlan(hold=1.0, messages=1),
        lambda o, r: o is Outcome.ABNORMAL_CLOSURE,
    ),
    Case("blackhole", "network", {}, QUICK, lambda o, r: o is Outcome.TIMEOUT_HANDSHAKE),
    Case("cut_handshake", "network", {}, QUICK, lambda o, r: o is Outcome.ABNORMAL_HANDSHAKE),
    Case(
        "connection_cap",
        "connections",
        {"max_connections": 0, "mode": "refuse"},
        QUICK,
        lambda o, r: o is Outcome.REJECTED_CAPACITY and r.observation.http_status == 503,
    ),
    Case(
        "connection_cap",
        "connections",
        {"max_connections": 0, "mode": "hold"},
        QUICK,
        lambda o, r: o is Outcome.TIMEOUT_HANDSHAKE,
    ),
]
NAMES = sorted({c.name for c in CASES})


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetProcess]:
    log = tmp_path_factory.mktemp("target") / "target.log"
    with start_target(EmbeddedTarget(ping_interval=0), secret=SECRET, log_path=log) as t:
        yield t


@pytest.fixture
def pt(target: TargetProcess) -> Iterator[ProxyThread]:
    thread = ProxyThread(ChaosProxy(target.host, target.port, seed=3))
    thread.start()
    yield thread
    thread.stop()


def attempt(pt: ProxyThread, plan: SessionPlan = QUICK) -> tuple[Outcome, Result]:
    req = Request(
        url=f"ws://127.0.0.1:{pt.proxy.port}/ws",
        token=mint("valid", Auth(), SECRET),
        handshake_timeout=scaled(1.0),
    )
    res = open_attempt(req, plan)
    return classify(res.observation), res


def context(tmp_path: Path, pt: ProxyThread | None) -> ChaosContext:
    return ChaosContext(target_pid=None, run_dir=tmp_path, proxy=pt.proxy if pt else None)


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_metadata(name: str) -> None:
    cls = load_faults()[name]
    assert cls.name == name
    assert cls.kind == ("connections" if name == "connection_cap" else "network")
    assert cls.needs_proxy and not cls.needs_pid
    assert cls.summary and "\n" not in cls.summary
    assert cls.unsupported() is None
    params = cls.Params()  # every parameter has a default
    for f in dataclasses.fields(params):
        meta = f.metadata
        assert meta["doc"], f.name
        if meta["choices"]:
            assert getattr(params, f.name) in meta["choices"]
        else:
            assert meta["unit"] and meta["low"] is not None and meta["high"] is not None, f.name
            assert meta["low"] <= getattr(params, f.name) <= meta["high"]


def test_defaults() -> None:
    faults = load_faults()
    assert faults["latency"].Params() == faults["latency"].Params(ms=200.0, jitter_ms=0.0)
    assert faults["bandwidth"].Params().kib_per_s == 64.0
    assert faults["reset"].Params() == faults["reset"].Params(probability=1.0, after_ms=0.0)
    cap = faults["connection_cap"].Params()
    assert (cap.max_connections, cap.mode) == (10, "reset")
    assert dataclasses.fields(faults["blackhole"].Params) == ()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}-{c.params}")
def test_apply_changes_what_a_client_sees_and_revert_restores(
    case: Case, pt: ProxyThread, tmp_path: Path
) -> None:
    cls = load_faults()[case.name]
    fault = cls(cls.Params(**case.params))
    ctx = context(tmp_path, pt)
    assert attempt(pt, case.plan)[0] is Outcome.ACCEPTED
    pt.call(fault.apply, ctx)  # the driver calls faults from the proxy's loop thread
    assert len(pt.proxy.toxics) == 1
    outcome, res = attempt(pt, case.plan)
    assert case.seen(outcome, res), (outcome, res)
    pt.call(fault.revert, ctx)
    pt.call(fault.revert, ctx)  # twice is fine
    assert pt.proxy.toxics == {}
    outcome, res = attempt(pt, case.plan)
    assert outcome is Outcome.ACCEPTED, res.error
    assert not case.seen(outcome, res)


@pytest.mark.parametrize("name", NAMES)
def test_revert_without_apply_and_apply_without_proxy(
    name: str, pt: ProxyThread, tmp_path: Path
) -> None:
    fault = load_faults()[name]()
    fault.revert(context(tmp_path, pt))  # never applied: a no-op
    fault.revert(context(tmp_path, None))  # no proxy: a no-op
    with pytest.raises(ChaosError, match=name):
        fault.apply(context(tmp_path, None))
    assert pt.proxy.toxics == {}


def test_two_windows_of_one_fault_do_not_clash(pt: ProxyThread, tmp_path: Path) -> None:
    cls = load_faults()["connection_cap"]
    first = cls(cls.Params(max_connections=0, mode="refuse"))
    second = cls(cls.Params(max_connections=0, mode="refuse"))
    ctx = context(tmp_path, pt)
    pt.call(first.apply, ctx)
    pt.call(second.apply, ctx)
    assert len(pt.proxy.toxics) == 2
    pt.call(first.revert, ctx)
    assert attempt(pt)[0] is Outcome.REJECTED_CAPACITY  # the second window is still on
    pt.call(second.revert, ctx)
    assert attempt(pt)[0] is Outcome.ACCEPTED
