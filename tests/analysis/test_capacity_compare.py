"""Two capacity searches compared: a candidate's capacity against a baseline's, and the
generator's limit never judged as the service's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.capacity_compare import (
    IMPROVED,
    NOT_JUDGED,
    REGRESSION,
    SAME,
    compare_capacities,
)
from tests.conftest import run_cli


def search(users: int | None, limited_by: str | None = "service", **extra: Any) -> dict[str, Any]:
    best = None if users is None else {"users": users, "handshakes_per_s": users / 4}
    return {
        "kind": "capacity",
        "capacity_id": f"capacity-{users}-{limited_by}",
        "scenario": "smoke",
        "range": {"start": 50, "stop": 400, "step": 50},
        "hold_s": 20.0,
        "limited_by": limited_by,
        "highest_passing": best,
        "verdict": f"capacity {users} users",
        **extra,
    }


@pytest.mark.parametrize(
    ("a", "b", "verdict", "judged"),
    [
        (search(200), search(200), SAME, True),
        (search(200), search(185), SAME, True),  # within the 10 % allowed
        (search(200), search(150), REGRESSION, True),
        (search(200), search(None), REGRESSION, True),  # B failed its first step
        (search(200), search(300), IMPROVED, True),
        (search(200), search(250, "generator"), SAME, True),  # a lower bound above A
        (search(200), search(150, "generator"), NOT_JUDGED, False),  # the generator's limit
        (search(200, "generator"), search(200), NOT_JUDGED, False),
        (search(400, "range"), search(400, "range"), SAME, True),
    ],
)
def test_the_capacity_is_judged_only_where_it_was_measured(
    a: dict[str, Any], b: dict[str, Any], verdict: str, judged: bool
) -> None:
    cmp = compare_capacities(a, b)
    assert (cmp.rows[0].verdict, cmp.judged) == (verdict, judged)
    assert bool(cmp.regressions) == (verdict == REGRESSION)
    assert all(r.verdict == "info" for r in cmp.rows[1:])


def test_different_searches_are_named_and_a_bad_drop_refused() -> None:
    cmp = compare_capacities(search(200), search(200, hold_s=5.0, range={"start": 1}))
    assert "different hold: A 20.0 s, B 5.0 s" in cmp.warnings
    assert "different range: A 50:400:50, B 1:None:None" in cmp.warnings
    with pytest.raises(ValueError, match="--capacity-drop"):
        compare_capacities(search(1), search(1), drop=1.5)


def test_harness_compare_of_two_capacity_directories(tmp_path: Path) -> None:
    dirs = {}
    for name, doc in (("base", search(200)), ("cand", search(120)), ("run", None)):
        d = tmp_path / name
        d.mkdir()
        if doc is not None:
            (d / "capacity.json").write_text(json.dumps(doc))
        dirs[name] = str(d)
    out = tmp_path / "cmp"
    run = run_cli("compare", dirs["base"], dirs["cand"], "--out", str(out))
    assert run.code == 1, run.stdout + run.stderr
    assert "REGRESSION: capacity dropped from 200 to 120 users" in run.stdout
    assert json.loads((out / "compare.json").read_text())["regressions"]
    assert "REGRESSION" in (out / "index.html").read_text()
    ok = run_cli("compare", dirs["base"], dirs["cand"], "--capacity-drop", "0.5", "--out", str(out))
    assert ok.code == 0, ok.stdout + ok.stderr
    mixed = run_cli("compare", dirs["base"], dirs["run"])
    assert mixed.code == 2 and "not a capacity search (no capacity.json)" in mixed.stderr
