"""Fixtures of the render tests: skip or fake the charts (drawing costs ~0.5 s a chart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.analysis.summary import Summary
from harness.render import report as build
from harness.render.charts.captions import expected_charts
from tests.analysis.builders import tiny_png


@pytest.fixture
def no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing charts (for tests about everything else)."""
    monkeypatch.setattr(build, "write_charts", lambda *args, **kwargs: [])


@pytest.fixture
def fake_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write a distinct tiny PNG per chart the report would draw (for tests of the page)."""

    def write(run: Any, summary: Summary, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        names = expected_charts(summary.has_chaos, bool(summary.recovery))
        for i, name in enumerate(names):
            (out_dir / name).write_bytes(tiny_png(i + 1, 2))
        return [out_dir / name for name in names]

    monkeypatch.setattr(build, "write_charts", write)
