"""``load.stages``: stages of users or of an arrival rate, parsed with every default filled in,
``load.users`` and ``load.duration`` derived, every mistake named by key, file and line; the
stage plan (labels by time, planned arrivals); scenario.json keeps the stages."""

from __future__ import annotations

import pytest
import yaml

from harness.config.loader import load_scenario, validate_scenario
from harness.config.overrides import apply_overrides
from harness.config.scenario import Stage
from harness.config.serialise import scenario_to_dict
from harness.config.stages import STEADY, StagePlan, stage_plan, stages_from_plain
from harness.errors import HarnessError
from tests.config.helpers import error, load, write
from tests.conftest import ROOT

SMOKE = str(ROOT / "scenarios" / "smoke.yaml")

RAMP = """\
name: x
load:
  spawn_rate: 4
  stages:
    - {duration: 2, users: 3, spawn_rate: 10}
    - {duration: 3.5, users: 8, name: peak}
    - {duration: 1, users: 0}
"""


def test_stages_of_users_parse_with_their_defaults_and_derive_users_and_duration() -> None:
    s = load(RAMP)
    assert s.load.stages == (
        Stage(duration=2.0, name="stage-1", users=3, spawn_rate=10.0),
        Stage(duration=3.5, name="peak", users=8, spawn_rate=4.0),
        Stage(duration=1.0, name="stage-3", users=0, spawn_rate=4.0),
    )
    assert (s.load.users, s.load.duration, s.load.spawn_rate) == (8, 6.5, 4.0)


def test_arrival_rate_stages_get_a_pool_and_a_spawn_rate_at_least_their_rate() -> None:
    s = load("""\
        name: x
        load:
          stages:
            - {duration: 4, rate: 20}
            - {duration: 2, rate: 0.5, max_users: 3, spawn_rate: 1}
        """)
    assert s.load.stages == (
        Stage(duration=4.0, name="stage-1", rate=20.0, spawn_rate=20.0, max_users=200),
        Stage(duration=2.0, name="stage-2", rate=0.5, spawn_rate=1.0, max_users=3),
    )
    assert (s.load.users, s.load.duration) == (200, 6.0)


def test_users_or_duration_given_as_well_must_agree() -> None:
    fine = load("name: x\nload:\n  users: 5\n  duration: 3\n  stages: [{duration: 3, users: 5}]\n")
    assert fine.load.users == 5
    assert error("name: x\nload:\n  users: 20\n  stages: [{duration: 3, users: 5}]\n") == (
        "x.yaml:3: load.users: 20 disagrees with load.stages (its highest stage has 5 users);"
        " leave load.users out: with stages it is derived from them"
    )
    assert error("name: x\nload:\n  duration: 30\n  stages: [{duration: 3, users: 5}]\n") == (
        "x.yaml:3: load.duration: 30 disagrees with load.stages (its stages last 3 s in all);"
        " leave load.duration out: with stages it is derived from them"
    )


def test_stages_from_a_set_replace_the_files_constant_load() -> None:
    s = load_scenario(SMOKE, ["load.stages=[{duration: 2, users: 3}]"])
    assert (s.load.users, s.load.duration) == (3, 2.0)  # the file says 20 users, 30 s
    errors = validate_scenario(SMOKE, ["load.stages=[{duration: 2, users: 3}]", "load.users=4"])
    assert [str(e) for e in errors] == [
        "--set load.users=4: load.users: 4 disagrees with load.stages (its highest stage has"
        " 3 users); leave load.users out: with stages it is derived from them"
    ]
    path = write(RAMP)
    assert load_scenario(path, ["load.stages="]).load.stages == ()  # null: no stages


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ("[]", "x.yaml:2: load.stages: expected 1 to 50 stages, got 0"),
        (
            "[{duration: 2, users: 1}, {duration: -1, users: 2}]",
            "x.yaml:2: load.stages[1].duration: expected a number in (0, 604800], got -1",
        ),
        (
            "[{duration: 2, users: 1}, {duration: 1, users: -3}]",
            "x.yaml:2: load.stages[1].users: expected an integer in [0, 100000], got -3",
        ),
        (
            "[{duration: 2, users: 1, ramp: 3}]",
            "x.yaml:2: load.stages[0].ramp: unknown key; allowed: duration, max_users, name,"
            " rate, spawn_rate, users",
        ),
        ("[{users: 1}]", "x.yaml:2: load.stages[0].duration: required key missing"),
        (
            "[{duration: 1, users: 1, rate: 2}]",
            "x.yaml:2: load.stages[0]: expected one of users (concurrent users) or rate"
            " (new sessions/s), got both",
        ),
        (
            "[{duration: 1, users: 1}, {duration: 1, rate: 2}]",
            "x.yaml:2: load.stages[1].rate: every stage has users, or every stage has rate:"
            " load.stages[0] has users",
        ),
        (
            "[{duration: 1, users: 1, max_users: 5}]",
            "x.yaml:2: load.stages[0].max_users: only with rate (the users serving its arrivals)",
        ),
        (
            "[{duration: 1, users: 1, name: a}, {duration: 1, users: 2, name: a}]",
            "x.yaml:2: load.stages[1]: same name as load.stages[0]: 'a'",
        ),
        (
            "[{duration: 1, users: 0}]",
            "x.yaml:2: load.stages: expected at least one stage with users above 0",
        ),
        (
            "[{duration: 604800, users: 1}, {duration: 1, users: 1}]",
            "x.yaml:2: load.stages: the stages last 604801 s in all, more than 604800",
        ),
        ("{duration: 1}", "x.yaml:2: load.stages: expected a list of stages, got a mapping"),
    ],
)
def test_bad_stages_name_the_key_file_and_line(stages: str, message: str) -> None:
    assert error(f"name: x\nload: {{stages: {stages}}}\n") == message


