"""Child processes that never outlive the harness.

Every process the harness starts (the embedded target, the chaos driver, hog and ballast
processes) asks the kernel, between fork and exec, for a signal when the thread that
started it dies, even by SIGKILL (``prctl(PR_SET_PDEATHSIG)``, Linux). Elsewhere this is
a no-op, and the explicit stops still apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # prctl(2) option


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets ``signum`` when its
    parent (the starting thread) dies.

    The C library is loaded here, before the fork: between fork and exec the child only
    makes the one call (loading a library there can deadlock a threaded parent).
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return lambda: None

    def preexec() -> None:
        with contextlib.suppress(OSError):
            prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)

    return preexec
