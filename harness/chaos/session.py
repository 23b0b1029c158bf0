"""The run's side of chaos: check the plan, start the driver process, follow its timeline."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import harness
from harness.chaos import load_faults
from harness.children import die_with_parent
from harness.config.scenario import ChaosEntry, Scenario
from harness.errors import HarnessError
from harness.rundir.chaos_log import ChaosFollower
from harness.rundir.layout import CHAOS, CHAOS_DRIVER_LOG, CHAOS_PLAN, CHAOS_READY, TARGET_LOG
from harness.target.certs import CERT_DIR

READY_TIMEOUT_S = 20.0  # seconds for the driver (and its proxy) to come up
STOP_TIMEOUT_S = 30.0  # seconds for the driver to revert everything and exit


def preflight(scenario: Scenario, *, has_pid: bool) -> tuple[list[ChaosEntry], list[str]]:
    """Windows this machine can run, and notes about optional ones it skips.

    Raises:
        HarnessError: a non-optional fault cannot run here (the reason is given), or needs a
            target process the scenario does not name.
    """
    faults = load_faults()
    keep: list[ChaosEntry] = []
    notes: list[str] = []
    problems: list[str] = []
    for i, w in enumerate(scenario.chaos):
        cls = faults[w.fault]
        reason = cls.unsupported()
        if reason is None and cls.needs_pid and not has_pid:
            reason = "needs the target's process: use the embedded target or set target.pid"
        if reason is None:
            keep.append(w)
        elif w.optional:
            notes.append(f"chaos[{i}] {w.label}: skipped (optional): {reason}")
        else:
            problems.append(f"{scenario.source}: chaos[{i}].fault: {w.fault} cannot run: {reason}")
    if problems:
        hint = (
            "\n(mark a window `optional: true` to skip it where unsupported;"
            " `harness chaos check` lists what this machine supports)"
        )
        raise HarnessError("\n".join(problems) + hint)
    return keep, notes


def needs_proxy(windows: Sequence[ChaosEntry]) -> bool:
    faults = load_faults()
    return any(faults[w.fault].needs_proxy for w in windows)


def fill_ports(windows: Sequence[ChaosEntry], port: int) -> list[dict[str, Any]]:
    """Windows as plan dicts; faults with a ``port`` parameter left at 0 get the target's."""
    faults = load_faults()
    out = []
    for w in windows:
        params = dict(w.params)
        names = {f for f in faults[w.fault].Params.__dataclass_fields__}
        if "port" in names and not params.get("port"):
            params["port"] = port
        out.append(
            {
                "label": w.label,
                "fault": w.fault,
                "at": w.at,
                "for": w.duration,
                "optional": w.optional,
                "params": params,
            }
        )
    return out


class ChaosSession:
    """A running driver process and what its timeline says so far."""

    def __init__(self, run_dir: Path, plan: dict[str, Any], env: dict[str, str]) -> None:
        self.run_dir = run_dir
        self.plan_path = run_dir / CHAOS_PLAN
        self.plan_path.write_text(json.dumps(plan, indent=2))
        self.log = open(run_dir / CHAOS_DRIVER_LOG, "ab")  # noqa: SIM115
        package_root = str(Path(harness.__file__).resolve().parent.parent)
        env = {
            **env,
            "PYTHONPATH": os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p),
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.chaos.driver", str(self.plan_path)],
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )
        #: the driver's timeline as read so far (the same rule as the report's)
        self.timeline = ChaosFollower(run_dir / CHAOS)
        self.proxy_port: int | None = None

    def wait_ready(self) -> None:
        ready = self.run_dir / CHAOS_READY
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"the chaos driver exited early; see {self.run_dir / CHAOS_DRIVER_LOG}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise HarnessError(f"the chaos driver did not get ready in {READY_TIMEOUT_S:g} s")
            time.sleep(0.05)
        self.proxy_port = json.loads(ready.read_text()).get("proxy_port")

    def _send(self, msg: dict[str, Any]) -> None:
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is None or stdin.closed:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.write((json.dumps(msg) + "\n").encode())
            stdin.flush()

    def start(self, t0: float) -> None:
        """Set the timeline's zero (epoch seconds): faults are due from now on."""
        self._send({"start": t0})

    def poll(self) -> list[dict[str, Any]]:
        """Read the driver's new timeline events (and fold them into :attr:`timeline`)."""
        return self.timeline.follow()

    @property
    def active(self) -> list[str]:
        """Labels of the windows on now, as read so far."""
        return self.timeline.active()

    @property
    def target_pid(self) -> int | None:
        """The target's PID after the driver restarted it (None: not restarted)."""
        return self.timeline.target_pid

    def faults_between(self, start: float, end: float) -> list[str]:
        """Labels of the windows on at some time in [start, end] (epoch seconds)."""
        return self.timeline.faults_between(start, end)

    def stop(self) -> int | None:
        """Tell the driver the run is over, wait for it to revert everything and exit."""
        self._send({"stop": True})
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.poll()
        self.log.close()
        return self.proc.returncode


