"""``harness capacity``: the highest users that pass a scenario's gates, found with real runs
against a target with a known connection cap; the generator's own limit never reported as
the service's."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.config.loader import load_scenario
from harness.errors import HarnessError
from harness.series.capacity import FAIL, GENERATOR, PASS, Range, Search, Step, judge, verdict_text
from tests.cli.test_flags import external_target  # noqa: F401  (a fixture)
from tests.conftest import ROOT, run_cli, scaled

CAPPED = """\
name: capped
target:
  embedded: {{max_connections: {cap}}}
load:
  users: 10
  spawn_rate: 100
  duration: 5
  mix: {{valid: 1}}
  session: {{hold: 30, messages: 1, wait: [0.05, 0.1]}}   # each user holds one connection
gates:
  - {{name: valid tokens get a session, metric: success_rate, token_kind: valid,
      op: ">=", threshold: 0.99}}
"""


def capacity(out: Path) -> dict[str, Any]:
    (found,) = out.glob("capacity-*/capacity.json")
    return dict(json.loads(found.read_text()))


def test_the_range_is_checked_and_ends_at_its_stop() -> None:
    assert Range.parse("120:280:80").loads() == [120, 200, 280]
    assert Range.parse("10:25:10").loads() == [10, 20, 25]
    for bad in ("10:5:1", "0:10:5", "a:b:c", "10:20", "1:1000:1"):
        with pytest.raises(HarnessError, match="--users"):
            Range.parse(bad)


def test_a_step_is_judged_by_its_gates_unless_the_generator_was_at_its_limit() -> None:
    gate = {"name": "valid ok", "passed": False, "message": "FAIL success_rate >= 0.99: got 0.5"}
    assert judge(0, {"generator_fault_share": 0.0}, False) == (PASS, "")
    assert judge(1, {"gates": [gate]}, False) == (
        FAIL,
        "gate 'valid ok': success_rate >= 0.99: got 0.5",
    )
    status, why = judge(2, {"generator_fault_share": 0.4}, False)
    assert status == GENERATOR and "40.0% of the attempts failed inside the load generator" in why
    busy = {"gates": [gate], "generator": {"cpu_share_median": 0.97}}
    assert judge(1, busy, False)[0] == GENERATOR  # a failure then is the generator's
    assert judge(2, None, False)[0] == "error"
    assert judge(130, None, False)[0] == "interrupted"


def test_the_capacity_of_a_target_capped_at_200_connections_is_found_within_a_step(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "capped.yaml"
    scenario.write_text(CAPPED.format(cap=200))
    out = tmp_path / "out"
    run = run_cli(
        "capacity", str(scenario), "--users", "170:230:60", "--hold", "1", "--refine", "1",
        "-q", out_dir=out, timeout=240,
    )  # fmt: skip
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    c = capacity(out)
    best, first = c["highest_passing"], c["first_failing"]
    assert c["limited_by"] == "service"
    assert 200 - 60 <= best["users"] <= 200 < first["users"] <= 200 + 60
    assert first["users"] - best["users"] <= 60 and "valid tokens get a session" in first["why"]
    assert best["concurrent_connections"] >= best["users"] * 0.9
    assert [s["users"] for s in c["steps"] if not s["refined"]] == [170, 230]
    assert any(s["refined"] for s in c["steps"])
    failing = [s for s in c["steps"] if s["status"] == "fail"]
    assert failing and all(s["refusals"] > 0 for s in failing)  # the cap's refusals, counted
    index = next(out.glob("capacity-*/index.html"))
    html = index.read_text()
    assert "capacity " + str(best["users"]) + " users" in html and "data:image/png" in html
    for s in c["steps"]:
        assert (index.parent / s["report"]).is_file()
    assert f"FOUND: capacity {best['users']} users" in run.stdout


@pytest.mark.slow
def test_a_rate_search_offers_the_planned_new_sessions_per_second(tmp_path: Path) -> None:
    scenario = tmp_path / "open.yaml"
    scenario.write_text(CAPPED.format(cap=5000).replace("hold: 30", "hold: 0.2"))
    out = tmp_path / "out"
    run = run_cli(
        "capacity", str(scenario), "--rate", "25:25:1", "--hold", "3", "-q", out_dir=out,
        timeout=120,
    )  # fmt: skip
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    c = capacity(out)
    assert c["axis"] == "rate" and c["limited_by"] == "range"
    assert c["highest_passing"]["rate"] == 25 and len(c["steps"]) == 1
    for step in c["steps"]:  # one arrival-rate stage of 2 s + 3 s: about rate x 5 attempts
        assert 0.6 * step["rate"] * 5 <= step["attempts"] <= 1.2 * step["rate"] * 5, step
    assert "every step passed: capacity at least 25/s" in run.stdout


def test_exit_codes_say_whether_the_capacity_meets_what_is_required(tmp_path: Path) -> None:
    scenario = tmp_path / "capped.yaml"
    scenario.write_text(CAPPED.format(cap=200))

    def search(statuses: list[tuple[int, str]], require: int | None = None) -> Search:
        s = Search(load_scenario(scenario), str(scenario), Range(100, 300, 100), 5.0, 0, tmp_path)
        s.require = require
        for users, status in statuses:
            s.steps.append(Step(users, f"step-{users}", status, False, 0, 1.0, None, None))
        return s

    found = [(100, PASS), (200, PASS), (300, FAIL)]
    assert (search(found).exit_code, search(found).highest_passing().load) == (0, 200)  # type: ignore[union-attr]
    assert search(found, require=200).exit_code == 0
    assert search(found, require=250).exit_code == 1
    assert search([(100, FAIL)]).exit_code == 1  # not even START passed
    assert "capacity below 100 users" in verdict_text(search([(100, FAIL)]))
    limited = [(100, PASS), (200, GENERATOR)]
    assert search(limited).exit_code == 2  # a lower bound only: not the capacity
    assert search(limited, require=100).exit_code == 0  # but enough for what is required
    assert search([(100, PASS), (200, PASS), (300, PASS)]).limited_by == "range"


def test_the_generators_own_limit_is_said_and_never_called_the_services_capacity(
    tmp_path: Path,
    external_target: str,  # noqa: F811
) -> None:
    scenario = tmp_path / "open.yaml"
    scenario.write_text(CAPPED.format(cap=5000))
    out = tmp_path / "out"

    # a real rlimit on the real capacity process (and its steps), not on the target: the
    # load generator runs out of descriptors at about 100 connections, the target never
    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120))

    proc = subprocess.run(
        [sys.executable, "-m", "harness", "capacity", str(scenario), "--users", "60:150:90",
         "--hold", "2", "-q", "--set", f"target={{url: {external_target}}}",
         "--secret-env", "EXT_TARGET_KEY", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=scaled(180),
        env={**os.environ, "EXT_TARGET_KEY": "k" * 40}, preexec_fn=few_descriptors,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    c = capacity(out)
    assert c["limited_by"] == "generator"
    assert c["first_failing"]["status"] == "generator-limited"
    assert "inside the load generator itself" in c["first_failing"]["why"]
    assert c["highest_passing"]["users"] < c["first_failing"]["users"]
    assert "the load generator's own limit came first" in c["verdict"]
    assert "not measured beyond" in c["verdict"]
    assert "ERROR: the load generator's own limit came first" in proc.stderr
