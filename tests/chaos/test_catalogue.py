"""The fault catalogue: every fault is documented, and docs/chaos.md is current."""

from __future__ import annotations

import dataclasses

from harness.chaos import load_faults
from harness.chaos.catalogue import catalogue_markdown
from tests.conftest import ROOT, run_cli


def test_every_fault_has_a_summary_kind_and_documented_params() -> None:
    faults = load_faults()
    assert len(faults) >= 17
    for name, cls in faults.items():
        assert cls.summary and cls.kind in {"cpu", "memory", "connections", "network", "process"}
        for f in dataclasses.fields(cls.Params):
            assert f.metadata.get("doc"), f"{name}.{f.name} has no doc"


def test_docs_chaos_md_is_generated_from_the_registry() -> None:
    on_disk = (ROOT / "docs" / "chaos.md").read_text()
    assert on_disk == catalogue_markdown(), (
        "regenerate: harness chaos list --markdown > docs/chaos.md"
    )


def test_chaos_check_lists_every_fault_with_its_status() -> None:
    run = run_cli("chaos", "check")
    assert run.code == 0
    for name in load_faults():
        assert name in run.stdout
    assert "[ok]" in run.stdout
