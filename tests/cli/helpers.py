"""Helpers of the command-line tests: real processes of ours, their run directories, waiting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, scaled

#: Text that must never appear in a route's output: a traceback, or the writer closed
#: under running users.
NO_EXCEPTIONS = ("Traceback", "I/O operation on closed file", "Uncaught exception")


def locust_cmd(scenario_file: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", "locustfile.py", "--scenario", str(scenario_file),
        "--out", str(out), *extra,
    ]  # fmt: skip


def run_proc(cmd: list[str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` from the repository root, output captured."""
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=scaled(timeout), check=False
    )


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.exists() else []


def meta_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "meta.json").read_text())  # type: ignore[no-any-return]


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


def assert_clean(output: str) -> None:
    for text in NO_EXCEPTIONS:
        assert text not in output, f"{text!r} in the output:\n{output[-3000:]}"


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def attempts_in(out: Path) -> int:
    dirs = run_dirs(out)
    path = dirs[-1] / "attempts.jsonl" if dirs else None
    return path.read_text().count("\n") if path and path.exists() else 0


@contextmanager
def started(
    cmd: list[str],
    log: Path,
    *,
    new_session: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours with its output in ``log``; killed (by PID) if the test fails.

    ``new_session``: in a session (and process group) of its own, as a terminal's
    foreground job is, so a signal to its group reaches nothing of the test's.
    """
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
            env=None if env is None else {**os.environ, **env},
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def harness_cmd(*args: str) -> list[str]:
    """``python -m harness ARGS`` with this interpreter."""
    return [sys.executable, "-m", "harness", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, data: dict[str, str] | None = None, timeout: float = 60) -> dict[str, Any]:
    body = "&".join(f"{k}={v}" for k, v in (data or {}).items()).encode()
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=scaled(timeout)) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False
