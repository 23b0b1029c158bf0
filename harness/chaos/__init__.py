"""Chaos: faults applied to the target on the run's timeline, each always reverted."""

from __future__ import annotations

import importlib
import pkgutil

from harness.chaos.base import REGISTRY, ChaosContext, ChaosError, Fault, register


def load_faults() -> dict[str, type[Fault]]:
    """Import every module of :mod:`harness.chaos.faults` and return the registry by name."""
    from harness.chaos import faults

    for mod in pkgutil.iter_modules(faults.__path__):
        importlib.import_module(f"{faults.__name__}.{mod.name}")
    return dict(sorted(REGISTRY.items()))


__all__ = ["REGISTRY", "ChaosContext", "ChaosError", "Fault", "load_faults", "register"]
