"""Every test of harness.config runs in its own temporary directory, with the test secret set."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.helpers import SECRET_VALUE


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_TEST_SECRET", SECRET_VALUE)
