"""Where the signing secret comes from, and reading it: never stored, never in a message.

A scenario names the secret's source (``auth.secret: {env: NAME}`` or ``{file: PATH}``);
the command line may replace it (``--secret-env NAME``, ``--secret-file PATH``:
:func:`with_secret`). The value is read only when a run starts (:func:`resolve_secret`),
so validating a scenario needs neither the variable nor the file. A secret file must be a
regular file of at most :data:`MAX_SECRET_BYTES` (a FIFO would hang the run, a device
never end), read with that limit.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from harness.config import scenario as sc
from harness.config.checks import PATH, VARIABLE_NAME
from harness.config.files import Unreadable, check_regular, read_limited
from harness.config.overrides import checked_flag
from harness.errors import HarnessError, ScenarioError

#: The largest secret file, in bytes (an HMAC key is tens of bytes).
MAX_SECRET_BYTES = 64 << 10


def with_secret(s: sc.Scenario, *, env: str | None, file: str | None) -> sc.Scenario:
    """A copy of ``s`` whose ``auth.secret`` is ``--secret-env`` or ``--secret-file``.

    Args:
        s: the loaded scenario.
        env: ``--secret-env``, the name of an environment variable holding the secret.
        file: ``--secret-file``, a file holding it; a relative path is relative to the
            current directory (not the scenario file's), and stored absolute. It is read
            when the run starts (:func:`resolve_secret`); a path that is there already
            must be a regular file.

    Returns:
        ``s`` itself when both are None.

    Raises:
        HarnessError: both are given, or one is not a variable name or a path
            (``--secret-env: expected a variable name, got '1X'``,
            ``--secret-file: expected a path, got ''``), or the file is not a regular
            file (``--secret-file: /tmp/fifo: not a regular file (a FIFO)``).
    """
    if env is not None and file is not None:
        raise HarnessError("--secret-env, --secret-file: expected one of them, got both")
    if env is not None:
        secret = sc.Secret(env=checked_flag("--secret-env", VARIABLE_NAME, env))
    elif file is not None:
        path = os.path.abspath(os.path.expanduser(checked_flag("--secret-file", PATH, file)))
        try:
            check_regular(path)
        except Unreadable as e:
            raise HarnessError(f"--secret-file: {path}: {e.reason}") from None
        secret = sc.Secret(file=path)
    else:
        return s
    return replace(s, auth=replace(s.auth, secret=secret))


def resolve_secret(s: sc.Scenario) -> str | None:
    """The signing secret named by ``auth.secret``, or None: generate one for this run.

    A relative ``file`` is resolved against the scenario file's directory, and its
    trailing newline is stripped. No message ever contains the secret.

    Raises:
        ScenarioError: the variable is unset or empty; the file is unreadable, not a
            regular file (a FIFO, a device), larger than :data:`MAX_SECRET_BYTES`, not
            UTF-8 or empty; or no secret is named although the target is an external URL.
    """
    sec = s.auth.secret
    if sec.env:
        if not (value := os.environ.get(sec.env)):
            state = "is not set" if value is None else "is empty"
            msg = f"environment variable {sec.env} {state}"
            raise ScenarioError(s.source, "auth.secret.env", msg)
        return value
    if sec.file:
        p = Path(sec.file).expanduser()
        p = p if p.is_absolute() else Path(s.source).parent / p
        try:
            value = read_limited(p, MAX_SECRET_BYTES).decode("utf-8").rstrip("\r\n")
        except Unreadable as e:
            msg = f"cannot read {p}: {e.reason}"
            raise ScenarioError(s.source, "auth.secret.file", msg) from None
        except UnicodeDecodeError:  # its message would quote a byte of the secret
            raise ScenarioError(s.source, "auth.secret.file", f"{p} is not UTF-8 text") from None
        if not value:
            raise ScenarioError(s.source, "auth.secret.file", f"{p} is empty")
        return value
    if not s.target.is_embedded:
        msg = (
            "required for an external target "
            "(give env: NAME or file: PATH, or --secret-env / --secret-file)"
        )
        raise ScenarioError(s.source, "auth.secret", msg)
    return None
