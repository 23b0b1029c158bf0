"""Chaos: faults applied to the target on the run's timeline, each always reverted.

The fault interface and registry are in :mod:`harness.chaos.base`, one fault per module in
:mod:`harness.chaos.faults`, each fault's schema (name, kind, parameters) in
:mod:`harness.config.faults`; :func:`load_faults` imports them all.
"""

from __future__ import annotations

import importlib
import pkgutil

from harness.chaos.base import REGISTRY, Fault


def load_faults() -> dict[str, type[Fault]]:
    """Import every module of :mod:`harness.chaos.faults` and return the registry by name."""
    from harness.chaos import faults

    for mod in pkgutil.iter_modules(faults.__path__):
        importlib.import_module(f"{faults.__name__}.{mod.name}")
    return dict(sorted(REGISTRY.items()))
