"""meta.json: one versioned shape, atomic writes, tolerant reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import RunDirError
from harness.rundir.meta import META_SCHEMA_VERSION, RunMeta, read_meta


def test_round_trip_is_versioned_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    meta = RunMeta(run_id="r1", scenario="smoke", route="harness run", started_at=1.5)
    meta.write(tmp_path)
    raw = json.loads((tmp_path / "meta.json").read_text())
    assert raw["schema_version"] == META_SCHEMA_VERSION
    assert raw["versions"]["harness"] and raw["machine"]["cpus"] >= 1
    assert read_meta(tmp_path) == meta
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]


def test_old_or_damaged_files_read_with_defaults(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text(
        json.dumps(
            {"run_id": "old", "started_at": "soon", "complete": "yes", "versions": [1], "extra": 1}
        )
    )
    meta = read_meta(tmp_path)
    assert (meta.run_id, meta.started_at, meta.complete, meta.versions) == ("old", None, False, {})
    assert meta.schema_version == META_SCHEMA_VERSION


def test_missing_run_directory_or_meta_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="does not exist"):
        read_meta(tmp_path / "nope")
    with pytest.raises(RunDirError, match=r"no meta\.json"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("[1, 2]")
    with pytest.raises(RunDirError, match="expected a JSON object"):
        read_meta(tmp_path)
