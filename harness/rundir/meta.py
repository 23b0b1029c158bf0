"""``meta.json``: one documented, versioned shape, whoever writes it (a run, the Locust route,
the doctor), always written atomically.

Shape (``schema_version`` 1)::

    {
      "schema_version": 1,
      "run_id": str, "scenario": str, "scenario_file": str | null,
      "route": "harness run" | "harness master" | "locust" | "locust web ui" | "doctor",
      "command": str,                    # the command line, secrets redacted
      "started_at": epoch s | null,      # the timeline's zero: chaos "at" counts from here
      "ended_at": epoch s | null,        # null while running, or when the run was killed
      "duration_planned_s": s | null,
      "complete": bool,                  # the planned duration ran to its end
      "stop_reason": str | null,         # why the load stopped, e.g. "planned duration", "SIGTERM"
      "interrupted_by": str | null,      # a signal or shutdown cut the run (exit 130)
      "target_url": str | null, "target_pid": int | null,
      "attempts": int | null,            # records written
      "target_exit": {"at": epoch s, "pid": int, "how": str} | null,
                                         # the target died during the run (not by chaos)
      "workers": [{"id": "w1", "client_id": str, "records": int, "made": int,
                   "state": "flushed" | "lost" | "running", "lost_at": epoch s | null,
                   "lost_how": str | null, "lost_at_least": int | null,
                   "pid": int | null}, ...],
                                         # a distributed run's workers ([]: one process)
      "generator": {"processes": int, "peak_open": int, "rss_mb_at_peak": MB,
                    "rss_mb_idle": MB, "rss_mb_max": MB, "kb_per_open": KB | null,
                    "cpu_share_median": share | null, "cpu_share_max": share | null} | null,
                                         # the load generator's own footprint (all workers)
      "versions": {package: version}, "machine": {"platform": str, "cpus": int}
    }

A file written by an older harness (no ``schema_version``) reads as version 1 with the
missing keys at their defaults; unknown keys are ignored.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import RunDirError
from harness.numbers import finite
from harness.rundir.layout import META, read_json_object, write_json_atomic

META_SCHEMA_VERSION = 1

#: Packages whose versions a run records.
VERSIONED_PACKAGES: tuple[str, ...] = (
    "locust",
    "websockets",
    "python-socketio",
    "h11",
    "orjson",
    "pyjwt",
    "pandas",
    "matplotlib",
)

#: How the run was started.
ROUTES: tuple[str, ...] = ("harness run", "harness master", "locust", "locust web ui", "doctor")


def versions() -> dict[str, str]:
    """The harness's, Python's and the core packages' versions (without importing them)."""
    out = {"harness": __version__, "python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def machine() -> dict[str, Any]:
    """The platform string and CPU count of this machine."""
    return {"platform": platform.platform(), "cpus": os.cpu_count() or 0}


@dataclass(frozen=True)
class TargetExit:
    """The target process died during the run (and no chaos fault killed it).

    Attributes:
        at: when the harness saw it gone (epoch s).
        pid: the process.
        how: e.g. ``"killed by SIGKILL"``, ``"exited with status 1"``, ``"gone (not a child
            of the harness: exit status unknown)"``.
    """

    at: float
    pid: int
    how: str


@dataclass(frozen=True)
class RunWorker:
    """One worker of a distributed run, as the master accounted for it.

    Attributes:
        id: its short id (``w1``...), the records' ``worker`` field.
        client_id: Locust's id of it (host name and a random part).
        records: its records the master received (each written once).
        made: the records it said it had made (its last batch or stats report).
        state: ``flushed`` (its final batch came), ``lost`` (it vanished before), or
            ``running`` (the master was killed before the end).
        lost_at: when the master saw it vanish (epoch s), or None.
        lost_how: how it vanished, e.g. ``"killed by SIGKILL"``, ``"stopped sending
            heartbeats"``; None unless lost.
        lost_at_least: attempts it made that never reached the master (a lower bound: what
            it made after its last report is unknown); None unless lost.
        pid: its process id on its machine (None: it never reported one).
    """

    id: str
    client_id: str = ""
    records: int = 0
    made: int = 0
    state: str = "flushed"
    lost_at: float | None = None
    lost_how: str | None = None
    lost_at_least: int | None = None
    pid: int | None = None


@dataclass(frozen=True)
class GeneratorFootprint:
    """The load generator's own footprint over the run (every worker's, summed).

    Attributes:
        processes: load-generating processes (1, or the workers).
        peak_open: the most WebSocket sessions it held open at one sample.
        rss_mb_at_peak: its memory (RSS, MB) at that sample.
        rss_mb_idle: its memory before the first user.
        rss_mb_max: its largest memory sampled.
        kb_per_open: (RSS at the peak - idle RSS) / sessions open at the peak, KB; what one
            held connection costs the generator; None: fewer than 100 sessions were open
            at the peak (the growth would be the process's own, not the connections').
        cpu_share_median: the median share of one core each load-generating process used,
            over the one-second samples with sessions open (1.0: a process saturated its
            core, so the load it offered was its own limit); null: fewer than 3 samples.
        cpu_share_max: the largest such share of one sample.
    """

    processes: int = 1
    peak_open: int = 0
    rss_mb_at_peak: float = 0.0
    rss_mb_idle: float = 0.0
    rss_mb_max: float = 0.0
    kb_per_open: float | None = None
    cpu_share_median: float | None = None
    cpu_share_max: float | None = None


@dataclass
class RunMeta:
    """The content of ``meta.json`` (see the module docstring for every key)."""

    run_id: str
    scenario: str
    route: str
    command: str = ""
    scenario_file: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    duration_planned_s: float | None = None
    complete: bool = False
    stop_reason: str | None = None
    interrupted_by: str | None = None
    target_url: str | None = None
    target_pid: int | None = None
    attempts: int | None = None
    target_exit: TargetExit | None = None
    workers: list[RunWorker] = field(default_factory=list)
    generator: GeneratorFootprint | None = None
    versions: dict[str, str] = field(default_factory=versions)
    machine: dict[str, Any] = field(default_factory=machine)
    schema_version: int = META_SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, **asdict(self)}

    def write(self, run_dir: Path) -> None:
        """Write ``run_dir/meta.json`` atomically (a reader never sees half of it)."""
        write_json_atomic(run_dir / META, self.to_dict())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunMeta:
        """A meta from a parsed ``meta.json``, tolerant of older and damaged files."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in raw.items() if k in known}
        for key in ("started_at", "ended_at", "duration_planned_s"):
            kw[key] = finite(kw.get(key))
        for key in ("target_pid", "attempts"):
            value = finite(kw.get(key))
            kw[key] = None if value is None else int(value)
        for key in ("run_id", "scenario", "route", "command"):
            kw[key] = str(kw.get(key) or "")
        for key in ("scenario_file", "stop_reason", "interrupted_by", "target_url"):
            kw[key] = None if kw.get(key) is None else str(kw[key])
        kw["complete"] = kw.get("complete") is True
        kw["target_exit"] = _target_exit(kw.get("target_exit"))
        kw["generator"] = _generator(kw.get("generator"))
        raw_workers = kw.get("workers")
        kw["workers"] = [
            w for w in map(_worker, raw_workers if isinstance(raw_workers, list) else ()) if w
        ]
        given = kw.get("versions")
        kw["versions"] = (
            {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
        )
        kw["machine"] = dict(kw["machine"]) if isinstance(kw.get("machine"), dict) else {}
        version = finite(kw.get("schema_version"))
        kw["schema_version"] = META_SCHEMA_VERSION if version is None else int(version)
        return cls(**kw)


def _target_exit(raw: Any) -> TargetExit | None:
    if not isinstance(raw, dict):
        return None
    at, pid = finite(raw.get("at")), finite(raw.get("pid"))
    if at is None or pid is None:
        return None
    return TargetExit(at=at, pid=int(pid), how=str(raw.get("how") or "gone"))


def _generator(raw: Any) -> GeneratorFootprint | None:
    if not isinstance(raw, dict):
        return None
    nums = {k: finite(raw.get(k)) for k in (f.name for f in fields(GeneratorFootprint))}
    return GeneratorFootprint(
        processes=int(nums["processes"] or 1),
        peak_open=int(nums["peak_open"] or 0),
        rss_mb_at_peak=nums["rss_mb_at_peak"] or 0.0,
        rss_mb_idle=nums["rss_mb_idle"] or 0.0,
        rss_mb_max=nums["rss_mb_max"] or 0.0,
        kb_per_open=nums["kb_per_open"],
        cpu_share_median=nums["cpu_share_median"],
        cpu_share_max=nums["cpu_share_max"],
    )


def _worker(raw: Any) -> RunWorker | None:
    if not isinstance(raw, dict) or not raw.get("id"):
        return None
    counts = {k: finite(raw.get(k)) for k in ("records", "made", "lost_at_least", "pid")}
    how = raw.get("lost_how")
    return RunWorker(
        id=str(raw["id"]),
        client_id=str(raw.get("client_id") or ""),
        records=int(counts["records"] or 0),
        made=int(counts["made"] or 0),
        state=str(raw.get("state") or "flushed"),
        lost_at=finite(raw.get("lost_at")),
        lost_how=None if how is None else str(how),
        lost_at_least=None if counts["lost_at_least"] is None else int(counts["lost_at_least"]),
        pid=None if counts["pid"] is None else int(counts["pid"]),
    )


def read_meta(run_dir: Path) -> RunMeta:
    """The run's ``meta.json``.

    Raises:
        RunDirError: the directory or its ``meta.json`` is missing or unreadable.
    """
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (does not exist)")
    path = run_dir / META
    if not path.exists():
        raise RunDirError(f"{run_dir}: not a run directory (no {META})")
    return RunMeta.from_dict(read_json_object(path))
