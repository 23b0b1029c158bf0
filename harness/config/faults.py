"""Chaos fault schemas (pure): each fault's metadata and typed parameters, by name.

A scenario's chaos window is checked against these schemas without importing the fault
implementations (which start processes, use psutil, cgroups and nftables): the loader
needs only a fault's name and its parameters' types, units and bounds. Each fault class in
:mod:`harness.chaos.faults` takes its metadata from its :class:`FaultSpec` (``spec =
CPU_QUOTA``), so nothing is listed twice; ``harness chaos list`` and ``docs/chaos.md``
are generated from :data:`FAULT_SPECS`.

A parameter is a dataclass field made with :func:`param`: a default (``MISSING``: the
parameter is required), a unit, inclusive bounds (``low_open``: the low bound itself is
not allowed), allowed strings for a choice, and one line of help. A field whose default
is an ``int`` (or whose type is ``int``) takes integers only; the others take numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field
from types import MappingProxyType
from typing import Any

#: Kinds of faults, for the catalogue and the report.
FAULT_KINDS: tuple[str, ...] = ("cpu", "memory", "connections", "network", "process")
#: What the chaos proxy's connection cap does with the connections beyond it.
CAP_MODES: tuple[str, ...] = ("reset", "hold", "refuse")
#: Signals the process faults send (names without ``SIG``).
SIGNAL_NAMES: tuple[str, ...] = ("KILL", "TERM")


def param(
    default: Any,
    *,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> Any:
    """A fault parameter with its unit, bounds and help, for validation and documentation.

    Args:
        default: the value when the scenario does not give one (``MISSING``: required).
        unit: e.g. "ms", "%", "KiB/s", "s", "MiB"; shown in errors and docs.
        low: smallest allowed value (inclusive unless ``low_open``).
        high: largest allowed value (inclusive).
        low_open: ``low`` itself is not allowed (e.g. a rate that must be > 0).
        choices: allowed values of a string parameter.
        doc: one line of help.
    """
    meta = {
        "unit": unit,
        "low": low,
        "high": high,
        "low_open": low_open,
        "choices": choices,
        "doc": doc,
    }
    return field(default=default, metadata=meta)


def fmt_num(x: float) -> str:
    """A bound for messages: 0.5, 100, 1048576 (never 1.04858e+06)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def param_bounds(f: Field[Any]) -> str:
    """The bounds of a numeric parameter as text: ``in (0, 800]``, ``>= 0``, ``<= 5``, or ""."""
    meta = f.metadata
    lo, hi, lo_open = meta.get("low"), meta.get("high"), meta.get("low_open", False)
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{fmt_num(lo)}, {fmt_num(hi)}]"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {fmt_num(lo)}"
    return f"<= {fmt_num(hi)}" if hi is not None else ""


def param_is_integer(f: Field[Any]) -> bool:
    """The parameter takes integers only (its default is an ``int``, or its type is)."""
    default = f.default
    integer_default = isinstance(default, int) and not isinstance(default, bool)
    return integer_default or f.type in ("int", int)


def param_required(f: Field[Any]) -> bool:
    """The parameter has no default (the chaos driver fills it, e.g. ``port``)."""
    return f.default is MISSING


@dataclass(frozen=True)
class FaultSpec:
    """What a fault is, without how it is done: the metadata of one chaos fault.

    Attributes:
        name: the name scenarios use (``fault: cpu_quota``).
        kind: one of :data:`FAULT_KINDS`.
        summary: one line for ``harness chaos list`` and the docs.
        params: the frozen dataclass of its parameters (:class:`NoParams`: none).
        needs_pid: it acts on the target process (the embedded target, or ``target.pid``).
        needs_proxy: it acts through the chaos proxy (the driver then puts one in front of
            the target).
        instant: an event, not a state (a restart): with no ``for`` it is reverted as soon
            as it has been applied, so what follows is the recovery phase.
        disruptive: the fault itself cuts, resets or delays clients (network, process, the
            proxy's cap): abrupt outcomes it causes are the fault, not the service's way of
            refusing.
    """

    name: str
    kind: str
    summary: str
    params: type[Any]
    needs_pid: bool = True
    needs_proxy: bool = False
    instant: bool = False
    disruptive: bool = False


@dataclass(frozen=True)
class NoParams:
    """For faults without parameters."""


# --- CPU --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuContentionParams:
    hogs: int = param(0, low=0, high=16, doc="busy processes; 0 = one per CPU of the target")
    nice: int = param(0, low=-20, high=19, doc="niceness of the hogs (higher = yields more)")


