"""Locust entry point: ``locust -f locustfile.py --scenario scenarios/smoke.yaml``.

Runs the scenario's WebSocket users under Locust's own CLI or web UI. The
embedded target is started when the scenario names it; attempt records and the
report go to ``--out`` (default ``reports/``) as with ``harness run``.
For headless CI runs with gates and exit codes, prefer ``harness run``.
"""

from __future__ import annotations

from locust import between, events

import shlex
import sys
import time
from pathlib import Path
from typing import Any

from harness.config.loader import load_scenario
from harness.config.scenario import Scenario
from harness.config.secret import resolve_secret
from harness.config.serialise import scenario_to_dict
from harness.errors import HarnessError
from harness.load.runner import RunRecorder, _write_json, new_run_id
from harness.load.user import UserConfig, WebSocketUser
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES
from harness.protocol.tokens import new_secret
from harness.target.process import TargetProcess, start_target

_state: dict[str, Any] = {}


class ScenarioUser(WebSocketUser):
    """The scenario's user; configured when Locust fires ``init``."""

    abstract = False
    wait_time = between(0.1, 0.5)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--scenario", default="scenarios/smoke.yaml", help="scenario YAML file")
    parser.add_argument("--out", default="reports", help="directory for run directories")


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    try:
        scenario: Scenario = load_scenario(opts.scenario)
        secret = resolve_secret(scenario) or new_secret()
    except HarnessError as exc:
        sys.exit(f"harness: error: {exc}")
    run_id = new_run_id(scenario)
    run_dir = Path(opts.out) / run_id
    run_dir.mkdir(parents=True)
    _write_json(run_dir / "scenario.json", scenario_to_dict(scenario))
    url = scenario.target.url
    target: TargetProcess | None = None
    if scenario.target.is_embedded and scenario.target.embedded is not None:
        target = start_target(
            scenario.target.embedded,
            secret=secret,
            log_path=run_dir / "target.log",
            path=scenario.target.path,
            query_param=scenario.auth.query_param,
            algorithm=scenario.auth.algorithm,
        )
        url = target.url
    assert url is not None
    recorder = RunRecorder(run_dir)
    meta = {
        "run_id": run_id,
        "scenario": scenario.name,
        "started_at": time.time(),
        "ended_at": None,
        "duration_planned_s": scenario.load.duration,
        "target_url": url,
        "command": shlex.join(sys.argv),
        "complete": False,
    }
    _write_json(run_dir / "meta.json", meta)
    _state.update(run_dir=run_dir, recorder=recorder, target=target, meta=meta, scenario=scenario)
    session = scenario.load.session
    ScenarioUser.wait_time = between(session.wait_min, session.wait_max)
    ScenarioUser.config = UserConfig(
        scenario=scenario,
        secret=secret,
        url=url,
        sink=recorder,
        run_id=run_id,
        app_codes={**DEFAULT_APP_CLOSE_CODES, **scenario.target.close_codes},
    )
    print(f"harness: run {run_id} against {url}; records in {run_dir}", flush=True)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    if not _state:
        return
    from harness.render.report import build_report

    _state["recorder"].writer.close()
    if _state["target"] is not None:
        _state["target"].stop()
    meta = _state["meta"]
    meta.update(ended_at=time.time(), complete=True, attempts=_state["recorder"].total)
    _write_json(_state["run_dir"] / "meta.json", meta)
    report = build_report(_state["run_dir"], _state["scenario"].gates)
    print(f"harness: report {report.paths.index_html.resolve().as_uri()}", flush=True)
