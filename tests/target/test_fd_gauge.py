"""The target's descriptor gauge: cheap far from the limit, exact near it (real descriptors
and a real soft RLIMIT_NOFILE of this process, restored after)."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import pytest

from harness.target.server import FdGauge, fds_left


@pytest.fixture
def soft_limit() -> Iterator[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_far_from_the_limit_it_only_errs_towards_fewer_left(soft_limit: int) -> None:
    gauge = FdGauge(margin=64, max_age=60)
    first = gauge.left()
    assert first is not None and first == fds_left()
    fds: list[int] = []
    try:
        for _ in range(20):  # each handshake's connection holds one descriptor, then asks
            fds.append(os.open(os.devnull, os.O_RDONLY))
            est = gauge.left()
            exact = fds_left()
            assert est is not None and exact is not None and est <= exact
        os.close(fds.pop())  # closed ones are not subtracted: still no more left than true
        assert (gauge.left() or 0) <= (fds_left() or 0)
    finally:
        for fd in fds:
            os.close(fd)


def test_near_the_limit_every_call_counts_exactly(soft_limit: int) -> None:
    gauge = FdGauge(margin=64, max_age=60)
    assert gauge.left() is not None
    open_now = soft_limit - (fds_left() or 0)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + 40, hard))  # as the fd_limit fault
    fds: list[int] = []
    try:
        for _ in range(10):
            fds.append(os.open(os.devnull, os.O_RDONLY))
            assert gauge.left() == fds_left()  # the same count, not an estimate
    finally:
        for fd in fds:
            os.close(fd)


def test_the_kernel_queues_many_connections_before_any_accept() -> None:
    """A listening socket made with a queue of 1 holds 200 unaccepted connections once
    deepened (:func:`deepen_backlog`): a burst is queued, not dropped as SYNs."""
    import socket

    from harness.target.server import deepen_backlog

    with socket.create_server(("127.0.0.1", 0), backlog=1) as server:
        deepen_backlog([server])
        port = server.getsockname()[1]
        clients = []
        try:
            for _ in range(200):
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        finally:
            for c in clients:
                c.close()
        assert len(clients) == 200
