"""Tests of harness.config.guards: a target host beyond loopback must be allowed (in the file,
or with ``--allow-host`` for a URL of the file, a ``--set`` or ``--target-url``); a named
target PID must be one the harness may touch. No name is looked up: nothing leaves the machine.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from harness.config.guards import host_refusal, is_loopback
from harness.config.loader import load_scenario, validate_scenario
from harness.config.overrides import apply_overrides, with_allowed_hosts
from harness.config.scenario import Target
from harness.errors import HarnessError, ScenarioError
from tests.config.helpers import error, load, write


def refused(host: str) -> str:
    return (
        f"host {host!r} is not loopback; add it to target.allow_hosts "
        f"(or --allow-host {host}) to load a service outside this machine"
    )


# --- Hosts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.5.6.7",
        "[::1]",
        "[0:0::1]",
        "localhost",
        "LocalHost.",
        "[::ffff:127.0.0.1]",
    ],
)
def test_loopback_targets_load_without_allowing(host: str) -> None:
    s = load(f"name: x\ntarget: {{url: 'ws://{host}:9000/ws'}}\n")
    assert s.target.url == f"ws://{host}:9000/ws" and s.target.allow_hosts == ()


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("wss://example.com/ws", "example.com"),
        ("ws://10.0.0.1:80/ws", "10.0.0.1"),
        ("ws://127.1/ws", "127.1"),  # what a resolver would call loopback is not, unlooked-up
        ("ws://0.0.0.0:9/ws", "0.0.0.0"),
        ("ws://[2001:db8::1]:9/ws", "2001:db8::1"),
        ("ws://localhost.example.com/ws", "localhost.example.com"),
    ],
)
def test_a_host_beyond_loopback_is_refused_with_how_to_allow_it(url: str, host: str) -> None:
    assert error(f"name: x\ntarget:\n  url: '{url}'\n") == f"x.yaml:3: target.url: {refused(host)}"


def test_the_exact_message_of_the_issue() -> None:
    assert host_refusal("ws://example.com/ws", ()) == (
        "host 'example.com' is not loopback; add it to target.allow_hosts "
        "(or --allow-host example.com) to load a service outside this machine"
    )
    assert host_refusal("ws://Example.COM./ws", ("example.com",)) is None
    assert is_loopback("::1") and not is_loopback("::2") and not is_loopback("example")


def test_allow_hosts_in_the_file() -> None:
    s = load("""\
        name: x
        target:
          url: 'wss://Chat.Example.com:8443/ws'
          allow_hosts: [chat.example.com, '2001:DB8::1', 10.0.0.1]
        """)
    assert s.target == Target(
        url="wss://Chat.Example.com:8443/ws",
        allow_hosts=("chat.example.com", "2001:db8::1", "10.0.0.1"),
    )
    assert load(
        "name: x\ntarget: {url: 'ws://[2001:db8:0::1]/ws', allow_hosts: ['[2001:db8::1]']}\n"
    )


def test_allow_hosts_errors() -> None:
    assert error("name: x\ntarget: {embedded: {}, allow_hosts: ['a b']}\n") == (
        "x.yaml:2: target.allow_hosts[0]: expected a host name or an IP address, got 'a b'"
    )
    assert error("name: x\ntarget: {embedded: {}, allow_hosts: [h, H.]}\n") == (
        "x.yaml:2: target.allow_hosts[1]: 'h' is listed twice"
    )
    assert error("name: x\ntarget: {embedded: {}, allow_hosts: h}\n") == (
        "x.yaml:2: target.allow_hosts: expected a list of hosts, got 'h'"
    )
    hosts = ", ".join(f"h{i}" for i in range(257))
    assert error(f"name: x\ntarget: {{embedded: {{}}, allow_hosts: [{hosts}]}}\n") == (
        "x.yaml:2: target.allow_hosts: expected at most 256 hosts, got 257"
    )


def test_allow_host_on_the_command_line_allows_the_file_s_url_and_a_set_s() -> None:
    path = write("name: x\ntarget: {url: 'wss://example.com/ws'}\n")
    assert [str(e) for e in validate_scenario(path)] == [
        f"x.yaml:2: target.url: {refused('example.com')}"
    ]
    s = load_scenario(path, allow_hosts=["EXAMPLE.com"])
    assert s.target.allow_hosts == ("example.com",)
    path = write("name: x\n")
    sets = ["target.url=ws://10.1.2.3/ws"]
    assert [str(e) for e in validate_scenario(path, sets)] == [
        f"--set target.url=ws://10.1.2.3/ws: target.url: {refused('10.1.2.3')}"
    ]
    assert load_scenario(path, sets, allow_hosts=["10.1.2.3"]).target.url == "ws://10.1.2.3/ws"


def test_a_bad_allow_host_flag_names_the_flag() -> None:
    errors = validate_scenario(write("name: x\n"), allow_hosts=["a b", "ok.example"])
    assert [str(e) for e in errors] == [
        "--allow-host: expected a host name or an IP address, got 'a b'"
    ]
    with pytest.raises(HarnessError) as info:
        with_allowed_hosts(load("name: x\n"), ["a b"])
    assert str(info.value) == "--allow-host: expected a host name or an IP address, got 'a b'"


def test_target_url_is_checked_against_the_allowed_hosts() -> None:
    s = load("name: x\ntarget: {embedded: {}, close_codes: {4001: capacity}}\n")
    with pytest.raises(HarnessError) as info:
        apply_overrides(s, target_url="wss://example.com/ws")
    assert not isinstance(info.value, ScenarioError)
    assert str(info.value) == f"--target-url: {refused('example.com')}"
    allowed = with_allowed_hosts(s, ["example.com", "Example.com"])
    assert allowed.target.allow_hosts == ("example.com",) and s.target.allow_hosts == ()
    o = apply_overrides(allowed, target_url="wss://example.com/ws")
    assert o.target == Target(
        url="wss://example.com/ws", close_codes={4001: "capacity"}, allow_hosts=("example.com",)
    )
    assert with_allowed_hosts(allowed, ["example.com"]) is allowed


# --- target.pid ---------------------------------------------------------------------------


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def pid_error(pid: int) -> str:
    return error(f"name: x\ntarget:\n  url: ws://127.0.0.1:9/ws\n  pid: {pid}\n")


def test_a_pid_the_harness_may_not_touch_is_refused_at_load() -> None:
    assert pid_error(1) == "x.yaml:4: target.pid: PID 1 is never touched (init and the kernel's)"
    assert pid_error(os.getpid()) == (
        f"x.yaml:4: target.pid: PID {os.getpid()} is one of the harness's own processes"
    )
    assert os.getppid() <= 1 or pid_error(os.getppid()) == (
        f"x.yaml:4: target.pid: PID {os.getppid()} is an ancestor of the harness "
        "(the shell or job that started it)"
    )
    assert pid_error(0) == "x.yaml:4: target.pid: expected an integer in [1, 4194304], got 0"


def test_a_pid_that_does_not_exist_is_refused() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert pid_error(gone.pid) == f"x.yaml:4: target.pid: PID {gone.pid} does not exist"


def test_a_process_of_the_harness_s_session_is_refused_one_in_its_own_is_not(
    spawn: list[subprocess.Popen[bytes]],
) -> None:
    spawn.append(same := subprocess.Popen(["sleep", "30"]))
    assert pid_error(same.pid) == (
        f"x.yaml:4: target.pid: PID {same.pid} is in the harness's own session (a process of "
        "its terminal); start the target in a session of its own (setsid)"
    )
    spawn.append(own := subprocess.Popen(["sleep", "30"], start_new_session=True))
    s = load(f"name: x\ntarget:\n  url: ws://127.0.0.1:9/ws\n  pid: {own.pid}\n")
    assert s.target.pid == own.pid


def test_a_pid_set_on_the_command_line_is_checked_too() -> None:
    path = write("name: x\ntarget: {url: 'ws://127.0.0.1:9/ws'}\n")
    assert [str(e) for e in validate_scenario(path, ["target.pid=1"])] == [
        "--set target.pid=1: target.pid: PID 1 is never touched (init and the kernel's)"
    ]