@dataclass(frozen=True)
class CpuPauseParams:
    percent: float = param(25.0, unit="%", low=0, high=99.9, doc="share of time the target runs")
    period_ms: float = param(200.0, unit="ms", low=20, high=60_000, doc="one run + stop cycle")


@dataclass(frozen=True)
class CpuQuotaParams:
    percent: float = param(
        20.0, unit="%", low=0, low_open=True, high=800, doc="CPU the target may use, 100 = one core"
    )
    period_ms: float = param(100.0, unit="ms", low=1, high=1000, doc="CFS enforcement period")


CPU_CONTENTION = FaultSpec(
    name="cpu_contention",
    kind="cpu",
    summary="busy-loop hog processes pinned to the target's CPUs",
    params=CpuContentionParams,
)
CPU_PAUSE = FaultSpec(
    name="cpu_pause",
    kind="cpu",
    summary="SIGSTOP/SIGCONT duty cycling of the target (no cgroup needed)",
    params=CpuPauseParams,
)
CPU_QUOTA = FaultSpec(
    name="cpu_quota",
    kind="cpu",
    summary="cgroup CPU quota on the target (v2 cpu.max, v1 cpu.cfs_quota_us)",
    params=CpuQuotaParams,
)

# --- Memory -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryBallastParams:
    mb: int = param(256, unit="MiB", low=1, high=1 << 20, doc="memory the ballast holds")
    margin_mb: int = param(
        2048, unit="MiB", low=0, high=1 << 20, doc="MemAvailable that must remain"
    )
    lifetime: float = param(600.0, unit="s", low=1, high=86400, doc="ballast exits after this")


@dataclass(frozen=True)
class MemoryCgroupParams:
    limit_mb: float = param(
        256.0,
        unit="MiB",
        low=0,
        low_open=True,
        high=1 << 20,
        doc="limit on memory charged after the move",
    )
    mode: str = param("stall", choices=("kill", "stall"), doc="at the limit: OOM kill, or stall")


@dataclass(frozen=True)
class MemoryRlimitParams:
    headroom_mb: float = param(
        64.0,
        unit="MiB",
        low=0,
        low_open=True,
        high=1 << 20,
        doc="allowed growth beyond current use",
    )
    resource: str = param(
        "as", choices=("as", "data"), doc="as: virtual size (VMS); data: data segment (VmData)"
    )


MEMORY_BALLAST = FaultSpec(
    name="memory_ballast",
    kind="memory",
    summary="a ballast process holds touched memory: host-wide memory pressure",
    params=MemoryBallastParams,
    needs_pid=False,
)
MEMORY_CGROUP = FaultSpec(
    name="memory_cgroup",
    kind="memory",
    summary="memory cgroup limit on the target: OOM kill, or a stall until reverted",
    params=MemoryCgroupParams,
)
MEMORY_RLIMIT = FaultSpec(
    name="memory_rlimit",
    kind="memory",
    summary="soft RLIMIT_AS/RLIMIT_DATA just above current use: allocations fail (MemoryError)",
    params=MemoryRlimitParams,
)

# --- Connections ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionCapParams:
    max_connections: int = param(
        10, unit="connections", low=0, high=1_000_000, doc="concurrent client connections"
    )
    mode: str = param("reset", choices=CAP_MODES, doc="what the excess gets: RST, wait, 503")


@dataclass(frozen=True)
class FdLimitParams:
    headroom: int = param(
        8, unit="descriptors", low=0, high=1_000_000, doc="new descriptors allowed beyond open ones"
    )


CONNECTION_CAP = FaultSpec(
    name="connection_cap",
    kind="connections",
    summary="at most max_connections concurrent; the excess reset, held or 503 (chaos proxy)",
    params=ConnectionCapParams,
    needs_pid=False,
    needs_proxy=True,
    disruptive=True,
)
FD_LIMIT = FaultSpec(
    name="fd_limit",
    kind="connections",
    summary="soft RLIMIT_NOFILE just above open descriptors: new handshakes stall (EMFILE)",
    params=FdLimitParams,
)

# --- Network: the chaos proxy -----------------------------------------------------------


@dataclass(frozen=True)
class BandwidthParams:
    kib_per_s: float = param(
        64.0,
        unit="KiB/s",
        low=0,
        low_open=True,
        high=1_048_576,
        doc="rate per direction per connection (1 KiB = 1024 bytes)",
    )


