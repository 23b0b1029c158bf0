"""Socket.IO sessions (pure): which transport carried them, fallbacks and upgrades, and how
the servers refused them (their CONNECT_ERROR messages, disconnects, missing heartbeats).

Read from the records' ``transport``, ``fallback``, ``upgraded`` and ``connect_error``
(:mod:`harness.load.socketio`); a run whose records carry none of them (a plain WebSocket
scenario) has no Socket.IO statistics at all.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.run import Run
from harness.analysis.summary import SocketIOStats
from harness.protocol.outcomes import Outcome, Verdict

#: The most distinct CONNECT_ERROR messages kept (the rarest others are left out).
MAX_MESSAGES = 10


def _count_of(column: pd.Series[Any], flag: bool) -> int:
    """How many values of a boolean column (None where unknown) are ``flag``."""
    return sum(isinstance(v, (bool, np.bool_)) and bool(v) is flag for v in column)


def compute_socketio(run: Run) -> SocketIOStats | None:
    """The Socket.IO statistics of ``run``; None when it has no Socket.IO session at all."""
    a = run.attempts
    if "transport" not in a.columns or "connect_error" not in a.columns:
        return None
    counted = a[a["verdict"] != Verdict.EXCLUDED.value]
    transport = counted["transport"]
    errors = counted["connect_error"].dropna()
    if transport.isna().all() and errors.empty:
        return None
    opened = counted[transport.notna()]
    accepted = opened[opened["outcome"] == Outcome.ACCEPTED.value]
    none = pd.Series(dtype=object)
    upgraded = counted["upgraded"] if "upgraded" in counted.columns else none
    fallback = counted["fallback"] if "fallback" in counted.columns else none
    failed = _count_of(upgraded, False)
    messages = errors.astype(str).value_counts().head(MAX_MESSAGES)
    outcome = counted["outcome"]
    return SocketIOStats(
        attempts_by_transport=_counts(opened["transport"]),
        accepted_by_transport=_counts(accepted["transport"]),
        fallbacks=_count_of(fallback, True),
        upgrades_tried=_count_of(upgraded, True) + failed,
        upgrades_failed=failed,
        connect_errors={str(k): int(v) for k, v in messages.items()},
        server_disconnects=int((outcome == Outcome.SERVER_DISCONNECT.value).sum()),
        heartbeat_timeouts=int((outcome == Outcome.TIMEOUT_HEARTBEAT.value).sum()),
    )


def _counts(column: pd.Series[Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in column.astype(str).value_counts().sort_index().items()}
