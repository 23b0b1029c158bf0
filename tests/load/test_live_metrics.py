"""``harness run --metrics-port``: the run's live counters, scraped during a real run and
parsed with prometheus_client's own parser (what a Prometheus server reads)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, run_cli, scaled


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(v for _, v in samples.get(name, []))


def test_counters_grow_during_the_run_and_match_the_records(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--duration", "6",
            "--users", "6", "--metrics-port", "0", "--out", str(tmp_path),
            "--set", "load.mix={valid: 1, empty: 1, expired: 1}",
        ],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ,
    )  # fmt: skip
    assert proc.stdout is not None
    port = None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if m := re.search(r"live metrics: http://127\.0\.0\.1:(\d+)/metrics", line):
            port = int(m.group(1))
            break
    assert port, "".join(seen)
    time.sleep(scaled(2.5))
    first = scrape(port)
    time.sleep(scaled(2))
    second = scrape(port)
    out, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 0, "".join(seen) + out + err
    kinds = {labels["token_kind"] for labels, _ in second["harness_attempts_total"]}
    # labelled by kind: a few seconds of a random mix need not have made every kind yet
    assert len(kinds) >= 2 and kinds <= {"valid", "empty", "expired"}, kinds
    assert 0 < total(first, "harness_attempts_total") < total(second, "harness_attempts_total")
    assert total(second, "harness_handshake_seconds_count") > 0
    assert second["harness_users"][0][1] == 6
    assert second["harness_sessions_open"][0][1] >= 0
    # never more counted than recorded: the counters are fed by the recorder's own sink
    records = len((next(tmp_path.iterdir()) / "attempts.jsonl").read_text().splitlines())
    assert total(second, "harness_attempts_total") <= records
    with socket.socket() as s:  # the server is gone with the run
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_a_busy_metrics_port_is_an_error_naming_the_flag(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = run_cli(
            "run", "scenarios/smoke.yaml", "--duration", "2", "--metrics-port", str(port),
            out_dir=tmp_path,
        )  # fmt: skip
    assert run.code == 2, run.stdout + run.stderr
    assert f"--metrics-host/--metrics-port: cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr
