"""Shared test helpers: run the real `harness` CLI in a subprocess, scaled timeouts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Multiply every timeout in the tests by this (slow CI machines): HARNESS_TEST_TIMEOUT_SCALE=2
SCALE = float(os.environ.get("HARNESS_TEST_TIMEOUT_SCALE", "1"))


def scaled(seconds: float) -> float:
    return seconds * SCALE


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    out_dir: Path
    elapsed: float

    @property
    def run_dir(self) -> Path:
        dirs = sorted(p for p in self.out_dir.iterdir() if p.is_dir())
        assert len(dirs) == 1, f"expected one run directory in {self.out_dir}, got {dirs}"
        return dirs[0]

    def summary(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "summary.json").read_text())  # type: ignore[no-any-return]

    def attempts(self) -> list[dict[str, Any]]:
        lines = (self.run_dir / "attempts.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def run_cli(
    *args: str, out_dir: Path | None = None, timeout: float = 120, env: dict[str, str] | None = None
) -> CliRun:
    """Run `python -m harness ARGS` from the repo root; `--out out_dir` is added when given."""
    import time

    cmd = [sys.executable, "-m", "harness", *args]
    if out_dir is not None:
        cmd += ["--out", str(out_dir)]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(timeout),
        env={**os.environ, **(env or {})},
        check=False,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, out_dir or ROOT, time.monotonic() - t0)


@pytest.fixture
def cli() -> Any:
    return run_cli


#: Tests that apply chaos to processes, cgroups, rlimits or nftables, or check that none is
#: left behind: with ``pytest -n 2 --dist loadgroup`` (``make test``) they all run one after
#: another on one worker, so a check for leftovers never sees the other worker's faults.
SERIAL_PATHS: tuple[str, ...] = (
    "tests/chaos/",
    "tests/cli/test_blame.py",
    "tests/analysis/test_findings_e2e.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        if path.startswith(SERIAL_PATHS):
            item.add_marker(pytest.mark.xdist_group("serial"))
