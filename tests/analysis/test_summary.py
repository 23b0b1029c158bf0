"""Tests of summary.json: the typed summary's serialisation, its reader and its JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.analysis.jsontypes import JsonShapeError, from_json
from harness.analysis.summary import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    Summary,
    SummaryVersionError,
    read_summary,
    summary_from_json,
    summary_json_schema,
    summary_to_json,
)
from harness.errors import RunDirError
from harness.render.report import build_report
from harness.rundir.layout import SUMMARY
from tests.analysis.builders import (
    CPU,
    GATES,
    chaos_event,
    chaos_records,
    gate,
    sample_rows,
    standard_records,
    summary_of,
    valid_run,
    write_run,
)
from tests.conftest import ROOT


def roundtrip(summary: Summary) -> Summary:
    return summary_from_json(json.loads(json.dumps(summary_to_json(summary), allow_nan=False)))


def test_json_round_trip_keeps_every_field() -> None:
    plain = summary_of(sample_rows(), gates=[gate("ok", ">=", 5, "valid")])
    chaos = summary_of(valid_run(lambda t: not 10.0 <= t < 23.0), CPU)
    for summary in (plain, chaos):
        assert roundtrip(summary) == summary
    doc = summary_to_json(chaos)
    assert next(iter(doc)) == "schema_version" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["recovery"]["cpu#1"]["label"] == "cpu#1"
    assert doc["phases"]["during cpu#1"]["name"] == "during cpu#1"
    assert doc["chaos_windows"][0]["kind"] == "cpu"
    assert list(summary_to_json(plain)["token_kinds"]) == ["valid", "empty", "expired"]
    assert summary_to_json(plain)["gates"][0]["unit"] == "count"


def test_another_schema_version_is_not_read() -> None:
    doc = summary_to_json(summary_of(sample_rows()))
    with pytest.raises(SummaryVersionError, match=r"schema version 1, this harness reads 2"):
        summary_from_json({**doc, "schema_version": 1, "schema_minor": 1})
    with pytest.raises(SummaryVersionError, match="harness report RUN_DIR"):
        summary_from_json({k: v for k, v in doc.items() if k != "schema_version"})


def test_a_damaged_summary_names_the_bad_key() -> None:
    doc = summary_to_json(summary_of(sample_rows()))
    doc["token_kinds"]["valid"]["attempts"] = "twelve"
    with pytest.raises(RunDirError, match=r"\$\.token_kinds\.valid\.attempts: expected an integer"):
        summary_from_json(doc)
    del doc["total"]["counted"]
    doc["token_kinds"]["valid"]["attempts"] = 12
    with pytest.raises(RunDirError, match=r"\$\.total: missing key 'counted'"):
        summary_from_json(doc)
    with pytest.raises(RunDirError, match="expected a JSON object"):
        summary_from_json([])


def test_read_summary(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match=r"cannot read summary\.json"):
        read_summary(tmp_path)
    summary = summary_of(sample_rows())
    (tmp_path / SUMMARY).write_text(json.dumps(summary_to_json(summary)))
    assert read_summary(tmp_path) == summary


def test_checked_in_schema_is_the_generated_one() -> None:
    """Regenerate with: python -m harness.analysis.summary_schema"""
    checked_in = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
    assert checked_in == summary_json_schema()
    jsonschema.Draft202012Validator.check_schema(checked_in)


def schema_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(summary_json_schema())
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def test_summary_json_of_a_built_report_validates(tmp_path: Path) -> None:
    events = [
        chaos_event(10, "applied", "cpu_quota#1", params={"percent": 20}, planned_for=10),
        chaos_event(20, "reverted", "cpu_quota#1", planned_at=10, planned_for=10),
        chaos_event(25, "failed", "nofile#2", error="setrlimit: denied"),
    ]
    chaos = write_run(tmp_path / "chaos", chaos_records(), gates=GATES, chaos=events)
    plain = write_run(tmp_path / "plain", standard_records(), complete=False, samples=False)
    for run_dir in (chaos, plain):
        build_report(run_dir)
        doc = json.loads((run_dir / SUMMARY).read_text(encoding="utf-8"))
        assert schema_errors(doc) == []


def test_the_schema_catches_a_wrong_document() -> None:
    doc = summary_to_json(summary_of(valid_run(lambda t: True), CPU))
    doc["total"]["success_rate"] = "high"
    doc["chaos_windows"][0]["status"] = "sort of"
    doc["surprise"] = 1
    errors = schema_errors(doc)
    assert any(e.startswith("total/success_rate") for e in errors)
    assert any(e.startswith("chaos_windows/0/status") for e in errors)
    assert any("surprise" in e for e in errors)
    assert schema_errors({**summary_to_json(summary_of([])), "schema_version": 1})


def test_schema_descriptions_come_from_the_docstrings() -> None:
    schema = summary_json_schema()
    counted = schema["$defs"]["Section"]["properties"]["counted"]["description"]
    assert counted == "attempts that count in rates: attempts - excluded - generator_fault."
    rate = schema["$defs"]["Section"]["properties"]["success_rate"]
    assert "null without counted attempts" in rate["description"]
    assert schema["$defs"]["Window"]["properties"]["status"]["enum"] == [
        "reverted",
        "active_at_end",
        "failed",
        "skipped",
    ]


def test_reader_checks_closed_sets() -> None:
    doc = summary_to_json(summary_of(valid_run(lambda t: True), CPU))
    doc["recovery"]["cpu#1"]["status"] = "fine"
    with pytest.raises(JsonShapeError, match=r"recovery\.cpu#1\.status: expected one of"):
        from_json(Summary, doc)
