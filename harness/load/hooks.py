"""The scenario's session hook (``load.session.hook``): the user's Python function, found,
imported once per process and checked before any run uses it.

A hook is ``path/to/file.py:function`` (a path relative to the scenario's folder is made
absolute when the scenario loads) or ``module.name:function``. It must be a plain function of
one argument, the connection (:class:`harness.load.flow.FlowConnection`). Kept apart from the
flow runner so that ``harness validate`` checks a hook without importing the load edge.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.config.scenario import Scenario
from harness.errors import ScenarioError

#: The key whose value names the hook, for messages.
HOOK_KEY = "load.session.hook"
ERROR_MAX = 160  # characters kept of an exception's text


class HookError(Exception):
    """The hook cannot be used (not found, not importable, not a function of one argument)."""


def check_hook(scenario: Scenario) -> None:
    """Import the scenario's hook now (once per process), so a run does not start without it.

    Raises:
        ScenarioError: the hook cannot be used; the message names the file, the key and why.
    """
    spec = scenario.load.session.hook
    if spec is None:
        return
    try:
        load_hook(spec)
    except HookError as exc:
        raise ScenarioError(scenario.source, HOOK_KEY, str(exc)) from None


@functools.cache
def load_hook(spec: str) -> Callable[[Any], object]:
    """The function ``spec`` names: ``module.name:function`` or ``/path/file.py:function``.

    Raises:
        HookError: no such module or file, its import raised, no such function, or not a
            plain function of one argument.
    """
    where, name = spec.rsplit(":", 1)
    module = _import_file(Path(where)) if where.endswith(".py") else _import_module(where)
    function = getattr(module, name, None)
    if function is None:
        raise HookError(f"{where} has no function {name!r}")
    if not callable(function):
        raise HookError(f"{where}: {name} is not a function")
    if inspect.iscoroutinefunction(function):
        raise HookError(f"{where}: {name} is async; a hook is a plain function (def, not async)")
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        raise HookError(f"{where}: {name} must take one argument, the connection") from None
    except ValueError:  # no signature to read (a builtin): called as it is
        pass
    return function  # type: ignore[no-any-return]


def _import_file(path: Path) -> ModuleType:
    name = "harness_hook_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HookError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import does (dataclasses of the hook look it up)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[name]
        raise HookError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except (Exception, SystemExit) as exc:
        del sys.modules[name]
        raise HookError(f"importing {path} raised {_brief(exc)}") from None
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise HookError(
                f"no module named {exc.name!r} (a hook in a file: path/to/file.py:function)"
            ) from None
        raise HookError(f"importing {name} raised {_brief(exc)}") from None
    except (Exception, SystemExit) as exc:
        raise HookError(f"importing {name} raised {_brief(exc)}") from None


def _brief(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:ERROR_MAX]
