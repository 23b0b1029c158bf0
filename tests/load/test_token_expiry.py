"""Tokens shorter than the session: the record keeps the token's expiry, a reconnect after it
sends the stale token (the cache-past-expiry defect caught that way), and refresh mints a new
one. The proxy resets every connection 3 s after it was accepted, tokens live 2 s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import run_cli

SCENARIO = """\
name: token-expiry
target: {embedded: {defects: [%(defects)s]}}
auth: {lifetime: 2}
load:
  users: 4
  spawn_rate: 1
  duration: 7
  session: {hold: 30, messages: 0}
  reconnect: {policy: fixed, delay: 1, refresh: %(refresh)s}
chaos:
  - {fault: reset, at: 0, after_ms: 3000}
"""


def run(tmp_path: Path, defects: str, refresh: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path = tmp_path / f"expiry-{refresh}.yaml"
    path.write_text(SCENARIO % {"defects": defects, "refresh": str(refresh).lower()})
    res = run_cli("run", str(path), "-q", out_dir=tmp_path / f"out-{refresh}")
    assert res.code in (0, 1), res.stderr[-2000:]
    return res.summary(), res.attempts()


def test_a_stale_reconnect_catches_the_validity_cache_and_refresh_gets_the_session_back(
    tmp_path: Path,
) -> None:
    summary, attempts = run(tmp_path, "cache-past-expiry", refresh=False)
    s = summary["sessions"]
    assert s["expired_open"] >= 2 and s["closed_at_expiry"] == 0  # the target never closes
    assert s["kept_past_expiry_s"] is not None and s["kept_past_expiry_s"] > 0
    assert s["stale_reconnects"] >= 2 and s["stale_accepted"] >= 1
    stale = [a for a in attempts if a["token_kind"] == "expired_reused"]
    assert stale and all(a["session_attempt"] > 0 and a["t_start"] > a["token_exp"] for a in stale)
    ids = {f["id"] for f in summary["findings"]}
    assert {"stale-token-accepted", "session-outlives-token"} <= ids

    summary, attempts = run(tmp_path, "", refresh=True)
    s = summary["sessions"]
    assert s["stale_reconnects"] == 0
    assert s["refreshed"] >= 2 and s["refreshed_accepted"] == s["refreshed"]
    fresh = [a for a in attempts if a["token_refreshed"] and a["verdict"] != "excluded"]
    assert fresh and all(a["token_kind"] == "valid" and a["stage"] == "open" for a in fresh)
    assert "token-refresh-failed" not in {f["id"] for f in summary["findings"]}
