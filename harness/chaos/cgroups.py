"""Cgroup helpers for the cgroup faults: find a controller, make a child group, move PIDs.

Both cgroup versions are supported, detected at run time from ``/proc/self/mountinfo``: v2 (one
unified hierarchy; ``cpu.max``, ``memory.max``) when the controller is available there, else the
v1 hierarchy the controller is bound to (``cpu.cfs_quota_us``, ``memory.limit_in_bytes``)::

    group = CgroupHandle.create("cpu", for_pid=pid)   # harness-<our pid>-<8 hex digits>
    try:
        group.write("cpu.max", "20000 100000")         # v2; v1: cpu.cfs_quota_us
        group.add(pid)                                 # the whole process, all its threads
        ...
    finally:
        group.remove()                                 # members go back where they came from

Where the group goes, with ``for_pid``:
- v1: inside the group the process is in, so that group's own limits still apply on top.
- v2: next to it, since the "no internal processes" rule forbids controllers in the children of
  a populated group (inside the root when the process is in the root). Where the controller is
  not enabled in ``cgroup.subtree_control`` on the way down from the root to that parent, it is
  enabled, and disabled again (deepest first, best effort) by :meth:`CgroupHandle.remove` unless
  another ``harness-*`` group still sits there.

A handle remembers where each PID came from; it moves a PID back only while the PID is still in
its group (a PID another fault or the user moved elsewhere stays where it is). Processes the
target forks after ``add`` start in the group; children forked before stay outside.
:func:`sweep_stale` removes empty ``harness-*`` groups whose creator is gone (a SIGKILLed run).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.chaos.base import ChaosError, pid_alive

MOUNTINFO = Path("/proc/self/mountinfo")
PREFIX = "harness"
#: ``harness-<creator pid>-<8 hex digits>``
GROUP_NAME = re.compile(rf"^{PREFIX}-(\d+)-[0-9a-f]{{8}}$")
#: how long :meth:`CgroupHandle.remove` retries ``rmdir`` while exiting members leave (s)
RMDIR_TIMEOUT_S = 2.0
#: :func:`sweep_stale` visits at most this many directories, this deep below the mount
SWEEP_MAX_DIRS = 10_000
SWEEP_MAX_DEPTH = 8

_NOT_CONTROLLERS = frozenset({"rw", "ro", "none", "noprefix", "xattr", "clone_children"})


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy.

    Attributes:
        version: 1 or 2.
        mount: where it is mounted, e.g. ``/sys/fs/cgroup/cpu``.
        root: the path inside the hierarchy the mount shows (``/``, or a sub-path in some
            containers); ``/proc/PID/cgroup`` paths are relative to the hierarchy.
        controllers: v1: the controllers bound to it (mount options); v2: those listed in the
            mount's ``cgroup.controllers`` (empty when parsed without reading files).
        read_only: mounted ``ro``.
    """

    version: int
    mount: Path
    root: str = "/"
    controllers: frozenset[str] = frozenset()
    read_only: bool = False

    def dir_of(self, cgroup_path: str) -> Path | None:
        """The directory of a ``/proc/PID/cgroup`` path, or None when outside this mount."""
        root = self.root.rstrip("/")
        if cgroup_path != root and not cgroup_path.startswith(root + "/"):
            return None
        rel = cgroup_path[len(root) :].strip("/")
        return self.mount / rel if rel else self.mount

    def group_path_in(self, proc_cgroup: str) -> str | None:
        """This hierarchy's line of a ``/proc/PID/cgroup`` text: the group path, or None."""
        for line in proc_cgroup.splitlines():
            hid, _, rest = line.partition(":")
            ctrls, _, path = rest.partition(":")
            if self.version == 2 and hid == "0" and ctrls == "":
                return path
            if self.version == 1 and self.controllers & set(ctrls.split(",")):
                return path
        return None


