"""Start and stop the embedded target as a subprocess on a loopback, OS-chosen port.

The child's stdout and stderr go to a file, never to a pipe: an asyncio server
on Python 3.11 floods stderr at EMFILE and would block on an undrained pipe.
The secret travels only in the child's environment, never on its command line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import harness
from harness.children import die_with_parent
from harness.config.scenario import Auth, EmbeddedTarget, SocketIO
from harness.errors import TargetStartError
from harness.target.certs import RunCerts
from harness.target.options import DEFAULT_SECRET_ENV, options_to_argv

POLL_INTERVAL_S = 0.05  # seconds between checks for the ready file
LOG_TAIL_LINES = 20  # lines of the log quoted in a TargetStartError


class TargetProcess:
    """A running embedded target; stop it with :meth:`stop` or use it as a context manager."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        *,
        host: str,
        port: int,
        path: str,
        log_path: Path,
        certs: RunCerts | None = None,
        children: tuple[int, ...] = (),
    ) -> None:
        self.popen = popen
        self.host = host
        self.port = port
        self.path = path
        self.log_path = log_path
        self.certs = certs  # serving wss:// with these files, when set
        #: the server processes under :attr:`pid` (``processes > 1``: harness.target.pool);
        #: empty when the target is one process
        self.children = children

    def __repr__(self) -> str:
        return f"TargetProcess(pid={self.pid}, url={self.url!r}, alive={self.alive()})"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The WebSocket endpoint, e.g. ``ws://127.0.0.1:41234/ws`` (``wss://`` with TLS)."""
        return f"{'wss' if self.certs else 'ws'}://{self._netloc}{self.path}"

    @property
    def base_http_url(self) -> str:
        """``http://host:port`` (``https://`` with TLS), for ``/health`` and ``/metrics``."""
        return f"{'https' if self.certs else 'http'}://{self._netloc}"

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; idempotent. Returns the exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)  # by PID; a no-op once reaped
            if self.popen.poll() is None:
                # A stopped process (chaos SIGSTOP) handles SIGTERM only once continued.
                self.popen.send_signal(signal.SIGCONT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def __enter__(self) -> TargetProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_target(
    opts: EmbeddedTarget,
    *,
    secret: str,
    log_path: Path,
    path: str = "/ws",
    query_param: str = "token",
    algorithm: str = "HS256",
    auth: Auth | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_timeout: float = 15.0,
    certs: RunCerts | None = None,
    protocol: str = "websocket",
    socketio: SocketIO | None = None,
    disconnect_after: float = 0.0,
) -> TargetProcess:
    """Launch ``python -m harness.target`` on ``host``, port 0, and wait until it listens.

    Args:
        opts: the target's options.
        secret: the JWT secret, passed only via ``HARNESS_JWT_SECRET`` in the child's env.
        log_path: file receiving the child's stdout and stderr (appended to).
        path: WebSocket path.
        query_param: query parameter holding the token.
        auth: where the token goes (placement, scheme, cookie, first message); None: defaults.
        algorithm: the only JWT algorithm accepted.
        host: address to bind.
        port: port to bind; 0 lets the OS pick (a restart reuses the old port).
        ready_timeout: seconds to wait for the ready file.
        certs: serve wss:// with this certificate (:func:`~harness.target.certs.make_run_certs`);
            only the files' paths go on the command line.
        protocol: ``websocket``, or ``socketio`` (Socket.IO v5): then the path is
            ``socketio.path`` (``path`` is ignored) and ``socketio`` gives the namespace, event
            and auth field (None: defaults); ``opts.socketio_transports`` the transports.
        disconnect_after: socketio: the server disconnects every client this many seconds
            after its CONNECT; 0: never.

    Raises:
        TargetStartError: the process exited, or did not get ready in time; the
            message quotes the last lines of the log (secret redacted).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ready_dir = Path(tempfile.mkdtemp(prefix="harness-target-"))
    ready_file = ready_dir / "ready.json"
    if protocol == "socketio":
        path = (socketio or SocketIO()).path
    argv = [
        sys.executable,
        "-m",
        "harness.target",
        *options_to_argv(
            opts,
            path=path,
            query_param=query_param,
            algorithm=algorithm,
            secret_env=DEFAULT_SECRET_ENV,
            auth=auth,
            protocol=protocol,
            socketio=socketio,
            disconnect_after=disconnect_after,
        ),
        "--host",
        host,
        "--port",
        str(port),
        "--ready-file",
        str(ready_file),
    ]
    if certs is not None:
        argv += ["--certfile", str(certs.certfile), "--keyfile", str(certs.keyfile)]
    env = dict(os.environ)
    env[DEFAULT_SECRET_ENV] = secret
    env["PYTHONUNBUFFERED"] = "1"
    # The child must import this very copy of the package, installed or not.
    package_root = str(Path(harness.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    try:
        with open(log_path, "ab") as log:
            log_offset = log.tell()
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=die_with_parent(signal.SIGTERM),
                # its own session: a terminal's Ctrl-C (SIGINT to the foreground process
                # group) reaches the harness, which stops the run, never the target
                start_new_session=True,
            )
        try:
            target = _wait_ready(popen, ready_file, ready_timeout, host, path, log_path)
            target.certs = certs
            return target
        except TargetStartError as exc:
            tail = _log_tail(log_path, log_offset)
            raise TargetStartError(_redact(f"{exc}\n{tail}", secret)) from None
        except BaseException:  # e.g. Ctrl-C while waiting: leave no orphan behind
            TargetProcess(popen, host=host, port=0, path=path, log_path=log_path).stop(2.0)
            raise
    finally:
        shutil.rmtree(ready_dir, ignore_errors=True)


def _wait_ready(
    popen: subprocess.Popen[bytes],
    ready_file: Path,
    timeout: float,
    host: str,
    path: str,
    log_path: Path,
) -> TargetProcess:
    deadline = time.monotonic() + timeout
    while True:
        if ready_file.exists():
            info = json.loads(ready_file.read_text(encoding="utf-8"))
            return TargetProcess(
                popen,
                host=host,
                port=int(info["port"]),
                path=path,
                log_path=log_path,
                children=tuple(int(c) for c in info.get("children", ())),
            )
        code = popen.poll()
        if code is not None:
            raise TargetStartError(
                f"embedded target exited with status {code} before it was ready; log: {log_path}"
            )
        if time.monotonic() >= deadline:
            TargetProcess(popen, host=host, port=0, path=path, log_path=log_path).stop(timeout=2.0)
            raise TargetStartError(
                f"embedded target (pid {popen.pid}) not ready after {timeout:g} s; log: {log_path}"
            )
        time.sleep(POLL_INTERVAL_S)


def _log_tail(log_path: Path, offset: int, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc.strerror})"
    tail = text.splitlines()[-lines:]
    if not tail:
        return "(log is empty)"
    return "last lines of the log:\n" + "\n".join(f"  {line}" for line in tail)


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
