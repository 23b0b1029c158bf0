"""The progress line a run prints every few seconds, on every route.

``[  12s/30s] users 20/20  attempts 431 (35.9/s)  as expected 100.0%  valid-refused 0
invalid-accepted 0  abrupt 0  gen-fault 0  handshake p95 4.1 ms (last 500)  chaos: cpu_quota#1``

With ``load.stages`` the stage running follows the time: ``[  12s/30s] peak: users
20/20 ...``.

"As expected" is the success rate's one definition (ok / counted, counted leaving out
attempts the harness cut and the load generator's own faults: see
:mod:`harness.analysis.stats`); the handshake p95 is over a sliding window of the most
recent handshakes, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.stats import counted, percentile
from harness.load.recorder import RECENT_HANDSHAKES, RunRecorder


def progress_line(
    recorder: RunRecorder,
    *,
    elapsed: float,
    planned: float,
    users: int,
    wanted: int,
    chaos: Sequence[str] = (),
    stage: str | None = None,
) -> str:
    """One progress line (see the module docstring); times in seconds; ``stage``: the load
    stage running (None: a load without stages)."""
    v = recorder.verdicts
    n = counted(recorder.total, v["excluded"], v["generator_fault"])
    rate = f"{100.0 * v['ok'] / n:5.1f}%" if n else "   - "
    p95 = percentile(list(recorder.recent_handshakes), 0.95)
    hs = f"{p95:.1f} ms (last {RECENT_HANDSHAKES})" if p95 is not None else "-"
    at = f" {stage}:" if stage is not None else ""
    line = (
        f"[{elapsed:5.0f}s/{planned:.0f}s]{at} users {users}/{wanted}  attempts {recorder.total}"
        f" ({recorder.total / max(elapsed, 0.001):.1f}/s)  as expected {rate}"
        f"  valid-refused {v['valid_refused']}  invalid-accepted {v['invalid_accepted']}"
        f"  abrupt {v['abrupt']}  gen-fault {v['generator_fault']}  handshake p95 {hs}"
    )
    return line + ("  chaos: " + ", ".join(chaos) if chaos else "")
