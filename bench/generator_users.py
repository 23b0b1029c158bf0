"""Locust users for ``bench/generator.py`` (a locustfile; not part of the test suite).

``BENCH_GENERATOR`` picks the user:

- ``locust-plain``: a plain Locust user with websocket-client, nothing recorded (what a team
  writes by hand: connect with a token, one echo, close);
- ``harness-norecord`` / ``harness-record``: the harness's own user
  (:class:`harness.load.user.ScenarioUser`, the same code ``harness run`` runs) with every
  attempt classified and built into a record, which is then dropped or written to
  ``attempts.jsonl`` by the run recorder.

``BENCH_URL`` is the target, ``BENCH_KEY`` the HS256 secret, ``BENCH_OUT`` a scratch folder.
"""

from __future__ import annotations

from locust import User, events, task

import os
import time
from pathlib import Path
from typing import Any

import jwt
import websocket

GENERATOR = os.environ.get("BENCH_GENERATOR", "locust-plain")
URL = os.environ.get("BENCH_URL", "ws://127.0.0.1:8765/ws")
KEY = os.environ.get("BENCH_KEY", "")
OUT = Path(os.environ.get("BENCH_OUT", "/tmp"))
MODE = os.environ.get("BENCH_MODE", "handshakes")


class NullSink:
    """Drops every record (recording off), counting them."""

    def __init__(self) -> None:
        self.total = 0

    def add(self, record: object) -> None:
        self.total += 1


if GENERATOR == "locust-plain":

    class PlainUser(User):
        """A hand-written Locust WebSocket user: token, connect, one echo, close."""

        def wait_time(self) -> float:
            return 0.0

        @task
        def attempt(self) -> None:
            token = jwt.encode({"sub": "u", "exp": int(time.time()) + 300}, KEY, "HS256")
            ws = websocket.create_connection(f"{URL}?token={token}", timeout=5)
            try:
                ws.send_binary(os.urandom(64))
                ws.recv()
            finally:
                # close() would swallow the GreenletExit with which Locust stops a user
                # (a bare except): send the close frame and shut the socket instead
                ws.send_close()
                ws.shutdown()

else:
    from harness.config.loader import load_scenario
    from harness.load.recorder import RunRecorder
    from harness.load.user import ScenarioUser, UserConfig, configure_users

    __all__ = ["ScenarioUser"]  # the user Locust runs: the one harness run runs

    @events.test_start.add_listener
    def configure(environment: Any, **_: Any) -> None:
        scenario_file = OUT / "bench.yaml"
        scenario_file.write_text(
            "name: bench\n"
            f"target: {{url: '{URL}'}}\n"
            "auth: {secret: {env: BENCH_KEY}}\n"
            + (
                "load: {session: {hold: 600, messages: 1000000, pace: closed_loop, wait: 0}}\n"
                if MODE == "messages"
                else "load: {session: {hold: 0, messages: 1, wait: 0}}\n"
            )
        )
        scenario = load_scenario(str(scenario_file))
        record = GENERATOR == "harness-record"
        sink = RunRecorder(OUT / "attempts.jsonl") if record else NullSink()
        config = UserConfig(scenario=scenario, secret=KEY, url=URL, sink=sink, run_id="bench")
        configure_users([ScenarioUser], config)
