"""The chaos proxy's toxics: small frozen dataclasses of named parameters, units in comments.

Toxics follow Toxiproxy's model. Each is set on a :class:`harness.chaos.proxy.server.ChaosProxy`
under a key and cleared by it; several may be active at once. :class:`ActiveToxics`
folds the active set into the few values the proxy reads: per chunk (latency,
bandwidth, blackhole, cut-handshake) or per new connection (reset, connection cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

CAP_MODES = ("reset", "hold", "refuse")


@dataclass(frozen=True)
class Latency:
    """Delay every chunk in both directions; order per direction is kept."""

    ms: float  # milliseconds added to every chunk
    jitter_ms: float = 0.0  # milliseconds, uniform +- around ms (a delay never goes below 0)

    def __post_init__(self) -> None:
        if self.ms < 0 or self.jitter_ms < 0:
            raise ValueError(f"latency and jitter must be >= 0 ms, got {self.ms}, {self.jitter_ms}")


@dataclass(frozen=True)
class Bandwidth:
    """Cap each direction of each connection to a rate."""

    kib_per_s: float  # KiB/s (1 KiB = 1024 bytes), > 0

    def __post_init__(self) -> None:
        if not self.kib_per_s > 0:
            raise ValueError(f"bandwidth must be > 0 KiB/s, got {self.kib_per_s}")


@dataclass(frozen=True)
class Reset:
    """Reset new connections (RST: SO_LINGER 0, then close)."""

    probability: float = 1.0  # share of new connections reset, 0..1
    after_ms: float = 0.0  # milliseconds of forwarding before the RST; 0 = at accept

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1 or self.after_ms < 0:
            raise ValueError(f"need 0 <= probability <= 1 and after_ms >= 0, got {self}")


@dataclass(frozen=True)
class Blackhole:
    """Read and discard everything, both directions, new and existing connections."""


@dataclass(frozen=True)
class CutHandshake:
    """Forward the client's request, then close the client as the response begins."""


@dataclass(frozen=True)
class ConnectionCap:
    """At most ``max_connections`` admitted client connections; the excess per ``mode``."""

    max_connections: int  # concurrent client connections, >= 0
    mode: str = "reset"  # reset (RST) | hold (wait for a slot) | refuse (HTTP 503)

    def __post_init__(self) -> None:
        if self.max_connections < 0 or self.mode not in CAP_MODES:
            raise ValueError(f"need max_connections >= 0 and mode in {CAP_MODES}, got {self}")


Toxic = Latency | Bandwidth | Reset | Blackhole | CutHandshake | ConnectionCap


@dataclass(frozen=True)
class ActiveToxics:
    """The active toxics folded into what the proxy reads (replaced, never mutated)."""

    latency_ms: float = 0.0  # sum of active latencies
    jitter_ms: float = 0.0  # sum of active jitters
    bytes_per_s: float | None = None  # tightest bandwidth cap
    blackhole: bool = False
    cut: bool = False
    cap: ConnectionCap | None = None  # tightest connection cap
    resets: tuple[Reset, ...] = ()
    #: some toxic acts on every chunk (latency, bandwidth, blackhole); derived
    per_chunk: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "per_chunk", self.delays or self.bytes_per_s is not None or self.blackhole
        )

    @property
    def delays(self) -> bool:
        return self.latency_ms > 0 or self.jitter_ms > 0

    def touches(self, responded: bool) -> bool:
        """True when a chunk needs the toxic path (``responded``: the upstream has answered)."""
        return self.per_chunk or (self.cut and not responded)

    @classmethod
    def of(cls, toxics: dict[str, Toxic]) -> ActiveToxics:
        lat = [t for t in toxics.values() if isinstance(t, Latency)]
        rates = [t.kib_per_s * 1024.0 for t in toxics.values() if isinstance(t, Bandwidth)]
        caps = [t for t in toxics.values() if isinstance(t, ConnectionCap)]
        return cls(
            latency_ms=sum(t.ms for t in lat),
            jitter_ms=sum(t.jitter_ms for t in lat),
            bytes_per_s=min(rates) if rates else None,
            blackhole=any(isinstance(t, Blackhole) for t in toxics.values()),
            cut=any(isinstance(t, CutHandshake) for t in toxics.values()),
            cap=min(caps, key=lambda c: c.max_connections) if caps else None,
            resets=tuple(t for t in toxics.values() if isinstance(t, Reset)),
        )


#: no toxic active: the state the fast path checks for by identity
CLEAN = ActiveToxics()
