"""No secret anywhere: every shipped scenario, run for real with a known signing key (its
timeline compressed to a few seconds, chaos included), and neither the key nor any JWT
appears in the terminal, any file of the run directory, the target's log or the chaos
driver's log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config.loader import load_scenario
from tests.conftest import ROOT, run_cli

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
#: Scanned by default: the plain ones; the proxy's faults, the target's restarts and the
#: resource faults' scenarios are scanned by the slow tests (`make test-slow`).
DEFAULT = {"smoke", "auth-matrix"}
PARAMS = [
    pytest.param(p, id=p.stem, marks=() if p.stem in DEFAULT else pytest.mark.slow)
    for p in SCENARIOS
]
KEY = "sk-" + "5e1f7c" * 8
#: Chart images are embedded as base64 in index.html: they may hold "eyJ" by chance.
IMAGES = re.compile(r"data:image/\w+;base64,[A-Za-z0-9+/=]+")


def compressed(path: Path) -> list[str]:
    """``--set`` options that run the scenario in a few seconds, its windows scaled alike."""
    s = load_scenario(path)
    seconds = 8.0 if s.chaos else 4.0
    scale = seconds / s.load.duration
    sets = [f"load.duration={seconds:g}"]
    if s.load.stages:  # the stages' durations scaled alike (their sum is the duration)
        stages = ", ".join(
            f"{{duration: {max(0.5, round(st.duration * scale, 2)):g}, "
            + (f"rate: {st.rate:g}" if st.rate is not None else f"users: {st.users}")
            + f", spawn_rate: {st.spawn_rate:g}}}"
            for st in s.load.stages
        )
        sets = [f"load.stages=[{stages}]"]
    for i, w in enumerate(s.chaos):
        sets.append(f"chaos[{i}].at={round(w.at * scale, 2):g}")
        if w.duration is not None:
            sets.append(f"chaos[{i}].for={max(0.3, round(w.duration * scale, 2)):g}")
    return [x for s_ in sets for x in ("--set", s_)]


@pytest.mark.parametrize("scenario", PARAMS)
def test_no_secret_or_token_in_anything_a_shipped_scenario_writes(
    tmp_path: Path, scenario: Path
) -> None:
    run = run_cli(
        "run", str(scenario.relative_to(ROOT)), "--secret-env", "HARNESS_SCAN_KEY",
        *compressed(scenario), "-q", out_dir=tmp_path / "out", timeout=90,
        env={"HARNESS_SCAN_KEY": KEY},
    )  # fmt: skip
    assert run.code in (0, 1), run.stdout[-2000:] + run.stderr[-2000:]  # it ran
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    for path in run.run_dir.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text(errors="replace")
            texts[str(path.relative_to(run.run_dir))] = IMAGES.sub("", text)
    assert {"target.log", "attempts.jsonl", "meta.json", "index.html"} <= set(texts)
    if load_scenario(scenario).chaos:
        assert {"chaos.jsonl", "chaos-driver.log", "chaos-plan.json"} <= set(texts)
    for where, text in texts.items():
        assert KEY not in text, f"the signing key in {where}"
        assert "eyJ" not in text, f"a JWT in {where}"  # base64url of '{"' starts every JWT
