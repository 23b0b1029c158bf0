"""Custom sessions (harness.load.flow) against real servers: a data flow, the hook example,
hooks that fail or meet a deadline, and hooks that cannot be loaded.

Servers: the embedded reference target (it echoes every message), a small ``websockets``
service that speaks JSON (``/chat`` answers, ``/silent...`` never does, ``/close`` closes 4001
after its first reply), and the raw server's ``/ping-echo``.
"""

from __future__ import annotations

import json
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from websockets.sync.server import ServerConnection, serve

from harness.config.loader import load_scenario
from harness.config.scenario import EmbeddedTarget, Load, Scenario, Session
from harness.errors import ScenarioError
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import open_attempt
from harness.load.hooks import check_hook, load_hook
from harness.load.plan import session_plan
from harness.load.request import auth_request
from harness.load.result import Result
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES, Deadline, Outcome, classify
from harness.protocol.tokens import mint
from harness.target.process import TargetProcess, start_target
from tests.analysis.builders import rec, summary_of
from tests.conftest import ROOT, run_cli, scaled
from tests.rawserver import raw_server

SECRET = "flow-test-secret-" + "0123456789abcdef" * 2
USER = 7


@dataclass
class JsonService:
    """A service with its own JSON protocol; ``received`` holds every message, by path."""

    url: str
    received: dict[str, list[str]] = field(default_factory=dict)

    def wait_received(self, path: str, count: int) -> list[str]:
        """The messages ``path`` got, once there are ``count`` (the server's thread records
        them; bounded wait)."""
        end = time.monotonic() + scaled(5)
        while len(got := self.received.get(path, [])) < count and time.monotonic() < end:
            time.sleep(0.01)
        return list(got)


@contextmanager
def json_service() -> Iterator[JsonService]:
    service = JsonService(url="")

    def handler(ws: ServerConnection) -> None:
        path = ws.request.path.split("?")[0] if ws.request else "/"  # without the token
        got = service.received.setdefault(path, [])
        for message in ws:
            got.append(str(message))
            if path.startswith("/silent"):
                continue
            doc = json.loads(message)
            if doc.get("type") == "subscribe":
                ws.send(json.dumps({"type": "tick"}))  # a push nobody awaits: unmatched
                ws.send(json.dumps({"type": "subscribed", "user": doc.get("user")}))
            elif doc.get("type") == "ping":
                ws.send(json.dumps({"type": "pong", "n": doc.get("n")}))
            if path == "/close":
                ws.close(4001, "bye")
                return

    with serve(handler, "127.0.0.1", 0, ping_interval=None, compression=None) as server:
        host, port = server.socket.getsockname()[:2]
        service.url = f"ws://{host}:{port}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield service
        finally:
            server.shutdown()
            thread.join(scaled(5))


@pytest.fixture(scope="module")
def service() -> Iterator[JsonService]:
    with json_service() as s:
        yield s


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetProcess]:
    log = tmp_path_factory.mktemp("flow") / "target.log"
    with start_target(EmbeddedTarget(ping_interval=0), secret=SECRET, log_path=log) as t:
        yield t


def scenario(tmp_path: Path, session_yaml: str) -> Scenario:
    """A scenario file in ``tmp_path`` whose ``load.session`` is ``session_yaml``."""
    body = textwrap.indent(textwrap.dedent(session_yaml), "    ")
    path = tmp_path / "flow.yaml"
    path.write_text(f"name: flow\nload:\n  session:\n{body}")
    return load_scenario(path)


def attempt(s: Scenario, url: str, kind: str = "valid") -> tuple[Result, Outcome]:
    token = mint(kind, s.auth, SECRET)
    res = open_attempt(auth_request(url, s.auth, token), session_plan(s, USER))
    return res, classify(res.observation, DEFAULT_APP_CLOSE_CODES)


def hook_file(tmp_path: Path, code: str) -> str:
    path = tmp_path / "hook.py"
    path.write_text(textwrap.dedent(code))
    return f"{path}:session"


# --- The data flow ---------------------------------------------------------------------------


