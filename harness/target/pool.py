"""The embedded target as several processes sharing one port (``--processes N``, SO_REUSEPORT).

One parent binds nothing it serves: it reserves the port (a socket bound with
``SO_REUSEPORT`` that never listens, so the kernel routes no connection to it), forks N
children, and waits. Each child is a whole target (plain WebSocket or Socket.IO) that binds
the reserved port with ``SO_REUSEPORT`` and listens: the kernel spreads new connections over
the children's listening sockets (by a hash of the connection's addresses and ports). The
parent is the one PID the harness and chaos know; once every child listens it writes the
ready file with its own PID.

Lifecycle rules (the target is one service, whatever the number of processes):

- SIGTERM or SIGINT to the parent: SIGCONT and SIGTERM to every child (each closes its
  connections gracefully: 1001, or the Engine.IO close), the parent waits up to
  :data:`STOP_TIMEOUT_S`, SIGKILLs what is left, and exits 0 when every child exited 0.
- A child that exits on its own (a crash, an OOM kill) takes the target down: the parent
  stops the others as above and exits 1, so the harness sees the target die.
- The parent killed (SIGKILL): every child gets SIGKILL from the kernel
  (``PR_SET_PDEATHSIG``), so no child outlives it.

Limits: ``max_connections`` is the target's total, split by :func:`shares`; the RSS, CPU and
file-descriptor thresholds are each process's own. ``/health`` and ``/metrics`` answer for
the child the kernel picks for that request (its ``process`` index is in ``/health``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import select
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

#: Seconds the parent waits for its children to stop gracefully before SIGKILL (the start
#: code's ``TargetProcess.stop`` SIGKILLs the parent itself after 5 s).
STOP_TIMEOUT_S = 4.0
POLL_S = 0.05  # seconds between looks at the ready pipe and signals while starting
RESERVE_TRIES = 5  # attempts at reserving an OS-chosen port (another process may take it)
PR_SET_PDEATHSIG = 1  # prctl(2) option
EXIT_CRASHED = 1  # the parent's exit status when a child died on its own

#: Signals the parent waits for (blocked, and taken with sigtimedwait/sigwaitinfo).
_WAITED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGCHLD})


def shares(total: int, processes: int) -> list[int]:
    """Split ``total`` connections over ``processes``: equal shares, one more for each of the
    first ``total % processes`` (``shares(10, 3) == [4, 3, 3]``); the sum is ``total``."""
    base, extra = divmod(total, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (0: an OS-chosen port) with ``SO_REUSEPORT``, never
    listening: it holds the port for the children, and receives no connection.

    A port something already listens on is refused (EADDRINUSE), even when that listener
    uses ``SO_REUSEPORT`` too (an old target of the same user would otherwise share it).

    Raises:
        OSError: the port is taken, or the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(RESERVE_TRIES):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR: a restart on the same port, with connections in TIME_WAIT
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))  # fails while anything listens there
            chosen = int(probe.getsockname()[1])
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, chosen))
            return sock
        except OSError as exc:
            sock.close()
            if port != 0 or exc.errno != errno.EADDRINUSE or attempt == RESERVE_TRIES - 1:
                raise
    raise AssertionError("unreachable")


def _die_with_parent(parent: int) -> None:
    """In a child: SIGKILL when the parent dies (PR_SET_PDEATHSIG); exit if it is gone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(EXIT_CRASHED)