def test_too_many_stages() -> None:
    items = "".join("\n    - {duration: 1, users: 1}" for _ in range(51))
    assert error(f"name: x\nload:\n  stages:{items}\n") == (
        "x.yaml:3: load.stages: expected 1 to 50 stages, got 51"
    )


def test_the_error_of_a_later_stage_has_its_own_line() -> None:
    text = (
        "name: x\nload:\n  stages:\n    - {duration: 1, users: 1}\n    - {duration: 0, users: 2}\n"
    )
    assert error(text) == (
        "x.yaml:5: load.stages[1].duration: expected a number in (0, 604800], got 0"
    )


def test_scenario_json_keeps_the_stages_and_loads_back_equal() -> None:
    s = load(RAMP)
    d = scenario_to_dict(s)
    assert d["load"]["stages"][1] == {"duration": 3.5, "name": "peak", "users": 8,
                                      "spawn_rate": 4.0}  # fmt: skip
    assert scenario_to_dict(load("name: x\n"))["load"]["stages"] is None
    d.pop("source")
    again = load_scenario(write(yaml.safe_dump(d), "y.yaml"))
    assert again.load == s.load
    assert stages_from_plain(scenario_to_dict(s)["load"]["stages"]) == s.load.stages


def test_the_flags_of_a_constant_load_are_refused_with_stages() -> None:
    s = load(RAMP)
    with pytest.raises(HarnessError, match=r"--users: x.yaml shapes its load with load.stages"):
        apply_overrides(s, users=5)
    assert apply_overrides(s, defects=["accept-empty-token"]).load == s.load


def test_a_stage_plan_labels_times_and_plans_arrivals() -> None:
    assert stage_plan(()) is None and STEADY == "steady"
    plan = StagePlan(load(RAMP).load.stages)
    assert [(x.name, x.start_s, x.end_s) for x in plan.spans] == [
        ("stage-1", 0.0, 2.0),
        ("peak", 2.0, 5.5),
        ("stage-3", 5.5, 6.5),
    ]
    labels = [plan.label_at(t) for t in (-1.0, 0.0, 1.999, 2.0, 5.49, 5.5, 6.5, 99.0)]
    assert labels == ["stage-1", "stage-1", "stage-1", "peak", "peak", "stage-3", "stage-3",
                      "stage-3"]  # fmt: skip
    rates = StagePlan(
        (
            Stage(duration=4, rate=10, max_users=10),
            Stage(duration=2, rate=0, max_users=1),
            Stage(duration=1, rate=2, max_users=1),
        )
    )
    assert rates.total_arrivals == 42
    assert [rates.arrival_time(k) for k in (0, 1, 39, 40, 41, 42)] == [
        0.0,
        0.1,
        pytest.approx(3.9),
        6.0,
        6.5,
        None,
    ]
    assert rates.arrivals_by(2.05) == pytest.approx(20.5)
    assert rates.first_arrival_from(2.05) == 21 and rates.first_arrival_from(2.0) == 20