def test_a_data_flow_makes_its_round_trips_and_thinks(service: JsonService, tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """\
        flow:
          - send: '{"type":"subscribe","user":"{user}"}'
            expect: {field: type, value: subscribed}
          - repeat: 3
            steps:
              - send: '{"type":"ping","n":{n}}'
                expect: {field: n, value: "{n}"}
              - think: 0.1
          - send: '{"type":"bye"}'
        """,
    )
    res, outcome = attempt(s, f"{service.url}/chat")
    assert outcome is Outcome.ACCEPTED, res.error
    assert len(res.rtts_ms) == 4 and all(r > 0 for r in res.rtts_ms)
    assert (res.msgs_sent, res.msgs_recv, res.msgs_unmatched) == (5, 5, 1)  # the tick
    assert res.open_s is not None and res.open_s >= 0.3  # three thinks of 0.1 s
    assert res.client_close_code == 1000 and res.error is None
    got = [json.loads(m) for m in service.wait_received("/chat", 5)]
    assert got == [
        {"type": "subscribe", "user": str(USER)},
        {"type": "ping", "n": 1},
        {"type": "ping", "n": 2},
        {"type": "ping", "n": 3},
        {"type": "bye"},
    ]


def test_an_expect_that_never_matches_ends_the_attempt_timeout_reply(
    target: TargetProcess, tmp_path: Path
) -> None:
    s = scenario(
        tmp_path,
        """\
        flow:
          - send: '{"type":"ping"}'
            expect: {field: type, value: pong}
            timeout: 0.3
        """,
    )
    res, outcome = attempt(s, target.url)
    assert outcome is Outcome.TIMEOUT_REPLY
    assert res.observation.gave_up is Deadline.REPLY
    assert res.error == ("gave up: no reply type=pong (load.session.flow[0], n=1) within 0.3 s")
    assert (res.msgs_sent, res.msgs_unmatched, res.rtts_ms) == (1, 1, [])  # the echo
    assert res.client_close_code == 1001


def test_the_token_goes_into_a_message_only_where_a_template_says_so(
    service: JsonService, tmp_path: Path
) -> None:
    s = scenario(
        tmp_path,
        """\
        flow:
          - send: '{"type":"hello","user":"{user}"}'
          - send: '{"type":"auth","token":"{token}"}'
            expect: {field: type, value: auth_ok}
            timeout: 0.2
        """,
    )
    token = mint("valid", s.auth, SECRET)
    assert token is not None
    url = f"{service.url}/silent-token"
    res = open_attempt(auth_request(url, s.auth, token), session_plan(s, 3))
    assert classify(res.observation) is Outcome.TIMEOUT_REPLY
    assert res.error is not None and token not in res.error
    hello, auth = (json.loads(m) for m in service.wait_received("/silent-token", 2))
    assert hello == {"type": "hello", "user": "3"} and auth == {"type": "auth", "token": token}


def test_a_flow_answers_server_pings_and_matches_the_echo(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        """\
        flow:
          - {send: '{"t":1}', expect: {field: t, value: 1}}
          - {send: '{"t":2}', expect: {field: t, value: 2}}
        """,
    )
    with raw_server() as (base, _):
        res, outcome = attempt(s, f"{base}/ping-echo")
    assert outcome is Outcome.ACCEPTED, res.error
    assert res.pings == 1 and len(res.rtts_ms) == 2


def test_the_data_flow_example_runs_against_the_embedded_target(target: TargetProcess) -> None:
    s = load_scenario(ROOT / "examples" / "flow.yaml")
    res, outcome = attempt(s, target.url)
    assert outcome is Outcome.ACCEPTED, res.error
    assert len(res.rtts_ms) == 6 and res.msgs_unmatched == 0
    assert res.open_s is not None and res.open_s >= 5 * 0.2  # five thinks of at least 0.2 s
    res, outcome = attempt(s, target.url, "empty")
    assert outcome is Outcome.REJECTED_AUTH  # refused at the upgrade: the flow never ran


def test_a_server_close_ends_a_flow_with_the_servers_code(
    service: JsonService, tmp_path: Path
) -> None:
    s = scenario(
        tmp_path,
        """\
        flow:
          - {send: '{"type":"subscribe"}', expect: {field: type, value: subscribed}}
          - {send: '{"type":"ping","n":1}', expect: {field: type, value: pong}}
        """,
    )
    res, outcome = attempt(s, f"{service.url}/close")
    assert outcome is Outcome.CLOSED_OTHER, res.error
    assert (res.observation.close_code, res.observation.closed_by) == (4001, "server")
    assert res.close_reason == "bye" and len(res.rtts_ms) == 1


