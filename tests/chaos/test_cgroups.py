"""Tests of harness.chaos.cgroups: pure parsing, and real child groups where this machine allows."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.chaos import cgroups
from harness.chaos.base import ChaosError
from harness.chaos.cgroups import CgroupHandle, Hierarchy, find_hierarchy, parse_mountinfo
from tests.conftest import scaled

V1 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 /docker/abc /sys/fs/cgroup/cpu\\040x ro,relatime - cgroup cgroup ro,cpuacct,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
"""
V2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
PROC_CGROUP = "4:memory:/process_api/x\n2:cpuacct,cpu:/a/b\n1:name=systemd:/\n0::/user.slice/s\n"


# Pure parsing -------------------------------------------------------------------------------


def test_parse_mountinfo_v1() -> None:
    hs = parse_mountinfo(V1)
    assert [h.mount.name for h in hs] == ["cpu", "memory", "cpu x", "systemd"]
    cpu, mem, ro, systemd = hs
    assert (cpu.version, cpu.root, cpu.read_only) == (1, "/", False)
    assert cpu.controllers == frozenset({"cpu"})
    assert mem.controllers == {"memory"}
    assert (ro.root, ro.read_only) == ("/docker/abc", True)
    assert ro.controllers == frozenset({"cpu", "cpuacct"})
    assert systemd.controllers == frozenset()  # name=systemd binds no controller


def test_parse_mountinfo_v2() -> None:
    (h,) = parse_mountinfo(V2)
    assert (h.version, h.mount, h.root, h.read_only) == (2, Path("/sys/fs/cgroup"), "/", False)


def test_group_path_and_dir() -> None:
    v1 = Hierarchy(1, Path("/cg/cpu"), "/a", frozenset({"cpu", "cpuacct"}))
    assert v1.group_path_in(PROC_CGROUP) == "/a/b"
    assert v1.dir_of("/a/b") == Path("/cg/cpu/b")
    assert v1.dir_of("/a") == Path("/cg/cpu")
    assert v1.dir_of("/ab") is None  # outside the mount's root
    v2 = Hierarchy(2, Path("/cg"))
    assert v2.group_path_in(PROC_CGROUP) == "/user.slice/s"
    assert v2.dir_of("/") == Path("/cg")


