"""Scale: many concurrent WebSocket users from one load-generator process.

Marked slow: not run by default (`make test-slow` or `pytest -m slow` runs them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

SCALE = """\
name: scale-{users}
target:
  embedded: {{max_connections: 20000, max_cpu_percent: 800, max_rss_mb: 16000, ping_interval: 5}}
load:
  users: {users}
  spawn_rate: 200
  duration: 40
  mix: {{valid: 8, expired: 1, empty: 1}}
  session: {{hold: 25, messages: 2, wait: [0.5, 1.0]}}
  timeouts: {{connect: 10, handshake: 10}}
gates:
  - {{name: valid sessions, metric: success_rate, token_kind: valid, op: ">=", threshold: 0.99}}
  - {{name: the generator held up, metric: generator_fault, op: "==", threshold: 0}}
  - {{name: no invalid token accepted, metric: invalid_accepted, op: "==", threshold: 0}}
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("users", [1000, 3000])
def test_thousands_of_concurrent_connections(tmp_path: Path, users: int) -> None:
    scenario = tmp_path / "scale.yaml"
    scenario.write_text(SCALE.format(users=users))
    run = run_cli("run", str(scenario), out_dir=tmp_path / "out", timeout=500)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = run.summary()
    assert summary["total"]["attempts"] >= users
    # the target really held them at once: its sampled connection count got near `users`
    samples = (run.run_dir / "samples.jsonl").read_text().splitlines()
    import json

    peak = max(json.loads(line)["connections"] for line in samples)
    # one generator process on a 2-core machine: spawning and handshakes share a core with
    # the target, so not every user is connected at the same instant
    assert peak >= 0.5 * users, peak


HELD = """\
name: scale-30000
target:
  embedded: {processes: 2, max_connections: 40000, max_cpu_percent: 800, max_rss_mb: 16000,
             ping_interval: 60}
load:
  users: 30000
  spawn_rate: 500
  duration: 110
  mix: {valid: 1}
  # one source address has about 28,000 ephemeral ports towards the target's one address
  source_addresses: [127.0.0.1, 127.0.0.2]
  session: {hold: 200, messages: 0, wait: [1, 2]}
  timeouts: {connect: 15, handshake: 15}
gates:
  - {name: valid sessions, metric: success_rate, token_kind: valid, op: ">=", threshold: 0.99}
  - {name: the generator held up, metric: generator_fault, op: "==", threshold: 0}
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_thirty_thousand_connections_held_at_once(tmp_path: Path) -> None:
    """Two load workers (15,000 sockets each) and a target of two processes hold 30,000
    WebSockets open at once on this 2-core machine (one process may hold at most about
    19,900: the hard limit is 20,000 files); the report says what one held connection cost
    the generator."""
    import json

    scenario = tmp_path / "held.yaml"
    scenario.write_text(HELD)
    run = run_cli("run", str(scenario), "--workers", "2", out_dir=tmp_path / "out", timeout=800)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    meta = json.loads((run.run_dir / "meta.json").read_text())
    generator = meta["generator"]
    assert generator["processes"] == 2
    assert generator["peak_open"] >= 30_000, generator  # the generator's own count
    samples = [json.loads(line) for line in (run.run_dir / "samples.jsonl").open()]
    assert max(s["fds"] for s in samples) >= 30_000  # and the target's descriptors
    assert "KB per held connection" in run.stdout
    print(json.dumps(generator))  # the figures for docs/performance.md (never asserted)
