"""Loading a scenario is pure: it imports no load generator, no chart library, no process tools.

Run in a fresh interpreter with ``-X importtime``, which lists every module imported.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import harness.config
from tests.conftest import ROOT

FORBIDDEN = ("locust", "gevent", "websocket", "websockets", "matplotlib", "subprocess", "psutil")


def imported_modules(code: str) -> set[str]:
    """Every module ``code`` imports, from ``python -X importtime`` run in the repo root."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "package":  # the header line
                modules.add(name)
    return modules


def test_loading_a_chaos_scenario_imports_none_of_the_heavy_or_impure_modules() -> None:
    code = (
        "from harness.config.loader import load_scenario; "
        "s = load_scenario('scenarios/cpu-starvation.yaml'); assert s.chaos"
    )
    modules = imported_modules(code)
    assert "harness.config.loader" in modules and "yaml" in modules  # the parse worked
    bad = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert bad == [], f"loading a scenario imported {bad}"
    assert not any(m.startswith("harness.chaos") for m in modules)


def test_every_config_module_is_pure() -> None:
    names = [f"harness.config.{m.name}" for m in pkgutil.iter_modules(harness.config.__path__)]
    assert "harness.config.sets" in names
    modules = imported_modules("; ".join(f"import {n}" for n in names))
    assert set(names) <= modules
    assert sorted(m for m in modules if m.split(".")[0] in FORBIDDEN) == []


def test_the_probe_sees_a_forbidden_import() -> None:
    assert "subprocess" in imported_modules("import subprocess")