def _unescape(s: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` is a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), s)


def parse_mountinfo(text: str) -> list[Hierarchy]:
    """The cgroup hierarchies of a ``/proc/PID/mountinfo`` text (pure; v2 controllers empty)."""
    out: list[Hierarchy] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if not sep or len(f) < 6 or len(r) < 3 or r[0] not in ("cgroup", "cgroup2"):
            continue
        super_opts = r[2].split(",")
        ro = "ro" in f[5].split(",") or "ro" in super_opts
        ctrls = frozenset(o for o in super_opts if o not in _NOT_CONTROLLERS and "=" not in o)
        version = 2 if r[0] == "cgroup2" else 1
        mount = Path(_unescape(f[4]))
        if any(h.mount == mount for h in out):
            continue
        out.append(
            Hierarchy(version, mount, _unescape(f[3]), ctrls if version == 1 else frozenset(), ro)
        )
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def find_hierarchy(controller: str, mountinfo: str | None = None) -> Hierarchy:
    """The hierarchy to use for ``controller``: v2 if it offers it, else the v1 one bound to it.

    Raises:
        ChaosError: no mounted hierarchy has the controller (the message says what was found).
    """
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    found = parse_mountinfo(text)
    v2_seen: list[str] = []
    for h in found:
        if h.version == 2:
            offered = frozenset(_read(h.mount / "cgroup.controllers").split())
            if controller in offered:
                return Hierarchy(2, h.mount, h.root, offered, h.read_only)
            v2_seen.append(f"cgroup v2 at {h.mount} offers {' '.join(sorted(offered)) or 'none'}")
    for h in found:
        if h.version == 1 and controller in h.controllers:
            return h
    if not found:
        raise ChaosError("no cgroup filesystem is mounted (see /proc/self/mountinfo)")
    seen = "; ".join([*v2_seen, f"no cgroup v1 hierarchy has {controller}"])
    raise ChaosError(f"the {controller} cgroup controller is not available: {seen}")


def unsupported(controller: str = "cpu") -> str | None:
    """None when a child group of ``controller`` can be made here; else the reason."""
    if os.geteuid() != 0:
        return f"cgroup {controller} faults need root (running as uid {os.geteuid()})"
    try:
        h = find_hierarchy(controller)
    except (ChaosError, OSError) as e:
        return str(e)
    if h.read_only:
        return f"the cgroup hierarchy at {h.mount} is mounted read-only"
    if not os.access(h.mount, os.W_OK):
        return f"the cgroup hierarchy at {h.mount} is not writable"
    return None


def group_of(pid: int, hierarchy: Hierarchy) -> Path:
    """The directory of the group ``pid`` is in, in ``hierarchy``.

    Raises:
        ProcessLookupError: the process does not exist.
        ChaosError: its group is not visible through this mount.
    """
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessLookupError(pid) from None
    path = hierarchy.group_path_in(text)
    where = hierarchy.dir_of(path) if path is not None else None
    if where is None:
        raise ChaosError(f"the cgroup of PID {pid} ({path}) is outside {hierarchy.mount}")
    return where


def cgroup_of(pid: int, controller: str = "cpu") -> Path:
    """The directory of the ``controller`` group ``pid`` is in (see :func:`group_of`)."""
    return group_of(pid, find_hierarchy(controller))


def _write(path: Path, value: str) -> None:
    with path.open("w") as f:
        f.write(value)


def placement(hierarchy: Hierarchy, origin: Path) -> Path:
    """Where a group for a process now in ``origin`` goes: v1 inside it; v2 next to it."""
    if hierarchy.version == 1 or origin == hierarchy.mount:
        return origin
    return origin.parent


def _enable_one(d: Path, controller: str) -> bool:
    """Enable a v2 controller for the children of ``d``; True when this call enabled it."""
    if controller in _read(d / "cgroup.subtree_control").split():
        return False
    if controller not in _read(d / "cgroup.controllers").split():
        raise ChaosError(f"the {controller} controller is not delegated to {d}")
    try:
        _write(d / "cgroup.subtree_control", f"+{controller}")
    except OSError as e:
        why = " (processes live there)" if e.errno == errno.EBUSY else ""
        raise ChaosError(f"cannot enable {controller} in {d}: {e.strerror}{why}") from None
    return True


def enable_controller(mount: Path, parent: Path, controller: str) -> tuple[Path, ...]:
    """Enable a v2 controller for the children of ``parent`` and of each group above it.

    Returns the groups where this call enabled it, top first (undone by :func:`disable_controller`).
    """
    parts = parent.relative_to(mount).parts
    enabled: list[Path] = []
    try:
        for d in (mount.joinpath(*parts[:i]) for i in range(len(parts) + 1)):
            if _enable_one(d, controller):
                enabled.append(d)
    except ChaosError:
        disable_controller(enabled, controller)
        raise
    return tuple(enabled)


def disable_controller(enabled: Sequence[Path], controller: str) -> None:
    """Undo :func:`enable_controller`, deepest first, where no ``harness-*`` group is left
    (best effort)."""
    for d in reversed(enabled):
        with contextlib.suppress(OSError):
            if not any(GROUP_NAME.match(c.name) for c in d.iterdir() if c.is_dir()):
                _write(d / "cgroup.subtree_control", f"-{controller}")


@dataclass
class CgroupHandle:
    """A child group this process made; :meth:`remove` takes it away again (idempotent)."""

    controller: str
    hierarchy: Hierarchy
    path: Path
    #: v2: the groups where :meth:`create` enabled the controller (disabled again on remove)
    enabled_in: tuple[Path, ...] = ()
    _origins: dict[int, Path] = field(default_factory=dict, repr=False)

    @classmethod
    def create(cls, controller: str = "cpu", *, for_pid: int | None = None) -> CgroupHandle:
        """Make ``harness-<our pid>-<random>`` for ``controller``, placed for ``for_pid``.

        Raises:
            ChaosError: no usable hierarchy, or the group cannot be made (reason in the message).
        """
        h = find_hierarchy(controller)
        try:
            parent = h.mount if for_pid is None else placement(h, group_of(for_pid, h))
        except ProcessLookupError:
            raise ChaosError(f"cannot place a cgroup for PID {for_pid}: no such process") from None
        enabled = enable_controller(h.mount, parent, controller) if h.version == 2 else ()
        path = parent / f"{PREFIX}-{os.getpid()}-{secrets.token_hex(4)}"
        group = cls(controller, h, path, enabled)
        try:
            path.mkdir()
        except OSError as e:
            group.remove()
            raise ChaosError(f"cannot create cgroup {path}: {e.strerror}") from None
        return group

    @property
    def version(self) -> int:
        return self.hierarchy.version

    def write(self, file: str, value: str) -> None:
        """Write ``value`` to the group's ``file``, e.g. ``write("cpu.max", "20000 100000")``."""
        try:
            _write(self.path / file, value)
        except OSError as e:
            raise ChaosError(
                f"cannot write {value!r} to {self.path / file}: {e.strerror}"
            ) from None

    def read(self, file: str) -> str:
        """The content of the group's ``file``, stripped."""
        return (self.path / file).read_text().strip()

    def pids(self) -> list[int]:
        """The processes in the group (empty once removed)."""
        return [int(p) for p in _read(self.path / "cgroup.procs").split()]

    def add(self, pid: int) -> None:
        """Move the process ``pid`` (all its threads) into the group, remembering its origin."""
        try:
            self._origins.setdefault(pid, group_of(pid, self.hierarchy))
        except ProcessLookupError:
            raise ChaosError(f"cannot move PID {pid} into {self.path}: no such process") from None
        self.write("cgroup.procs", str(pid))

    def restore(self, pid: int) -> bool:
        """Move ``pid`` back where it came from; False when it is gone or no longer in the group.

        Falls back to the group's parent, then the hierarchy root, if its origin is gone.
        """
        origin = self._origins.pop(pid, None)
        try:
            if group_of(pid, self.hierarchy) != self.path:
                return False
        except ProcessLookupError:
            return False
        for dest in dict.fromkeys(d for d in (origin, self.path.parent, self.hierarchy.mount) if d):
            try:
                _write(dest / "cgroup.procs", str(pid))
                return True
            except ProcessLookupError:
                return False
            except OSError:
                continue
        raise ChaosError(f"cannot move PID {pid} out of {self.path}")

    def remove(self) -> None:
        """Move every member out (see :meth:`restore`) and delete the group; idempotent."""
        deadline = time.monotonic() + RMDIR_TIMEOUT_S
        while self.path.exists():
            for pid in self.pids():
                self.restore(pid)
            try:
                self.path.rmdir()
            except FileNotFoundError:
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise ChaosError(f"cannot remove cgroup {self.path}: {e.strerror}") from None
                time.sleep(0.05)
        self._origins.clear()
        enabled, self.enabled_in = self.enabled_in, ()
        disable_controller(enabled, self.controller)


def sweep_stale(controller: str = "cpu") -> list[Path]:
    """Remove empty ``harness-<pid>-*`` groups of ``controller`` whose creator PID is dead.

    Groups of live creators, groups with members, and other names are left alone. Visits at
    most :data:`SWEEP_MAX_DIRS` directories. Returns the groups removed.
    """
    try:
        h = find_hierarchy(controller)
    except (ChaosError, OSError):
        return []
    removed: list[Path] = []
    stack, visited = [(h.mount, 0)], 0
    while stack and visited < SWEEP_MAX_DIRS:
        d, depth = stack.pop()
        visited += 1
        try:
            subdirs = [Path(e.path) for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for sub in subdirs:
            m = GROUP_NAME.match(sub.name)
            if m is None:
                if depth < SWEEP_MAX_DEPTH:
                    stack.append((sub, depth + 1))
            elif not pid_alive(int(m[1])) and not _read(sub / "cgroup.procs").strip():
                try:
                    sub.rmdir()
                    removed.append(sub)
                except OSError:
                    pass
    return removed
