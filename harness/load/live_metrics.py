"""The run's live counters in Prometheus text, for a team's dashboard to watch a long run
(``harness run --metrics-port PORT``; loopback unless ``--metrics-host`` says otherwise).

Served at ``http://HOST:PORT/metrics`` while the run goes (prometheus_client's own server,
a registry of the run's own: nothing of the process's defaults). Metrics:

- ``harness_attempts_total{token_kind, outcome, verdict}``: attempts recorded (on a master,
  every worker's, as their records arrive);
- ``harness_handshake_seconds``: a histogram of the handshake times (request sent to
  response read);
- ``harness_sessions_open``: WebSocket sessions the load generator holds open now (every
  worker's, from their last reports on a master);
- ``harness_users``: users running now;
- ``harness_chaos_fault_active{label}``: 1 while that chaos window's fault is applied;
- ``harness_load_stage{stage}``: 1 for the load stage running now (``load.stages``), 0 for
  the stages before it; absent for a load without stages.

The record counters are fed by :class:`CountingSink` in front of the run's recorder; the
gauges are read when scraped, or set by the run's monitor each tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from harness.load.user import RecordSink
from harness.rundir.records import AttemptRecord

#: Handshake-time buckets, seconds: 1 ms to 30 s.
HANDSHAKE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class LiveMetrics:
    """The run's metrics (see the module docstring) and the server that shows them."""

    def __init__(self, sessions_open: Callable[[], float], users: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.attempts = Counter(
            "harness_attempts",
            "Connection attempts recorded, by token kind, outcome and verdict.",
            ("token_kind", "outcome", "verdict"),
            registry=self.registry,
        )
        self.handshake = Histogram(
            "harness_handshake_seconds",
            "Handshake time of the attempts that got an upgrade response (seconds).",
            buckets=HANDSHAKE_BUCKETS,
            registry=self.registry,
        )
        Gauge(
            "harness_sessions_open",
            "WebSocket sessions the load generator holds open now.",
            registry=self.registry,
        ).set_function(sessions_open)
        Gauge("harness_users", "Users running now.", registry=self.registry).set_function(users)
        self.chaos = Gauge(
            "harness_chaos_fault_active",
            "1 while the chaos window's fault is applied.",
            ("label",),
            registry=self.registry,
        )
        self._seen: set[str] = set()  # chaos labels seen active
        self.stage = Gauge(
            "harness_load_stage",
            "1 for the load stage running now (load.stages).",
            ("stage",),
            registry=self.registry,
        )
        self._stages: list[str] = []  # stages seen running, in order
        self._server: Any = None
        self.port: int | None = None

    def observe(self, record: AttemptRecord) -> None:
        self.attempts.labels(record.token_kind, record.outcome, record.verdict).inc()
        if record.handshake_ms is not None:
            self.handshake.observe(record.handshake_ms / 1000.0)

    def chaos_active(self, labels: Iterable[str]) -> None:
        """The faults applied now (the others are set to 0)."""
        active = set(labels)
        self._seen |= active
        for label in self._seen:
            self.chaos.labels(label).set(1 if label in active else 0)

    def stage_active(self, name: str) -> None:
        """The load stage running now (the stages seen before are set to 0)."""
        if name not in self._stages:
            self._stages.append(name)
        for seen in self._stages:
            self.stage.labels(seen).set(1 if seen == name else 0)

    def serve(self, host: str, port: int) -> int:
        """Start serving on ``host:port`` (0: a free port); the port it listens on.

        Raises:
            OSError: the address cannot be bound.
        """
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        self.port = int(self._server.server_port)
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class CountingSink:
    """Every record into ``sink``, and counted in ``metrics``."""

    def __init__(self, sink: RecordSink, metrics: LiveMetrics) -> None:
        self.sink = sink
        self.metrics = metrics

    def add(self, record: AttemptRecord) -> None:
        self.sink.add(record)
        self.metrics.observe(record)
