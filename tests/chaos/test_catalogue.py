"""The fault catalogue: every fault has a spec and every spec a fault; docs/chaos.md is current."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.chaos import load_faults
from harness.chaos.base import SPEC_ATTRIBUTES, ChaosContext, Fault, register
from harness.chaos.catalogue import catalogue_markdown, catalogue_text
from harness.chaos.faults import kill_target, memory_rlimit, reject
from harness.chaos.proxy import toxics
from harness.config.faults import CAP_MODES, FAULT_KINDS, FAULT_SPECS, LATENCY, SIGNAL_NAMES
from tests.conftest import ROOT, run_cli


def test_every_registered_fault_has_a_spec_and_every_spec_a_fault() -> None:
    faults = load_faults()
    assert list(faults) == list(FAULT_SPECS)
    for name, cls in faults.items():
        assert cls.spec is FAULT_SPECS[name]
        for attr, spec_field in SPEC_ATTRIBUTES.items():
            assert getattr(cls, attr) == getattr(cls.spec, spec_field), f"{name}.{attr}"


def test_every_fault_has_a_summary_kind_and_documented_params() -> None:
    faults = load_faults()
    assert len(faults) >= 17
    for name, cls in faults.items():
        assert cls.summary and cls.kind in FAULT_KINDS
        for f in dataclasses.fields(cls.Params):
            assert f.metadata.get("doc"), f"{name}.{f.name} has no doc"


def test_choices_are_what_the_implementations_accept() -> None:
    faults = load_faults()

    def choices(fault: str, param: str) -> tuple[str, ...]:
        fields = {f.name: f for f in dataclasses.fields(faults[fault].Params)}
        return tuple(fields[param].metadata["choices"])

    assert set(SIGNAL_NAMES) == set(kill_target.SIGNALS)
    assert choices("kill_target", "signal") == choices("restart_target", "signal") == SIGNAL_NAMES
    assert set(choices("reject", "mode")) == set(reject.ACTIONS)
    assert set(choices("memory_rlimit", "resource")) == set(memory_rlimit.RESOURCES)
    assert choices("connection_cap", "mode") == CAP_MODES == toxics.CAP_MODES


def test_metadata_comes_from_the_spec_only() -> None:
    with pytest.raises(TypeError, match="name, needs_pid come from its spec"):

        class Doubled(Fault):  # a fault that says its name twice
            spec = LATENCY
            name = "latency"
            needs_pid = False

            def apply(self, ctx: ChaosContext) -> None: ...
            def revert(self, ctx: ChaosContext) -> None: ...

    class NoSpec(Fault):
        name = "no_spec"

        def apply(self, ctx: ChaosContext) -> None: ...
        def revert(self, ctx: ChaosContext) -> None: ...

    with pytest.raises(ValueError, match="spec must be one of"):
        register(NoSpec)


def test_faults_are_created_with_default_params() -> None:
    cls: Any = load_faults()["latency"]
    assert cls().params == cls.Params() == LATENCY.params()


def test_docs_chaos_md_is_generated_from_the_registry() -> None:
    on_disk = (ROOT / "docs" / "chaos.md").read_text()
    assert on_disk == catalogue_markdown(), (
        "regenerate: harness chaos list --markdown > docs/chaos.md"
    )


def test_the_list_shows_every_fault_and_its_parameters() -> None:
    text = catalogue_text(check=False)
    assert text.splitlines()[:3] == [
        "bandwidth        network      "
        "cap each direction of each connection to kib_per_s (chaos proxy)",
        "                             kib_per_s (default 64.0 KiB/s; in (0, 1048576]): "
        "rate per direction per connection (1 KiB = 1024 bytes)",
        "blackhole        network      accept, read and discard everything both ways (chaos proxy)",
    ]
    assert "port (required; in [1, 65535]): target TCP port (filled from the URL)" in text
    assert "mode (default 'reset'; one of reset|hold|refuse): " in text


def test_chaos_check_lists_every_fault_with_its_status() -> None:
    run = run_cli("chaos", "check")
    assert run.code == 0
    for name in load_faults():
        assert name in run.stdout
    assert "[ok]" in run.stdout
