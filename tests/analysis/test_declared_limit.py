"""``target.expect`` against a real run: the embedded target refuses with 503 beyond its
``max_connections``; the declaration decides whether those refusals are a finding.

One run is made; its directory is copied per declaration, ``scenario.json`` edited and the
run summarized again (the run loader reads the declaration from there, as ``harness report``
does), so each case judges the same attempts.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.run import load_run
from harness.analysis.summarize import summarize
from tests.conftest import run_cli

#: One worker runs this module: its real runs (a module fixture) are made once.
pytestmark = pytest.mark.xdist_group("declared-limit-run")

#: The target's real limit: 10 connections; 16 users hold theirs for 4 s.
CAPPED = """\
name: capped
target:
  embedded: {max_connections: 10, ping_interval: 0}
load:
  users: 16
  spawn_rate: 50
  duration: 6
  mix: {valid: 1}
  session: {hold: 4, messages: 0, wait: [0.1, 0.2]}
gates:
  - {name: attempts made, metric: attempts, op: ">", threshold: 0}
"""


@pytest.fixture(scope="module")
def capped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("capped")
    (tmp / "capped.yaml").write_text(CAPPED)
    run = run_cli("run", str(tmp / "capped.yaml"), "-q", out_dir=tmp / "out")
    assert run.code == 0, run.stdout + run.stderr
    return run.run_dir


def findings_with(run_dir: Path, tmp: Path, expect: dict[str, Any] | None) -> dict[str, Any]:
    """The findings of ``run_dir`` judged again with ``target.expect`` set to ``expect``."""
    copy = tmp / "copy"
    shutil.copytree(run_dir, copy)
    scenario = json.loads((copy / "scenario.json").read_text())
    if expect is not None:
        scenario["target"]["expect"] = expect
    (copy / "scenario.json").write_text(json.dumps(scenario))
    summary = summarize(load_run(copy))
    return {f.id: asdict(f) for f in summary.findings}


def test_an_undeclared_limit_is_a_finding(capped_run: Path, tmp_path: Path) -> None:
    found = findings_with(capped_run, tmp_path, None)
    assert found["valid-refused-without-chaos"]["severity"] == "high"
    assert "declared-limit" not in found


def test_refusals_at_the_declared_limit_are_expected(capped_run: Path, tmp_path: Path) -> None:
    found = findings_with(capped_run, tmp_path, {"max_connections": 10, "refusals": [503, 1013]})
    assert "valid-refused-without-chaos" not in found, found["valid-refused-without-chaos"]
    limit = found["declared-limit"]
    assert limit["severity"] == "low"
    assert limit["evidence"].startswith("the limit held where declared:"), limit["evidence"]
    assert "(503 " in limit["evidence"] and "at most 10 at once" in limit["evidence"]


def test_refusals_below_the_declared_limit_are_found(capped_run: Path, tmp_path: Path) -> None:
    found = findings_with(capped_run, tmp_path, {"max_connections": 40, "refusals": [503]})
    assert found["valid-refused-without-chaos"]["severity"] == "high"
    limit = found["declared-limit"]
    assert limit["severity"] == "medium"
    assert "below the declared limit of 40: with " in limit["evidence"], limit["evidence"]


def test_more_connections_than_declared_are_found(capped_run: Path, tmp_path: Path) -> None:
    found = findings_with(capped_run, tmp_path, {"max_connections": 4, "refusals": [503]})
    limit = found["declared-limit"]
    assert limit["severity"] == "medium"
    assert "up to 10 connections held open at once, above the declared 4" in limit["evidence"]


def test_another_answer_than_declared_is_not_excused(capped_run: Path, tmp_path: Path) -> None:
    """The target answers 503; a service that declares only 1013 did not keep its promise."""
    found = findings_with(capped_run, tmp_path, {"max_connections": 10, "refusals": [1013]})
    assert found["valid-refused-without-chaos"]["severity"] == "high"
    assert "declared-limit" not in found