def start_session(
    scenario: Scenario,
    windows: Sequence[ChaosEntry],
    run_dir: Path,
    *,
    url: str,
    target_pid: int | None,
    secret: str,
) -> ChaosSession:
    """Start the chaos driver process (and its proxy) for one run and wait until it is ready.

    Args:
        scenario: the scenario (its target says how to restart the target).
        windows: the windows :func:`preflight` kept.
        run_dir: the run directory (plan, timeline and driver log go there).
        url: the target's WebSocket URL (the proxy, if any, goes in front of it).
        target_pid: the target's process, for faults that act on it.
        secret: the signing secret, passed to the driver only through its environment
            (a restarted embedded target needs it).

    Raises:
        HarnessError: the driver exited early or did not get ready in time.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    t = scenario.target
    restart: dict[str, Any] | None = None
    if t.is_embedded:
        restart = embedded_restart_spec(scenario, port, run_dir / TARGET_LOG)
    elif t.restart_command:
        restart = {"kind": "command", "command": t.restart_command, "pid_file": t.pid_file}
    plan = {
        "run_dir": str(run_dir),
        "parent_pid": os.getpid(),
        "target": {"pid": target_pid, "cgroup": t.cgroup, "host": parts.hostname, "port": port},
        "restart": restart,
        "proxy": {"upstream_host": parts.hostname, "upstream_port": port}
        if needs_proxy(windows)
        else None,
        "windows": fill_ports(windows, port),
    }
    session = ChaosSession(run_dir, plan, {**os.environ, "HARNESS_JWT_SECRET": secret})
    try:
        session.wait_ready()
    except BaseException:
        session.stop()
        raise
    return session


def proxied_url(url: str, proxy_port: int) -> str:
    """``url`` with its host and port replaced by the local proxy's."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"127.0.0.1:{proxy_port}").geturl()


def embedded_restart_spec(scenario: Scenario, port: int, log_path: Path) -> dict[str, Any]:
    assert scenario.target.embedded is not None
    options = asdict(scenario.target.embedded)
    options["defects"] = list(options["defects"])
    options["socketio_transports"] = list(options["socketio_transports"])
    a, sio = scenario.auth, scenario.target.socketio
    return {
        "kind": "embedded",
        "options": options,
        # where the token goes and what the target speaks: a restart serves the same
        "auth": {
            "placement": a.placement,
            "header": a.header,
            "scheme": a.scheme,
            "cookie": a.cookie,
            "first_message": asdict(a.first_message),
        },
        "protocol": scenario.target.protocol,
        "socketio": {
            "path": sio.path,
            "namespace": sio.namespace,
            "event": sio.event,
            "auth_field": sio.auth_field,
        },
        "path": scenario.target.path,
        "query_param": scenario.auth.query_param,
        "algorithm": scenario.auth.algorithm,
        "port": port,
        "log_path": str(log_path),
        # the run's certificate (harness.target.certs), served again after a restart
        "tls_dir": str(log_path.parent / CERT_DIR) if scenario.target.embedded.tls else None,
    }
