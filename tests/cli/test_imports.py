"""Commands that only read files stay light: ``harness validate`` and ``harness --help`` import no
load generator, no chart library, no process or server code (checked with -X importtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("locust", "gevent", "websocket", "websockets", "matplotlib", "subprocess", "psutil")


def imported_modules(*args: str) -> set[str]:
    """Every module ``python -X importtime -m harness ARGS`` imported (top-level names too)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "harness", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name)
                names.add(name.split(".")[0])
    assert "harness.cli.main" in names, "importtime output not understood"
    return names


@pytest.mark.parametrize(
    "args",
    [
        ("validate", "scenarios/cpu-starvation.yaml", "scenarios/connection-cap.yaml"),
        ("--help",),
        ("validate", "--help"),
    ],
    ids=["validate-chaos-scenarios", "help", "validate-help"],
)
def test_reading_commands_import_nothing_heavy(args: tuple[str, ...]) -> None:
    names = imported_modules(*args)
    assert sorted(set(HEAVY) & names) == []
