"""The chaos driver: its own process, applying faults on the run's timeline and reverting all.

Started by ``harness run`` as ``python -m harness.chaos.driver PLAN.json`` with a pipe
on stdin. Protocol on stdin (one JSON object per line): ``{"start": <epoch s>}`` sets
the timeline's zero; ``{"stop": true}`` ends the run. On stdout nothing; the driver
writes a ready file (``{"pid", "proxy_port"}``) once its proxy (if any) listens.

Every applied fault is reverted, in reverse order, when:
- its window ends;
- the run says stop, or the plan's timeline runs out;
- SIGTERM or SIGINT arrives;
- the run process dies: stdin reaches EOF, the parent PID changes, or
  PR_SET_PDEATHSIG (set by the runner) delivers SIGTERM.

Events go to ``chaos.jsonl`` in the run directory, one line each, flushed at once:
see :mod:`harness.rundir.chaos_log` for the events and the one rule that folds them into
windows. A window runs from ``applying`` (the fault is about to act) to ``reverted``;
``failed`` follows ``applying`` when the fault could not be applied (and was reverted as
far as it got).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos import load_faults
from harness.chaos.base import ChaosContext, ChaosError, Fault
from harness.redact import redact
from harness.rundir.jsonl import JsonlWriter
from harness.rundir.layout import CHAOS, CHAOS_READY, write_json_atomic

TICK_S = 0.05  # scheduler resolution
ANNOUNCE_S = 0.3  # seconds between announcing a fault (applying) and applying it
START_TIMEOUT_S = 60.0  # the run must say start within this long after ready


@dataclass
class Window:
    label: str
    fault: Fault
    at: float  # seconds after start
    duration: float | None  # seconds, None: until the end
    optional: bool
    params: dict[str, Any]
    applied: bool = False
    done: bool = False  # reverted, failed or skipped


@dataclass
class Driver:
    plan: dict[str, Any]
    run_dir: Path
    windows: list[Window] = field(default_factory=list)
    events: JsonlWriter | None = None
    t0: float | None = None
    stop_requested: bool = False
    reason: str = ""
    restarted: list[Any] = field(default_factory=list)  # TargetProcess objects we started
    secrets: list[str] = field(default_factory=list)

    def event(self, w: Window | None, event: str, error: str | None = None, **extra: Any) -> None:
        assert self.events is not None
        rec: dict[str, Any] = {"t": round(time.time(), 4), "event": event}
        if w is not None:
            rec.update(
                label=w.label,
                fault=w.fault.name,
                kind=w.fault.kind,
                disruptive=w.fault.disruptive,
                optional=w.optional,
                params=w.params,
                planned_at=w.at,
                planned_for=w.duration,
            )
        rec["error"] = redact(error, self.secrets)[:300] if error else None
        rec.update(extra)
        self.events.write(rec)

    def apply(self, w: Window, ctx: ChaosContext) -> None:
        # Announce, then act: the run reads the timeline every 0.2 s to label attempts, so a
        # fault starts acting only once the run knows it is on (a restart ends connections
        # at once; without the lead they would be labelled as the baseline's).
        self.event(w, "applying")
        time.sleep(ANNOUNCE_S)
        try:
            w.fault.apply(ctx)
        except Exception as exc:
            w.done = True
            with contextlib.suppress(Exception):
                w.fault.revert(ctx)  # undo a partial apply
            self.event(w, "failed", f"{type(exc).__name__}: {exc}")
            return
        w.applied = True
        self.event(w, "applied")

    def revert(self, w: Window, ctx: ChaosContext) -> None:
        if not w.applied or w.done:
            return
        w.done = True
        try:
            w.fault.revert(ctx)
        except Exception as exc:
            self.event(w, "reverted", f"revert failed: {type(exc).__name__}: {exc}")
            return
        self.event(w, "reverted")


def _build_windows(plan: dict[str, Any]) -> list[Window]:
    faults = load_faults()
    out = []
    for w in plan["windows"]:
        cls = faults[w["fault"]]
        params = cls.Params(**w["params"])
        out.append(
            Window(
                w["label"],
                cls(params),
                w["at"],
                w.get("for"),
                w.get("optional", False),
                dict(w["params"]),
            )
        )
    return out


def _make_restart(driver: Driver, ctx: ChaosContext) -> Any:
    """A restart callable for the embedded target (same options, same port), or None."""
    spec = driver.plan.get("restart")
    if not spec:
        return None

    def restart() -> int:
        if spec["kind"] == "embedded":
            from harness.config.scenario import Auth, EmbeddedTarget, FirstMessage, SocketIO
            from harness.target.certs import RunCerts
            from harness.target.process import start_target

            o = spec["options"]
            opts = EmbeddedTarget(
                **{
                    **o,
                    "defects": tuple(o["defects"]),
                    "socketio_transports": tuple(o["socketio_transports"]),
                }
            )
            a = spec["auth"]
            auth = Auth(**{**a, "first_message": FirstMessage(**a["first_message"])})
            target = start_target(
                opts,
                secret=os.environ.get("HARNESS_JWT_SECRET", ""),
                log_path=Path(spec["log_path"]),
                path=spec["path"],
                query_param=spec["query_param"],
                algorithm=spec["algorithm"],
                port=spec["port"],
                certs=RunCerts.at(Path(spec["tls_dir"])) if spec.get("tls_dir") else None,
                auth=auth,
                protocol=spec["protocol"],
                socketio=SocketIO(**spec["socketio"]),
                disconnect_after=opts.disconnect_after,
            )
            driver.restarted.append(target)
            return int(target.pid)
        import shlex
        import subprocess

        subprocess.Popen(shlex.split(spec["command"]), start_new_session=True)
        pid_file = spec.get("pid_file")
        if not pid_file:
            raise ChaosError("restart_command given without target.pid_file: new PID unknown")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                pid = int(Path(pid_file).read_text().strip())
                if pid != ctx.target_pid:
                    return pid
            time.sleep(0.1)
        raise ChaosError(f"restart_command did not write a new PID to {pid_file} within 15 s")

    return restart


async def run_driver(plan_path: Path) -> int:
    plan = json.loads(plan_path.read_text())
    run_dir = Path(plan["run_dir"])
    driver = Driver(plan=plan, run_dir=run_dir)
    secret = os.environ.get("HARNESS_JWT_SECRET")
    driver.secrets = [secret] if secret else []
    driver.events = JsonlWriter(run_dir / CHAOS, flush_every=0.0)
    driver.windows = _build_windows(plan)
    _sweep_stale()
    loop = asyncio.get_running_loop()
    parent = plan["parent_pid"]

    def request_stop(reason: str) -> None:
        if not driver.stop_requested:
            driver.stop_requested, driver.reason = True, reason

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, request_stop, sig.name)

    def read_stdin() -> None:
        for line in sys.stdin:
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if "start" in msg:
                    loop.call_soon_threadsafe(setattr, driver, "t0", float(msg["start"]))
                if msg.get("stop"):
                    loop.call_soon_threadsafe(request_stop, "run finished")
        loop.call_soon_threadsafe(request_stop, "run process gone (stdin closed)")

    threading.Thread(target=read_stdin, daemon=True, name="stdin").start()

    target = plan.get("target", {})
    ctx = ChaosContext(
        target_pid=target.get("pid"),
        run_dir=run_dir,
        target_cgroup=Path(target["cgroup"]) if target.get("cgroup") else None,
        protected_pids=frozenset({os.getpid(), parent}),
    )

    def on_pid_change(pid: int) -> None:
        ctx.target_pid = pid
        driver.event(None, "target_pid", pid=pid)

    ctx.on_pid_change = on_pid_change
    ctx.restart = _make_restart(driver, ctx)
    proxy = None
    if plan.get("proxy"):
        from harness.chaos.proxy.server import ChaosProxy

        proxy = ChaosProxy(plan["proxy"]["upstream_host"], plan["proxy"]["upstream_port"])
        await proxy.start()
        ctx.proxy = proxy
    ready = {"pid": os.getpid(), "proxy_port": proxy.port if proxy else None}
    write_json_atomic(run_dir / CHAOS_READY, ready)

    # Faults run in one worker thread that lives as long as the driver: a slow apply (a
    # restart) must not stall the proxy's loop, and children a fault starts with
    # PR_SET_PDEATHSIG die with the thread that forked them, so that thread must not end.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fault")

    async def in_worker(fn: Any, *args: Any) -> None:
        await loop.run_in_executor(worker, fn, *args)

    ready_at = time.monotonic()
    try:
        while not driver.stop_requested:
            if os.getppid() != parent:
                request_stop("run process gone (parent changed)")
                break
            if driver.t0 is None:
                if time.monotonic() - ready_at > START_TIMEOUT_S:
                    request_stop("run never started")
                await asyncio.sleep(TICK_S)
                continue
            now = time.time() - driver.t0
            for w in driver.windows:
                if w.done:
                    continue
                if not w.applied and now >= w.at:
                    await in_worker(driver.apply, w, ctx)
                    if w.applied and w.duration is None and w.fault.instant:
                        await in_worker(driver.revert, w, ctx)  # a restart: over once applied
                elif w.applied and w.duration is not None and now >= w.at + w.duration:
                    await in_worker(driver.revert, w, ctx)
            await asyncio.sleep(TICK_S)
    finally:
        for w in reversed(driver.windows):
            if w.applied and not w.done:
                await in_worker(driver.revert, w, ctx)
            elif not w.done:
                w.done = True
                driver.event(w, "skipped", f"not applied before the run ended ({driver.reason})")
        if proxy is not None:
            await proxy.stop()
        for t in driver.restarted:
            await in_worker(t.stop)
        worker.shutdown(wait=True)
        driver.events.close()
    return 0


def _sweep_stale() -> None:
    """Remove leftovers of earlier runs that were killed harder than we can catch (best effort)."""
    from harness.chaos import cgroups

    for controller in ("cpu", "memory"):
        with contextlib.suppress(Exception):
            cgroups.sweep_stale(controller)
    with contextlib.suppress(Exception):
        from harness.chaos import nft

        nft.sweep_stale()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m harness.chaos.driver PLAN.json", file=sys.stderr)
        return 2
    return asyncio.run(run_driver(Path(args[0])))


if __name__ == "__main__":
    sys.exit(main())