class Pool:
    """The parent of N target processes; :meth:`run` forks them and waits until it is told to
    stop or one dies (see the module docstring).

    Args:
        processes: how many children.
        serve: runs child ``i`` (0-based) until SIGTERM and returns its exit status; it calls
            the ``ready`` callable it is given (with the ready document: ``host``, ``port``,
            ``url``) once its server listens.
        log: where the parent's own lines go (the target's stdout).
    """

    def __init__(
        self,
        processes: int,
        serve: Callable[[int, Callable[[dict[str, Any]], None]], int],
        *,
        log: Callable[[str], None] = print,
    ) -> None:
        self.processes = processes
        self.serve = serve
        self.log = log
        self.children: dict[int, int] = {}  # pid -> index, while running
        self.codes: dict[int, int] = {}  # index -> exit status (negative: killed by signal)
        self._stopping = False

    # --- Children -----------------------------------------------------------------------

    def _fork(self, index: int, ready_w: int, ready_r: int, close: list[socket.socket]) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid:
            return pid
        code = EXIT_CRASHED
        try:
            _die_with_parent(parent)
            os.close(ready_r)
            for sock in close:
                sock.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, set())

            def ready(doc: dict[str, Any]) -> None:
                os.write(ready_w, (json.dumps({"index": index, **doc}) + "\n").encode())
                os.close(ready_w)

            code = self.serve(index, ready)
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _reap(self) -> list[int]:
        """Reap the children that exited; the indexes of those that did."""
        gone: list[int] = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            index = self.children.pop(pid, None)
            if index is None:
                continue
            self.codes[index] = os.waitstatus_to_exitcode(status)
            gone.append(index)
        return gone

    def _signal_all(self, signum: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def stop(self) -> None:
        """SIGCONT + SIGTERM every child, wait up to :data:`STOP_TIMEOUT_S`, SIGKILL the rest."""
        self._stopping = True
        self._signal_all(signal.SIGCONT)  # a stopped child (chaos SIGSTOP) handles TERM then
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        self._reap()
        while self.children:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            signal.sigtimedwait({signal.SIGCHLD}, min(left, POLL_S * 4))
            self._reap()
        if self.children:
            self.log(
                f"children {sorted(self.children)} still up after {STOP_TIMEOUT_S:g} s: SIGKILL"
            )
            self._signal_all(signal.SIGKILL)
            while self.children:
                try:
                    pid, status = os.waitpid(-1, 0)
                except ChildProcessError:
                    break
                index = self.children.pop(pid, None)
                if index is not None:
                    self.codes[index] = os.waitstatus_to_exitcode(status)

    # --- Parent -------------------------------------------------------------------------

    def run(
        self,
        on_ready: Callable[[dict[str, Any]], None],
        *,
        close_in_children: list[socket.socket] | None = None,
    ) -> int:
        """Fork the children, call ``on_ready`` with child 0's ready document (plus ``pid``:
        the parent's, ``children``: their PIDs) once all listen, wait; the exit status.

        ``close_in_children``: sockets of the parent's (the reserving one) that the children
        close at once.
        """
        signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED)
        ready_r, ready_w = os.pipe()
        try:
            for i in range(self.processes):
                pid = self._fork(i, ready_w, ready_r, close_in_children or [])
                self.children[pid] = i
            os.close(ready_w)
            docs = self._wait_ready(ready_r)
        finally:
            with contextlib.suppress(OSError):
                os.close(ready_w)
            os.close(ready_r)
        if docs is None:  # a child died, or a signal came, before all were ready
            self.stop()
            failed = [c for c in self.codes.values() if c != 0]
            return failed[0] if failed and failed[0] > 0 else EXIT_CRASHED
        first = dict(docs[0])
        first.pop("index", None)
        by_index = {i: p for p, i in self.children.items()}
        on_ready({**first, "pid": os.getpid(), "children": [by_index[i] for i in sorted(by_index)]})
        return self._wait()

    def _wait_ready(self, ready_r: int) -> list[dict[str, Any]] | None:
        docs: dict[int, dict[str, Any]] = {}
        buf = b""
        while len(docs) < self.processes:
            readable, _, _ = select.select([ready_r], [], [], POLL_S)
            if readable:
                chunk = os.read(ready_r, 65536)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    doc = json.loads(line)
                    docs[int(doc["index"])] = doc
            info = signal.sigtimedwait(_WAITED, 0)
            if info is not None and info.si_signo != signal.SIGCHLD:
                self.log(
                    f"signal {signal.Signals(info.si_signo).name} before every process was ready"
                )
                return None
            if self._reap():
                self.log(f"a target process exited before it was ready: {self._codes_text()}")
                return None
        return [docs[i] for i in sorted(docs)]

    def _wait(self) -> int:
        while True:
            info = signal.sigwaitinfo(_WAITED)
            if info.si_signo != signal.SIGCHLD:
                self.log(
                    f"signal {signal.Signals(info.si_signo).name}: "
                    f"stopping {len(self.children)} target processes"
                )
                self.stop()
                return 0 if all(c == 0 for c in self.codes.values()) else EXIT_CRASHED
            if self._reap():
                self.log(f"a target process exited on its own ({self._codes_text()}): stopping all")
                self.stop()
                return EXIT_CRASHED

    def _codes_text(self) -> str:
        return ", ".join(f"process {i}: status {c}" for i, c in sorted(self.codes.items()))