def test_find_hierarchy_prefers_v2_with_the_controller(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    text = f"1 0 0:1 / {tmp_path} rw - cgroup2 cgroup2 rw\n" + V1
    h = find_hierarchy("cpu", text)
    assert (h.version, h.mount, "memory" in h.controllers) == (2, tmp_path, True)


def test_find_hierarchy_falls_back_to_v1_and_explains(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("\n")  # like /sys/fs/cgroup/unified here
    text = f"1 0 0:1 / {tmp_path} rw - cgroup2 cgroup2 rw\n" + V1
    assert find_hierarchy("memory", text).mount == Path("/sys/fs/cgroup/memory")
    with pytest.raises(ChaosError, match=r"pids .*offers none.*no cgroup v1 hierarchy has pids"):
        find_hierarchy("pids", text)
    with pytest.raises(ChaosError, match="no cgroup filesystem"):
        find_hierarchy("cpu", "")


def test_placement_v1_inside_v2_next_to() -> None:
    v1, v2 = Hierarchy(1, Path("/cg/cpu")), Hierarchy(2, Path("/cg"))
    assert cgroups.placement(v1, Path("/cg/cpu/a/b")) == Path("/cg/cpu/a/b")
    assert cgroups.placement(v2, Path("/cg/a/b")) == Path("/cg/a")  # no internal processes
    assert cgroups.placement(v2, Path("/cg")) == Path("/cg")


def fake_v2_tree(root: Path, delegated: dict[str, str]) -> None:
    """Directories with cgroup.controllers / cgroup.subtree_control as plain files."""
    for rel, ctrls in delegated.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel / "cgroup.controllers").write_text(ctrls + "\n")
        (root / rel / "cgroup.subtree_control").write_text("cpu\n" if rel == "a" else "\n")


def test_v2_enable_down_the_tree_and_undo(tmp_path: Path) -> None:
    fake_v2_tree(tmp_path, {".": "cpu memory", "a": "cpu", "a/b": "cpu"})
    enabled = cgroups.enable_controller(tmp_path, tmp_path / "a" / "b", "cpu")
    assert enabled == (tmp_path, tmp_path / "a" / "b")  # "a" had it already
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    assert (tmp_path / "a/b/cgroup.subtree_control").read_text() == "+cpu"
    (tmp_path / "harness-1-0badf00d").mkdir()  # another harness group still uses the root
    cgroups.disable_controller(enabled, "cpu")
    assert (tmp_path / "a/b/cgroup.subtree_control").read_text() == "-cpu"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
    assert (tmp_path / "a/cgroup.subtree_control").read_text() == "cpu\n"


def test_v2_enable_not_delegated_undoes_what_it_did(tmp_path: Path) -> None:
    fake_v2_tree(tmp_path, {".": "cpu", "x": "cpu", "x/y": "memory"})
    with pytest.raises(ChaosError, match=r"cpu controller is not delegated to .*/x/y"):
        cgroups.enable_controller(tmp_path, tmp_path / "x" / "y", "cpu")
    assert (tmp_path / "cgroup.subtree_control").read_text() == "-cpu"
    assert (tmp_path / "x/cgroup.subtree_control").read_text() == "-cpu"


# Real groups --------------------------------------------------------------------------------

needs_cpu_cgroup = pytest.mark.skipif(
    cgroups.unsupported("cpu") is not None,
    reason=f"cpu cgroup unavailable: {cgroups.unsupported('cpu')}",
)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", str(scaled(60))], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=scaled(5))


@needs_cpu_cgroup
def test_create_add_move_back_remove(sleeper: subprocess.Popen[bytes]) -> None:
    origin = cgroups.cgroup_of(sleeper.pid, "cpu")
    group = CgroupHandle.create("cpu", for_pid=sleeper.pid)
    try:
        assert cgroups.GROUP_NAME.match(group.path.name)
        assert group.path.name.startswith(f"harness-{os.getpid()}-")
        assert group.path.is_dir()
        if group.version == 2:
            group.write("cpu.max", "30000 100000")
            assert group.read("cpu.max") == "30000 100000"
        else:
            group.write("cpu.cfs_quota_us", "30000")
            assert group.read("cpu.cfs_quota_us") == "30000"
        with pytest.raises(ChaosError, match="cannot write"):
            group.write("no.such.file", "1")
        group.add(sleeper.pid)
        assert cgroups.cgroup_of(sleeper.pid, "cpu") == group.path
        assert group.pids() == [sleeper.pid]
    finally:
        group.remove()
    assert cgroups.cgroup_of(sleeper.pid, "cpu") == origin
    assert not group.path.exists()
    group.remove()  # idempotent
    assert group.pids() == []


@needs_cpu_cgroup
def test_remove_after_member_died(sleeper: subprocess.Popen[bytes]) -> None:
    group = CgroupHandle.create("cpu", for_pid=sleeper.pid)
    try:
        group.add(sleeper.pid)
        sleeper.kill()
        sleeper.wait(timeout=scaled(5))
        assert group.restore(sleeper.pid) is False
    finally:
        group.remove()
    assert not group.path.exists()
    with pytest.raises(ChaosError, match="no such process"):
        group.add(sleeper.pid)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait(timeout=scaled(5))
    return proc.pid


@needs_cpu_cgroup
def test_sweep_stale_removes_only_empty_groups_of_dead_creators(
    sleeper: subprocess.Popen[bytes],
) -> None:
    mount = find_hierarchy("cpu").mount
    dead = _dead_pid()
    stale = mount / f"harness-{dead}-deadbeef"
    live = mount / f"harness-{os.getpid()}-cafebabe"
    busy = mount / f"harness-{dead}-0badf00d"
    other = mount / f"harnessy-{dead}-deadbeef"
    made: list[Path] = []
    try:
        for d in (stale, live, busy, other):
            d.mkdir()
            made.append(d)
        (busy / "cgroup.procs").write_text(str(sleeper.pid))
        removed = cgroups.sweep_stale("cpu")
        assert stale in removed
        assert not stale.exists()
        assert live.is_dir() and busy.is_dir() and other.is_dir()
        assert {live, busy, other}.isdisjoint(removed)
    finally:
        with contextlib.suppress(OSError):
            (mount / "cgroup.procs").write_text(str(sleeper.pid))
        for d in made:
            with contextlib.suppress(FileNotFoundError):
                d.rmdir()


def test_sweep_stale_without_controller_is_a_no_op() -> None:
    assert cgroups.sweep_stale("no-such-controller") == []
