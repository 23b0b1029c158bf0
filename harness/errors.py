"""Errors of the harness itself, as opposed to misbehaviour of the target.

A misbehaving target is data (an outcome in the attempt records), never an
exception. These exceptions are the harness's own failures and the user's
mistakes; the CLI turns each into one message (one line per mistake of a
:class:`ScenarioErrors`) and exit code 2, without a traceback::

    HarnessError
     +-- ScenarioError      a scenario file is invalid (names file, key path, line)
     +-- ScenarioErrors     several mistakes in one scenario (one ScenarioError a line)
     +-- TargetStartError   the embedded target did not come up
     +-- RunDirError        a run directory is missing or unreadable
"""

from __future__ import annotations

from collections.abc import Iterable


class HarnessError(Exception):
    """Base class: a failure of the harness or a user mistake, reported without traceback."""


class ScenarioError(HarnessError):
    """A scenario file is invalid.

    Attributes:
        path: the scenario file as the user named it, or the command-line edit the mistake
            is in (``--set load.users=ten``).
        key: dotted key path inside the file, e.g. ``load.mix.expired`` ("" for the whole file).
        msg: what is wrong, e.g. ``expected a number in [0, 1000000], got 'ten'``.
        line: 1-based line of the offending key or value, when known.
    """

    def __init__(self, path: str, key: str, msg: str, line: int | None = None) -> None:
        self.path = path
        self.key = key
        self.msg = msg
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        if self.key:
            return f"{where}: {self.key}: {self.msg}"
        return f"{where}: {self.msg}"


class ScenarioErrors(HarnessError):
    """Several mistakes in one scenario, all found in one pass.

    Attributes:
        errors: each mistake, in file order (then those of command-line ``--set`` edits).
    """

    def __init__(self, errors: Iterable[ScenarioError]) -> None:
        self.errors = tuple(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        """One line per error."""
        return "\n".join(str(e) for e in self.errors)


class TargetStartError(HarnessError):
    """The embedded reference target failed to start or to report its port."""


class RunDirError(HarnessError):
    """A run directory is missing, incomplete or unreadable."""
