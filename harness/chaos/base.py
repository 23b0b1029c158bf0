"""The fault interface: typed parameters with units, apply, idempotent revert, a registry by name.

A fault is one small class in its own module under :mod:`harness.chaos.faults`::

    @dataclass(frozen=True)
    class CpuQuotaParams:
        percent: float = param(20.0, unit="%", low=1, high=800, doc="CPU share, 100 = one core")

    @register
    class CpuQuota(Fault):
        name = "cpu_quota"
        kind = "cpu"
        Params = CpuQuotaParams

        @classmethod
        def unsupported(cls) -> str | None: ...     # None when this machine can apply it
        def apply(self, ctx: ChaosContext) -> None: ...
        def revert(self, ctx: ChaosContext) -> None: ...  # idempotent; safe after a failed apply

Rules every fault keeps:
- ``revert`` puts back exactly what ``apply`` changed, can be called any number of times,
  and must work after a partial ``apply`` or none at all.
- Only soft rlimits are changed (hard ones cannot be raised again here).
- A fault acts only on ``ctx.target_pid`` (or ``ctx.target_cgroup``), never by process name.
- Background work (duty cycling, hogs, ballast) is bounded in time and stops in ``revert``.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import HarnessError


class ChaosError(HarnessError):
    """A fault could not be applied or reverted, or may not act on the given target."""


def param(
    default: Any,
    *,
    unit: str = "",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple[str, ...] | None = None,
    doc: str = "",
) -> Any:
    """A fault parameter with its unit, bounds and help, for validation and documentation.

    Args:
        default: the value when the scenario does not give one.
        unit: e.g. "ms", "%", "KiB/s", "s", "MiB"; shown in errors and docs.
        low: smallest allowed value (inclusive unless ``low_open``).
        high: largest allowed value (inclusive).
        low_open: ``low`` itself is not allowed (e.g. a rate that must be > 0).
        choices: allowed values of a string parameter.
        doc: one line of help.
    """
    meta = {
        "unit": unit,
        "low": low,
        "high": high,
        "low_open": low_open,
        "choices": choices,
        "doc": doc,
    }
    return field(default=default, metadata=meta)


def fmt_num(x: float) -> str:
    """A bound for messages: 0.5, 100, 1048576 (never 1.04858e+06)."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class NoParams:
    """For faults without parameters."""


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


def check_target_pid(pid: int, protected: frozenset[int] = frozenset()) -> None:
    """Refuse PID 1, the harness's own processes, and processes we may not signal."""
    if pid <= 1:
        raise ChaosError(f"refusing to act on PID {pid}")
    if pid == os.getpid() or pid in protected:
        raise ChaosError(f"refusing to act on PID {pid}: it is one of the harness's own processes")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise ChaosError(f"target PID {pid} does not exist") from None
    except PermissionError:
        raise ChaosError(f"not allowed to signal target PID {pid}") from None


class Fault(ABC):
    """One kind of fault. Subclasses set ``name``, ``kind``, ``Params`` and implement the rest."""

    name: ClassVar[str]
    kind: ClassVar[str]  # cpu, memory, connections, network, process
    Params: ClassVar[type[Any]] = NoParams
    #: the fault acts through the chaos proxy (the driver then puts one in front of the target)
    needs_proxy: ClassVar[bool] = False
    #: the fault needs a target PID (the embedded target, or an external one given by PID)
    needs_pid: ClassVar[bool] = True
    #: the fault itself cuts, resets or delays clients (network, process, the proxy's cap):
    #: abrupt outcomes it causes are the fault, not the service's way of refusing
    disruptive: ClassVar[bool] = False
    #: one line for `harness chaos check` and the docs
    summary: ClassVar[str] = ""
    #: the fault is an event, not a state (a restart): with no ``for`` it is reverted as
    #: soon as it has been applied, so what follows is the recovery phase
    instant: ClassVar[bool] = False

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
    """Class decorator: make a fault available by its ``name``."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"fault name {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def param_specs(cls: type[Fault]) -> Mapping[str, dataclasses.Field[Any]]:
    """The parameter fields of a fault class, by name."""
    return {f.name: f for f in dataclasses.fields(cls.Params)}