# --- The hook ----------------------------------------------------------------------------------


def test_the_hook_example_runs_against_the_embedded_target(target: TargetProcess) -> None:
    s = load_scenario(ROOT / "examples" / "flow-hook.yaml")
    res, outcome = attempt(s, target.url)
    assert outcome is Outcome.ACCEPTED, res.error
    assert len(res.rtts_ms) == 4  # the subscription and three pings
    assert (res.msgs_sent, res.msgs_recv, res.msgs_unmatched) == (4, 4, 0)
    assert res.open_s is not None and res.open_s >= 3 * 0.2  # three sleeps of 0.2 s


def test_a_hooks_connection_sends_receives_and_keeps_what_came_while_sleeping(
    target: TargetProcess, tmp_path: Path
) -> None:
    spec = hook_file(
        tmp_path,
        """\
        def session(conn):
            assert conn.user == 7 and conn.token
            conn.send_text("one")
            conn.sleep(0.2)
            assert conn.receive(0) == "one"  # came while sleeping, kept
            assert conn.receive(0.05) is None  # nothing else was sent
            conn.send_bytes(b"\\x00\\x01")
            assert conn.receive(5) == b"\\x00\\x01"
            assert conn.request("plain text") == "plain text"
            assert conn.request({"a": [1]}, match=lambda r: r == {"a": [1]}) == {"a": [1]}
        """,
    )
    s = scenario(tmp_path, f"hook: {spec}\n")
    res, outcome = attempt(s, target.url)
    assert outcome is Outcome.ACCEPTED, res.error
    assert (res.msgs_sent, res.msgs_recv, len(res.rtts_ms)) == (4, 4, 2)


def test_a_hook_that_raises_is_a_flow_error_of_the_scenario(
    target: TargetProcess, tmp_path: Path
) -> None:
    spec = hook_file(
        tmp_path,
        """\
        def session(conn):
            conn.request({"type": "hello"})
            raise ValueError("unexpected reply, token " + conn.token)
        """,
    )
    s = scenario(tmp_path, f"hook: {spec}\n")
    token = mint("valid", s.auth, SECRET)
    assert token is not None
    res = open_attempt(auth_request(target.url, s.auth, token), session_plan(s, USER))
    info = AttemptInfo("r", "local", USER, 1, "valid", "query", True, time.time())
    rec, outcome = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
    assert outcome is Outcome.FLOW_ERROR
    assert rec.verdict == "excluded" and rec.manner is None  # the scenario's, never the target's
    assert rec.error is not None and token not in rec.error
    assert rec.error == "hook raised at hook.py:3: ValueError: unexpected reply, token <redacted>"
    assert rec.client_close_code == 1001 and len(res.rtts_ms) == 1


def test_a_hook_misusing_its_connection_is_blamed_at_its_own_line(
    target: TargetProcess, tmp_path: Path
) -> None:
    spec = hook_file(tmp_path, "def session(conn):\n    conn.sleep(-1)\n")
    res, outcome = attempt(scenario(tmp_path, f"hook: {spec}\n"), target.url)
    assert outcome is Outcome.FLOW_ERROR
    assert res.error == (
        "hook raised at hook.py:2: ValueError: sleep must be a number of seconds >= 0, got -1"
    )


def test_a_deadline_in_a_hook_ends_the_attempt_even_when_the_hook_catches_it(
    service: JsonService, tmp_path: Path
) -> None:
    spec = hook_file(
        tmp_path,
        """\
        def session(conn):
            try:
                conn.request({"type": "ping"}, timeout=0.2)
            except Exception:
                pass  # the harness's deadline still ends the attempt
        """,
    )
    s = scenario(tmp_path, f"hook: {spec}\n")
    res, outcome = attempt(s, f"{service.url}/silent")
    assert outcome is Outcome.TIMEOUT_REPLY
    assert res.error == "gave up: no reply matching the request within 0.2 s"


def test_a_server_close_during_a_hook_is_the_servers_close(
    service: JsonService, tmp_path: Path
) -> None:
    spec = hook_file(
        tmp_path,
        """\
        def session(conn):
            try:
                conn.request({"type": "subscribe"}, match=lambda r: r["type"] == "subscribed")
                conn.request({"type": "ping", "n": 1})
            except Exception:
                pass
            conn.send_text("after the close")  # raises the close again
        """,
    )
    s = scenario(tmp_path, f"hook: {spec}\n")
    res, outcome = attempt(s, f"{service.url}/close")
    assert outcome is Outcome.CLOSED_OTHER, res.error
    assert (res.observation.close_code, res.observation.closed_by) == (4001, "server")


# --- Loading the hook --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "function", "message"),
    [
        ("def run(conn):\n    pass\n", "session", "{where} has no function 'session'"),
        ("session = 5\n", "session", "{where}: session is not a function"),
        (
            "def session():\n    pass\n",
            "session",
            "{where}: session must take one argument, the connection",
        ),
        (
            "async def session(conn):\n    pass\n",
            "session",
            "{where}: session is async; a hook is a plain function (def, not async)",
        ),
        (
            "def session(conn):\n  pass\n pass\n",
            "session",
            "{where}:3: syntax error: unindent does not match any outer indentation level",
        ),
        (
            "raise RuntimeError('no config')\n",
            "session",
            "importing {where} raised RuntimeError: no config",
        ),
    ],
)
def test_a_hook_that_cannot_be_used_is_a_scenario_error(
    tmp_path: Path, code: str, function: str, message: str
) -> None:
    path = tmp_path / f"h{abs(hash(code))}.py"
    path.write_text(code)
    s = Scenario(name="x", source="x.yaml", load=Load(session=Session(hook=f"{path}:{function}")))
    with pytest.raises(ScenarioError) as info:
        check_hook(s)
    assert str(info.value) == "x.yaml: load.session.hook: " + message.format(where=path)


def test_a_hook_module_is_imported_by_name_once() -> None:
    s = Scenario(name="x", source="x.yaml", load=Load(session=Session(hook="no_such_mod:run")))
    with pytest.raises(ScenarioError) as info:
        check_hook(s)
    assert str(info.value) == (
        "x.yaml: load.session.hook: no module named 'no_such_mod' "
        "(a hook in a file: path/to/file.py:function)"
    )
    assert load_hook("json:dumps") is json.dumps  # any importable module
    assert load_hook("json:dumps") is load_hook("json:dumps")


def test_validate_and_run_refuse_a_hook_without_its_function(tmp_path: Path) -> None:
    (tmp_path / "hook.py").write_text("def other(conn):\n    pass\n")
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nload:\n  duration: 2\n  session:\n    hook: hook.py:session\n")
    hook = tmp_path / "hook.py"
    expected = f"harness: error: {path}: load.session.hook: {hook} has no function 'session'"
    for command in ("validate", "run"):
        run = run_cli(
            command, str(path), *(["--out", str(tmp_path / "runs")] if command == "run" else [])
        )
        assert run.code == 2, (command, run.stderr)
        assert expected in run.stderr.splitlines(), (command, run.stderr)
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_hook_example_scenario_passes_its_gates(tmp_path: Path) -> None:
    run = run_cli("run", "examples/flow-hook.yaml", "-q", out_dir=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    rows = run.attempts()
    valid = [r for r in rows if r["token_kind"] == "valid" and r["error"] is None]
    assert valid and all(r["outcome"] == "accepted" and r["rtt_ms_avg"] for r in valid)
    assert all(r["msgs_sent"] == 4 for r in valid)
    # an attempt still in its handshake when the run stops is the harness's own stop
    expired = {r["outcome"] for r in rows if r["token_kind"] == "expired"} - {"interrupted"}
    assert expired == {"rejected_auth"}


def test_flow_errors_are_a_configuration_finding_never_the_targets() -> None:
    error = "hook raised at hook.py:3: KeyError: 'price'"
    rows = [rec("valid", "flow_error", "excluded", t=i, error=error) for i in range(4)]
    rows.append(rec("valid", "accepted", "ok", t=5, hs=3.0))
    found = {f.id: f for f in summary_of(rows).findings}
    f = found["flow-error"]
    assert (f.type, f.severity) == ("configuration", "critical")
    assert f.evidence == (
        f"4 of 5 attempts (80.0%) ended with an exception of the session hook; the first: "
        f"{error}; they are left out of the rates"
    )
    assert "valid-refused-without-chaos" not in found