@dataclass(frozen=True)
class LatencyParams:
    ms: float = param(200.0, unit="ms", low=0, high=60_000, doc="delay added to every chunk")
    jitter_ms: float = param(
        0.0, unit="ms", low=0, high=60_000, doc="uniform +- around ms; order is kept"
    )


@dataclass(frozen=True)
class ResetParams:
    probability: float = param(
        1.0, unit="fraction", low=0, high=1, doc="share of new connections reset (0..1)"
    )
    after_ms: float = param(
        0.0, unit="ms", low=0, high=3_600_000, doc="forwarding before the RST; 0 = at accept"
    )


BANDWIDTH = FaultSpec(
    name="bandwidth",
    kind="network",
    summary="cap each direction of each connection to kib_per_s (chaos proxy)",
    params=BandwidthParams,
    needs_pid=False,
    needs_proxy=True,
    disruptive=True,
)
BLACKHOLE = FaultSpec(
    name="blackhole",
    kind="network",
    summary="accept, read and discard everything both ways (chaos proxy)",
    params=NoParams,
    needs_pid=False,
    needs_proxy=True,
    disruptive=True,
)
CUT_HANDSHAKE = FaultSpec(
    name="cut_handshake",
    kind="network",
    summary="forward the upgrade, close the client when the response starts (chaos proxy)",
    params=NoParams,
    needs_pid=False,
    needs_proxy=True,
    disruptive=True,
)
LATENCY = FaultSpec(
    name="latency",
    kind="network",
    summary="delay every chunk both ways by ms +- jitter_ms (chaos proxy)",
    params=LatencyParams,
    needs_pid=False,
    needs_proxy=True,
    disruptive=True,
)
RESET = FaultSpec(
    name="reset",
    kind="network",
    summary="reset new connections (RST) at accept or after after_ms (chaos proxy)",
    params=ResetParams,
    needs_pid=False,
    needs_proxy=True,
    disruptive=True,
)

# --- Network: nftables on the target's loopback port ------------------------------------


@dataclass(frozen=True)
class PacketLossParams:
    port: int = param(MISSING, low=1, high=65535, doc="target TCP port (filled from the URL)")
    percent: float = param(
        10.0, unit="%", low=0, low_open=True, high=100, doc="share of packets dropped"
    )


@dataclass(frozen=True)
class RejectParams:
    port: int = param(MISSING, low=1, high=65535, doc="target TCP port (filled from the URL)")
    mode: str = param(
        "reset", choices=("reset", "icmp"), doc="answer: TCP reset or ICMP unreachable"
    )


PACKET_LOSS = FaultSpec(
    name="packet_loss",
    kind="network",
    summary="nftables: drop a share of loopback packets to the target port",
    params=PacketLossParams,
    needs_pid=False,
    disruptive=True,
)
REJECT = FaultSpec(
    name="reject",
    kind="network",
    summary="nftables: refuse loopback connections to the target port (reset or ICMP)",
    params=RejectParams,
    needs_pid=False,
    disruptive=True,
)

# --- Process ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KillTargetParams:
    signal: str = param("KILL", choices=SIGNAL_NAMES, doc="SIGKILL, or SIGTERM (graceful)")


@dataclass(frozen=True)
class RestartTargetParams:
    signal: str = param("TERM", choices=SIGNAL_NAMES, doc="SIGTERM (graceful) or SIGKILL")
    down_ms: float = param(0.0, unit="ms", low=0, high=60_000, doc="time down before restart")


KILL_TARGET = FaultSpec(
    name="kill_target",
    kind="process",
    summary="kill the target (SIGKILL/SIGTERM); restarted on revert when restartable",
    params=KillTargetParams,
    disruptive=True,
)
RESTART_TARGET = FaultSpec(
    name="restart_target",
    kind="process",
    summary="stop the target, stay down down_ms, start it again",
    params=RestartTargetParams,
    instant=True,
    disruptive=True,
)

#: Every fault's spec by name, in name order (the order of ``harness chaos list``).
FAULT_SPECS: Mapping[str, FaultSpec] = MappingProxyType(
    {
        s.name: s
        for s in sorted(
            (
                BANDWIDTH,
                BLACKHOLE,
                CONNECTION_CAP,
                CPU_CONTENTION,
                CPU_PAUSE,
                CPU_QUOTA,
                CUT_HANDSHAKE,
                FD_LIMIT,
                KILL_TARGET,
                LATENCY,
                MEMORY_BALLAST,
                MEMORY_CGROUP,
                MEMORY_RLIMIT,
                PACKET_LOSS,
                REJECT,
                RESET,
                RESTART_TARGET,
            ),
            key=lambda s: s.name,
        )
    }
)
