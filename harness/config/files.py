"""Reading a user's file with a limit: regular files only, never more than the limit.

A scenario file or a secret file may name anything: a FIFO (opening it for reading waits
for a writer forever), a device (``/dev/zero`` never ends), a huge file. :func:`read_limited`
looks at what the path is before opening it, opens it without waiting (``O_NONBLOCK``),
checks again what it opened (the path may have changed in between), and reads at most one
byte more than the limit. Messages name the path and what it is, never its content.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

#: What a file that is not a regular one is, by its ``stat`` type, for messages.
_KINDS: tuple[tuple[str, Callable[[int], bool]], ...] = (
    ("a directory", stat.S_ISDIR),
    ("a FIFO", stat.S_ISFIFO),
    ("a character device", stat.S_ISCHR),
    ("a block device", stat.S_ISBLK),
    ("a socket", stat.S_ISSOCK),
)


class Unreadable(Exception):
    """A file cannot be read within the rules; the message says why, without its content.

    Attributes:
        reason: e.g. ``No such file or directory``, ``not a regular file (a FIFO)``,
            ``larger than 64 KiB``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def size_text(n: int) -> str:
    """A byte count for messages: ``64 KiB``, ``1 MiB``, ``16 MiB``, ``1000 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is: ``a regular file``, ``a FIFO``, ``a directory``..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for name, test in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _refuse_irregular(mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise Unreadable(os.strerror(errno.EISDIR))  # "Is a directory", as reading one says
    if not stat.S_ISREG(mode):
        raise Unreadable(f"not a regular file ({file_kind(mode)})")


def check_regular(path: str | os.PathLike[str]) -> None:
    """``path`` is a regular file (or does not exist yet); nothing is opened or read.

    Raises:
        Unreadable: it is a directory, a FIFO, a device or a socket.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # reported when it is read
    _refuse_irregular(mode)


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Args:
        path: the file (symbolic links are followed).
        limit: the largest size allowed, in bytes.

    Raises:
        Unreadable: it cannot be opened (the system's reason, e.g. ``No such file or
            directory``), it is not a regular file (``not a regular file (a FIFO)``), or
            it is larger than ``limit`` (``larger than 1 MiB``); at most ``limit + 1``
            bytes are read to find out.
    """
    try:
        _refuse_irregular(os.stat(path).st_mode)  # before opening: a device may act on open
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise Unreadable(e.strerror or type(e).__name__) from None
    try:
        _refuse_irregular(os.fstat(fd).st_mode)  # what was opened, not what was looked at
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 16))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise Unreadable(e.strerror or type(e).__name__) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise Unreadable(f"larger than {size_text(limit)}")
    return data
