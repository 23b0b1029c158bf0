"""The command line as a user meets it: --set and --secret-* on real commands (exact errors,
exit 2, no traceback), --target-url with --secret-env against a service the test started,
validate reporting every error, and help texts with examples and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, scaled


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("harness: error: ")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "load.users=ten"],
         "--set load.users=ten: load.users: expected an integer in [1, 100000], got 'ten'"),
        (["--set", "load.users"], "--set load.users: expected KEY.PATH=VALUE"),
        (["--set", "load.userz=5"],
         "--set load.userz=5: load.userz: unknown key; allowed: duration, limits, mix,"
         " reconnect, session, source_addresses, spawn_rate, stages, timeouts, users"),
        (["--secret-env", "1X"], "--secret-env: expected a variable name, got '1X'"),
        (["--secret-file", ""], "--secret-file: expected a path, got ''"),
    ],
    ids=["set-value", "set-no-equals", "set-unknown-key", "secret-env", "secret-file"],
)  # fmt: skip
def test_run_flag_errors_are_exact_and_start_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    run = run_cli("run", "scenarios/smoke.yaml", *args, out_dir=tmp_path / "out")
    assert run.code == 2
    assert error_lines(run.stderr) == [f"harness: error: {message}"], run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()  # nothing started, no run directory


def test_a_secret_named_by_flag_that_is_not_set_says_which(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_NO_SUCH_KEY"}
    run = run_cli(
        "run", "scenarios/smoke.yaml", "--target-url", "ws://127.0.0.1:9/ws",
        "--secret-env", "HARNESS_NO_SUCH_KEY", out_dir=tmp_path, env=env,
    )  # fmt: skip
    assert run.code == 2
    assert "HARNESS_NO_SUCH_KEY is not set" in run.stderr and "Traceback" not in run.stderr


@pytest.fixture
def external_target(tmp_path: Path) -> Iterator[str]:
    """The reference target served alone (`harness target`) on an OS-chosen port."""
    ready = tmp_path / "ready.json"
    env = {**os.environ, "EXT_TARGET_KEY": "k" * 40}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "target", "--port", "0", "--secret-env",
         "EXT_TARGET_KEY", "--ready-file", str(ready)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + scaled(20)
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "target did not start"
            time.sleep(0.05)
        import json

        yield str(json.loads(ready.read_text())["url"])
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_shipped_scenario_runs_against_your_service_without_a_yaml_edit(
    tmp_path: Path, external_target: str
) -> None:
    """The README's example: --target-url plus --secret-env, and --set for the rest."""
    run = run_cli(
        "run", "scenarios/smoke.yaml", "--target-url", external_target,
        "--secret-env", "EXT_TARGET_KEY", "--set", "load.duration=4", "--set", "load.users=10",
        "--set", "load.session.hold=0.3",
        out_dir=tmp_path / "out", env={"EXT_TARGET_KEY": "k" * 40},
    )  # fmt: skip
    assert run.code == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = run.summary()
    assert summary["target_url"] == external_target
    assert summary["token_kinds"]["valid"]["verdicts"]["ok"] > 0
    assert summary["token_kinds"]["expired"]["verdicts"]["ok"] > 0  # refused as it must be
    scenario = (run.run_dir / "scenario.json").read_text()
    assert "EXT_TARGET_KEY" in scenario and "k" * 40 not in scenario  # where, never what


THREE_ERRORS = """\
name: broken
target:
  embedded: {max_connections: 0}
load:
  users: ten
gates:
  - {metric: success_rate, op: ">=", threshold: 99}
"""


def test_validate_reports_every_error_of_a_file_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(THREE_ERRORS)
    run = run_cli("validate", str(bad), "scenarios/smoke.yaml")
    assert run.code == 2
    lines = error_lines(run.stderr)
    assert [line.split(": ", 4)[3] for line in lines] == [
        "target.embedded.max_connections", "load.users", "gates[0].threshold",
    ]  # fmt: skip
    assert lines[0].startswith(f"harness: error: {bad}:3: ")
    assert "scenarios/smoke.yaml: ok (smoke: embedded target" in run.stdout  # the next file
    assert "Traceback" not in run.stderr


def test_validate_checks_a_set_too() -> None:
    run = run_cli("validate", "scenarios/smoke.yaml", "--set", "load.duration=-1")
    assert run.code == 2
    assert error_lines(run.stderr) == [
        "harness: error: --set load.duration=-1: load.duration:"
        " expected a number in (0, 604800], got -1"
    ]


@pytest.mark.parametrize("command", ["run", "validate", "report", "doctor", "compare"])
def test_help_has_a_description_examples_and_exit_codes(command: str) -> None:
    run = run_cli(command, "--help")
    assert run.code == 0
    text = run.stdout
    assert "example" in text and "exit" in text.lower(), text
    assert "usage: harness" in text
