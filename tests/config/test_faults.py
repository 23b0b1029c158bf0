"""Tests of harness.config.faults: every fault's schema, without the fault implementations."""

from __future__ import annotations

import dataclasses

import pytest

from harness.config.faults import (
    FAULT_KINDS,
    FAULT_SPECS,
    CpuQuotaParams,
    FdLimitParams,
    NoParams,
    PacketLossParams,
    fmt_num,
    param_bounds,
    param_is_integer,
    param_required,
)


def field(cls: type, name: str) -> dataclasses.Field[object]:
    return {f.name: f for f in dataclasses.fields(cls)}[name]


def test_specs_are_in_name_order_with_a_kind_a_summary_and_documented_params() -> None:
    assert list(FAULT_SPECS) == sorted(FAULT_SPECS) and len(FAULT_SPECS) == 17
    for name, spec in FAULT_SPECS.items():
        assert spec.name == name and spec.kind in FAULT_KINDS and spec.summary
        assert dataclasses.is_dataclass(spec.params)
        for f in dataclasses.fields(spec.params):
            assert f.metadata.get("doc"), f"{name}.{f.name} has no doc"
            if not f.metadata.get("choices") and not param_required(f):
                assert isinstance(f.default, int | float), f"{name}.{f.name}"


def test_flags_of_some_faults() -> None:
    assert FAULT_SPECS["latency"].needs_proxy and not FAULT_SPECS["latency"].needs_pid
    assert FAULT_SPECS["cpu_quota"].needs_pid and not FAULT_SPECS["cpu_quota"].disruptive
    assert FAULT_SPECS["restart_target"].instant and FAULT_SPECS["restart_target"].disruptive
    assert FAULT_SPECS["blackhole"].params is NoParams
    assert [n for n, s in FAULT_SPECS.items() if s.instant] == ["restart_target"]


def test_every_numeric_param_has_an_upper_bound() -> None:
    unbounded = [
        (name, f.name)
        for name, spec in FAULT_SPECS.items()
        for f in dataclasses.fields(spec.params)
        if not f.metadata.get("choices") and f.metadata.get("high") is None
    ]
    assert unbounded == []


def test_params_have_defaults_except_the_port_the_driver_fills() -> None:
    required = {
        (name, f.name)
        for name, spec in FAULT_SPECS.items()
        for f in dataclasses.fields(spec.params)
        if param_required(f)
    }
    assert required == {("packet_loss", "port"), ("reject", "port")}
    assert CpuQuotaParams() == CpuQuotaParams(percent=20.0, period_ms=100.0)
    with pytest.raises(TypeError):
        PacketLossParams()  # type: ignore[call-arg]


def test_bounds_text_and_integer_params() -> None:
    assert param_bounds(field(CpuQuotaParams, "percent")) == "in (0, 800]"
    assert param_bounds(field(CpuQuotaParams, "period_ms")) == "in [1, 1000]"
    assert param_bounds(field(FdLimitParams, "headroom")) == "in [0, 1000000]"
    assert param_bounds(field(FAULT_SPECS["memory_ballast"].params, "margin_mb")) == (
        "in [0, 1048576]"
    )
    assert param_bounds(field(FAULT_SPECS["memory_rlimit"].params, "resource")) == ""
    assert param_is_integer(field(FdLimitParams, "headroom"))
    assert param_is_integer(field(PacketLossParams, "port"))  # no default: by its type
    assert not param_is_integer(field(CpuQuotaParams, "percent"))
    assert (fmt_num(0.5), fmt_num(100.0), fmt_num(1_048_576)) == ("0.5", "100", "1048576")
