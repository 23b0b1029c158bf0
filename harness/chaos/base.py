"""The fault interface: typed parameters with units, apply, idempotent revert, a registry by name.

A fault is one small class in its own module under :mod:`harness.chaos.faults`; what it
is (name, kind, summary, parameters and flags) is its :class:`~harness.config.faults.FaultSpec`
in :mod:`harness.config.faults`, where a scenario is checked without importing this package::

    @register
    class CpuQuota(Fault):
        spec = CPU_QUOTA  # fills name, kind, summary, Params, needs_pid, ... (see Fault)

        @classmethod
        def unsupported(cls) -> str | None: ...     # None when this machine can apply it
        def apply(self, ctx: ChaosContext) -> None: ...
        def revert(self, ctx: ChaosContext) -> None: ...  # idempotent; safe after a failed apply

Rules every fault keeps:
- ``revert`` puts back exactly what ``apply`` changed, can be called any number of times,
  and must work after a partial ``apply`` or none at all.
- Only soft rlimits are changed (hard ones cannot be raised again here).
- A fault acts only on ``ctx.target_pid`` (or ``ctx.target_cgroup``), never by process name.
  The target is the process tree under that PID (:meth:`ChaosContext.require_tree`): the
  embedded target with ``processes > 1`` is a parent and its server processes, so a fault
  that stops, limits or moves the target does so to every process of the tree.
- Background work (duty cycling, hogs, ballast) is bounded in time and stops in ``revert``.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psutil

from harness.config.faults import FAULT_SPECS, FaultSpec, NoParams
from harness.errors import HarnessError
from harness.processes import refusal


class ChaosError(HarnessError):
    """A fault could not be applied or reverted, or may not act on the given target."""


@dataclass
class ChaosContext:
    """What faults act on. Built by the chaos driver for one run.

    Attributes:
        target_pid: the target process (None: no process known, e.g. a bare URL).
        target_cgroup: an existing cgroup directory of an external target, if given.
        proxy: the chaos proxy in front of the target (a
            :class:`harness.chaos.proxy.server.ChaosProxy`), when a network fault is scheduled.
        restart: restarts the target and returns its new PID (None: cannot restart).
        run_dir: the run directory (faults may put scratch files there).
        protected_pids: processes that must never be touched (the harness's own).
        on_pid_change: called with the new PID after a restart.
    """

    target_pid: int | None
    run_dir: Path
    target_cgroup: Path | None = None
    proxy: Any = None
    restart: Callable[[], int] | None = None
    protected_pids: frozenset[int] = frozenset()
    on_pid_change: Callable[[int], None] | None = None

    def require_pid(self, fault: str) -> int:
        """The target PID, checked to be one the harness may act on."""
        if self.target_pid is None:
            raise ChaosError(f"{fault}: needs a target process (embedded target, or target.pid)")
        check_target_pid(self.target_pid, self.protected_pids)
        return self.target_pid

    def require_tree(self, fault: str) -> list[int]:
        """The target PID (checked as by :meth:`require_pid`) and its descendants, parent first."""
        return process_tree(self.require_pid(fault))

    def require_proxy(self, fault: str) -> Any:
        if self.proxy is None:
            raise ChaosError(f"{fault}: needs the chaos proxy, which is not running")
        return self.proxy


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists (ours to signal or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, parent first (``[pid]`` when they cannot be listed)."""
    try:
        return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return [pid]


def check_target_pid(pid: int, protected: frozenset[int] = frozenset()) -> None:
    """Refuse what :func:`harness.processes.refusal` refuses: PID 1, the harness's own
    processes, its ancestors and session, other users' processes, processes we may not signal.

    Raises:
        ChaosError: the reason.
    """
    reason = refusal(pid, protected=protected)
    if reason is not None:
        raise ChaosError(f"refusing to act on PID {pid}: {reason}")


#: The class attributes a fault takes from its spec (attribute -> FaultSpec field).
SPEC_ATTRIBUTES: Mapping[str, str] = {
    "name": "name",
    "kind": "kind",
    "summary": "summary",
    "Params": "params",
    "needs_pid": "needs_pid",
    "needs_proxy": "needs_proxy",
    "instant": "instant",
    "disruptive": "disruptive",
}


class Fault(ABC):
    """One kind of fault. Subclasses set ``spec`` and implement ``apply`` and ``revert``.

    A subclass that sets ``spec`` gets the class attributes below from it (see
    :class:`~harness.config.faults.FaultSpec` for their meaning) and may not set them
    itself; a subclass without one (e.g. :class:`harness.chaos.nft.PortRuleFault`) is a
    shared base for faults that do.
    """

    spec: ClassVar[FaultSpec]
    name: ClassVar[str]
    kind: ClassVar[str]  # one of harness.config.faults.FAULT_KINDS
    Params: ClassVar[type[Any]] = NoParams
    needs_proxy: ClassVar[bool] = False
    needs_pid: ClassVar[bool] = True
    disruptive: ClassVar[bool] = False
    summary: ClassVar[str] = ""
    instant: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is None:
            return
        if doubled := [a for a in SPEC_ATTRIBUTES if a in cls.__dict__]:
            raise TypeError(f"{cls.__name__}: {', '.join(doubled)} come from its spec")
        for attr, spec_field in SPEC_ATTRIBUTES.items():
            setattr(cls, attr, getattr(spec, spec_field))

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()

    @classmethod
    def unsupported(cls) -> str | None:
        """None when this machine can apply the fault; else the reason it cannot."""
        return None

    @abstractmethod
    def apply(self, ctx: ChaosContext) -> None:
        """Start the fault. Raise :class:`ChaosError` with a reason if it cannot."""

    @abstractmethod
    def revert(self, ctx: ChaosContext) -> None:
        """Undo everything ``apply`` did; idempotent; must not raise for "already reverted"."""

    def describe(self) -> str:
        """``name(param=value unit, ...)`` for logs and reports."""
        parts = []
        for f in dataclasses.fields(self.params):
            unit = f.metadata.get("unit", "")
            parts.append(f"{f.name}={getattr(self.params, f.name)}{(' ' + unit) if unit else ''}")
        return f"{self.name}({', '.join(parts)})"


REGISTRY: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: make a fault available by its ``name``.

    Raises:
        ValueError: the class has no spec of :data:`~harness.config.faults.FAULT_SPECS`,
            or another class has its name already.
    """
    spec = cls.__dict__.get("spec")
    if spec is None or FAULT_SPECS.get(spec.name) is not spec:
        raise ValueError(f"{cls.__name__}: spec must be one of harness.config.faults.FAULT_SPECS")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"fault name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls
