"""Findings thresholds and fault classes (pure data), shared by the engine and its checks.

Shares are 0..1, times seconds, handshakes milliseconds. :mod:`harness.analysis.findings`
re-exports every name here.
"""

from __future__ import annotations

# --- Thresholds (shares 0..1, seconds, milliseconds) ---------------------------------------

QUIET_REFUSED_MAX_SHARE = 0.01  #: valid refused/dropped with no fault active: still noise
GRACEFUL_SHARE_MIN = 0.8  #: under a fault, lowest acceptable share of refusals with a reason
MIN_PRESSURE_REFUSALS = 10  #: fewest refusals in a fault phase before that share is judged
LONG_OPEN_S = 10.0  #: seconds open after which a connection should have seen a server ping
MIN_LONG_CONNECTIONS = 5  #: fewest such connections before a missing heartbeat is reported
SLOW_RECOVERY_S = 10.0  #: seconds of recovery after a fault window beyond which it is slow
HANDSHAKE_P95_MAX_MS = 500.0  #: valid handshake p95 (ms) in the baseline above which it is slow
HANDSHAKE_CHAOS_FACTOR = 5.0  #: fault-phase p95 over baseline p95 that is slow ...
HANDSHAKE_CHAOS_FLOOR_MS = 100.0  #: ... when that p95 (ms) is also at least this

#: Close codes that need no reason (RFC 6455 section 7.4.1: normal closure, going away).
NORMAL_CLOSE_CODES: frozenset[int] = frozenset({1000, 1001})
