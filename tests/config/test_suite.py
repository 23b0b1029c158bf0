"""Suite files and directories: what a suite runs, and every mistake named by file, line, key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.suite import load_suite
from harness.errors import HarnessError, ScenarioError, ScenarioErrors

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
AUTH = ROOT / "scenarios" / "auth-matrix.yaml"


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    (tmp_path / "smoke.yaml").write_text(SMOKE.read_text())
    (tmp_path / "auth.yaml").write_text(AUTH.read_text())
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_suite_file_names_scenarios_relative_to_itself_with_tags_and_sets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: gate\n"
        "defaults: {set: {load.duration: 5, load.users: 3}, secret_env: STAGING_KEY}\n"
        "scenarios:\n"
        "  - {file: smoke.yaml, tags: [smoke, fast]}\n"
        "  - {file: auth.yaml, tags: [auth], set: {load.duration: 7, load.users: 2}}\n",
    )
    suite = load_suite(path, ["load.spawn_rate=9"])
    assert suite.name == "gate" and suite.secret_env == "STAGING_KEY"
    smoke, auth = suite.scenarios
    assert smoke.file == tmp_path / "smoke.yaml" and smoke.shown == "smoke.yaml"
    assert smoke.sets == ("load.duration=5", "load.users=3", "load.spawn_rate=9")
    assert smoke.planned_s == 5
    # the scenario's own edit comes after the defaults' (it wins), the command line's last
    assert auth.sets[-3:] == ("load.duration=7", "load.users=2", "load.spawn_rate=9")
    assert auth.planned_s == 7
    assert suite.tags == ("auth", "fast", "smoke")
    assert [s.shown for s in suite.tagged(["auth", "nope"])] == ["auth.yaml"]
    assert len(suite.tagged([])) == 2


def test_a_directory_is_every_scenario_in_it_by_name_and_not_a_suite_file(tmp_path: Path) -> None:
    write(tmp_path, "scenarios:\n  - {file: smoke.yaml}\n")
    suite = load_suite(tmp_path)
    assert [s.file.name for s in suite.scenarios] == ["auth.yaml", "smoke.yaml"]
    assert suite.name == tmp_path.name
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="empty: no scenario file"):
        load_suite(tmp_path / "empty")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scenarios: []\n", r"suite.yaml:1: scenarios: expected 1 to 200 scenarios, got 0"),
        ("scenarios:\n  - {file: nope.yaml}\n", r"suite.yaml:2: scenarios\[0\].file: no such file"),
        (
            "scenarios:\n  - {file: smoke.yaml, tag: [x]}\n",
            r"suite.yaml:2: scenarios\[0\]\.tag: unknown key",
        ),
        ("scenarios:\n  - {file: smoke.yaml, tags: [a b]}\n", r"scenarios\[0\].tags\[0\]: "),
        ("defaults: {secret_env: A, secret_file: b}\nscenarios: [{file: smoke.yaml}]\n", "both"),
        ("scenario: [{file: smoke.yaml}]\n", "scenario"),
    ],
)
def test_suite_file_mistakes_name_the_file_line_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises((ScenarioError, ScenarioErrors), match=expected):
        load_suite(path)


def test_a_bad_edit_of_the_second_scenario_stops_the_suite_before_it_runs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "scenarios:\n  - {file: smoke.yaml}\n  - {file: auth.yaml, set: {load.users: -3}}\n",
    )
    expected = r"suite.yaml: auth.yaml: --set load.users=-3: load.users: expected an integer"
    with pytest.raises(ScenarioError, match=expected):
        load_suite(path)
