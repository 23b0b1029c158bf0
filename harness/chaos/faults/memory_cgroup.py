"""A memory cgroup limit on the target: the kernel OOM-kills it, or it stalls at the limit.

Apply creates a child cgroup under the target's current memory cgroup, sets the limit,
and moves the target in: its whole process tree (the embedded target's server processes
too, with ``processes > 1``), so the limit is the tree's total. Mode ``kill``: the normal
OOM killer (v1 ``memory.limit_in_bytes``, v2 ``memory.max``). Mode ``stall``: v1
``memory.oom_control = 1`` (OOM killer off: a task at the limit sleeps in the page-fault
path until memory is freed or the limit is raised); v2 ``memory.high`` (heavy reclaim
throttling instead of a kill).

The limit counts memory the target is charged for *after* the move: pages it already
holds stay charged to its original group (charges do not move, v1 as v2).

Revert raises the limit first (a stalled target resumes), moves every task back to the
original group, then removes the child group.

The small cgroup helpers below are local until ``harness/chaos/cgroups.py`` exists; they
are meant to be merged into it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from harness.chaos.base import ChaosContext, ChaosError, Fault, pid_alive, register
from harness.config.faults import MEMORY_CGROUP, MemoryCgroupParams

MIB = 1024 * 1024  # bytes
GROUP_PREFIX = "harness_mem_"
RMDIR_TRIES = 50  # attempts to remove the group, RMDIR_PAUSE_S apart
RMDIR_PAUSE_S = 0.05  # seconds
MOVE_PASSES = 5  # passes moving tasks back (a task may fork meanwhile)


def memory_cgroup_of(pid: int | str) -> tuple[str, Path]:
    """Version ("v1" or "v2") and directory of the memory cgroup that ``pid`` is in."""
    rels: dict[str, str] = {}  # controller ("" for the v2 hierarchy) -> path in its hierarchy
    for line in Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii").splitlines():
        _, controllers, path = line.split(":", 2)
        rels.update(dict.fromkeys(controllers.split(","), path))
    mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
    for _, mnt, fstype, opts, *_ in mounts:
        if fstype == "cgroup" and "memory" in opts.split(",") and "memory" in rels:
            d = Path(mnt) / rels["memory"].lstrip("/")
            if (d / "memory.limit_in_bytes").exists():
                return "v1", d
    for _, mnt, fstype, *_ in mounts:
        if fstype == "cgroup2" and "" in rels:
            d = Path(mnt) / rels[""].lstrip("/")
            if "memory" in _read(d / "cgroup.controllers").split():
                return "v2", d
    raise ChaosError(f"no memory cgroup controller found for PID {pid}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


def _procs(group: Path) -> list[int]:
    return [int(x) for x in _read(group / "cgroup.procs").split()]


def sweep_stale(parent: Path) -> None:
    """Remove empty ``harness_mem_<pid>_*`` groups under ``parent`` whose creator is dead."""
    for d in parent.glob(f"{GROUP_PREFIX}*_*"):
        creator = d.name[len(GROUP_PREFIX) :].split("_")[0]
        if creator.isdigit() and not pid_alive(int(creator)) and not _procs(d):
            with contextlib.suppress(OSError):  # busy or gone: the next sweep tries again
                d.rmdir()


@register
class MemoryCgroup(Fault):
    """Move the target into a child memory cgroup limited to ``limit_mb``."""

    spec = MEMORY_CGROUP

    def __init__(self, params: MemoryCgroupParams | None = None) -> None:
        super().__init__(params)
        self._state: tuple[str, Path, Path] | None = None  # version, original dir, our group

    @classmethod
    def unsupported(cls) -> str | None:
        if os.geteuid() != 0:
            return "memory cgroup faults need root"
        try:
            version, here = memory_cgroup_of("self")
            probe = here / f"{GROUP_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
            probe.mkdir()
            try:
                limit_file = "memory.limit_in_bytes" if version == "v1" else "memory.max"
                if not (probe / limit_file).exists():
                    return f"the memory controller is not enabled for children of {here}"
            finally:
                probe.rmdir()
        except (ChaosError, OSError) as exc:
            return f"no writable memory cgroup controller: {exc}"
        return None

    def apply(self, ctx: ChaosContext) -> None:
        self.revert(ctx)
        p: MemoryCgroupParams = self.params
        pids = ctx.require_tree(self.name)
        pid = pids[0]
        limit = str(int(p.limit_mb * MIB))
        try:
            version, orig = memory_cgroup_of(pid)
            sweep_stale(orig)
            group = orig / f"{GROUP_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
            group.mkdir()
            self._state = (version, orig, group)
            if version == "v1":
                _write(group / "memory.limit_in_bytes", limit)
                _write(group / "memory.oom_control", "1" if p.mode == "stall" else "0")
            else:
                _write(group / ("memory.high" if p.mode == "stall" else "memory.max"), limit)
            _write(group / "cgroup.procs", str(pid))
            for child in pids[1:]:
                with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                    _write(group / "cgroup.procs", str(child))
        except (OSError, ChaosError) as exc:
            self.revert(ctx)
            raise ChaosError(f"{self.name}: cannot limit PID {pid}: {exc}") from None

    def revert(self, ctx: ChaosContext) -> None:
        if self._state is None:
            return
        version, orig, group = self._state
        try:
            if group.exists():
                if version == "v1":
                    _write(group / "memory.limit_in_bytes", "-1")
                else:
                    _write(group / "memory.high", "max")
                    _write(group / "memory.max", "max")
            for _ in range(MOVE_PASSES):
                tasks = _procs(group)
                if not tasks:
                    break
                for task in tasks:
                    with contextlib.suppress(ProcessLookupError):  # exited meanwhile
                        _write(orig / "cgroup.procs", str(task))
            for _ in range(RMDIR_TRIES):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(RMDIR_PAUSE_S)  # EBUSY: a task still leaving
            if group.exists():
                raise ChaosError(f"{self.name}: cgroup {group} could not be removed")
        except OSError as exc:
            raise ChaosError(f"{self.name}: revert failed on {group}: {exc}") from None
        self._state = None
