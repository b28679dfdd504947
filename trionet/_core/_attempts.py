"""The blocking operations of the fd level, written once for every driver.

Each operation is an *attempt*: a plain function that makes the system call
on a non-blocking socket and either returns the result or raises
``BlockingIOError`` when it would block. Which fds to wait for, and in which
direction, is known to the caller. A driver runs the attempt, waits when
told to, and retries: ``trionet._core._drive_trio`` waits on trio; ``trionet.compat``
waits in the calling thread. Nothing here knows how waiting is done, so the
async and sync APIs cannot drift apart.

Attempts never block and never hide progress: the data attempts pass
``MSG_DONTWAIT``, so they stay non-blocking on an fd that compat has put in
blocking mode for its threads (``trionet.compat._drive_sync``), whoever calls
them; compat's call that blocks in the kernel passes ``flags=0``. An attempt
that moved data returns how much, and an attempt that raised moved nothing.
Whether it moved fewer bytes than asked is the caller's to see in the
result; attempts keep no hints for any driver.
"""

from __future__ import annotations

import errno
import os
import socket as _stdsocket
from collections.abc import Sequence
from typing import Any

from ._fdtable import Entry
from ._named import address_text

__all__ = [
    "Connect",
    "RetryLater",
    "accept",
    "later",
    "recv",
    "recv_into",
    "recvfrom",
    "recvfrom_into",
    "send",
    "sendto",
]

from .._types import Buffer

OsAddress = Any  # whatever the standard library takes for the socket's family

DONTWAIT = _stdsocket.MSG_DONTWAIT


def _received(entry: Entry, count: int, asked: int) -> None:
    """Note the end of a stream (``is_eof``)."""
    if entry.stream:
        entry.eof = not count and asked > 0


def recv(entry: Entry, max_bytes: int, flags: int = DONTWAIT) -> bytes:
    data = entry.sock.recv(max_bytes, flags)
    _received(entry, len(data), max_bytes)
    return data


def recv_into(entry: Entry, view: Buffer, flags: int = DONTWAIT) -> int:
    count = entry.sock.recv_into(view, 0, flags)
    _received(entry, count, len(view))
    return count


def recvfrom(entry: Entry, max_bytes: int, flags: int = DONTWAIT) -> tuple[bytes, OsAddress]:
    data, raw = entry.sock.recvfrom(max_bytes, flags)
    _received(entry, len(data), max_bytes)
    return data, raw


def recvfrom_into(entry: Entry, view: Buffer, flags: int = DONTWAIT) -> tuple[int, OsAddress]:
    count, raw = entry.sock.recvfrom_into(view, 0, flags)
    _received(entry, count, len(view))
    return count, raw


def send(entry: Entry, data: Buffer | Sequence[Buffer], flags: int = DONTWAIT) -> int:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return entry.sock.send(data, flags)
    return entry.sock.sendmsg(data, (), flags)


def sendto(
    entry: Entry, data: Buffer | Sequence[Buffer], address: OsAddress, flags: int = DONTWAIT
) -> int:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return entry.sock.sendto(data, flags, address)
    return entry.sock.sendmsg(data, (), flags, address)


def accept(entry: Entry) -> tuple[_stdsocket.socket, OsAddress]:
    """Accept from the listener or, failing that, from its ``mports`` listeners."""
    try:
        return entry.sock.accept()
    except BlockingIOError:
        if not entry.extras:
            raise
    for extra in entry.extras:
        try:
            return extra.accept()
        except BlockingIOError:
            continue
    raise BlockingIOError(errno.EAGAIN, "no connection pending")


class RetryLater(BlockingIOError):
    """Would block, and no readiness event will say when to try again.

    A connect to a Unix-domain listener whose backlog is full fails with
    ``EAGAIN`` without starting, and ``poll`` reports an unconnected Unix
    socket as hung up at once: waiting for the fd would spin, or (edge
    triggered) never wake. Drivers retry after a short, growing delay.
    """


def later(delay: float) -> float:
    """The next delay before retrying after ``RetryLater``: 1 ms doubling to 50 ms."""
    return min(max(delay * 2, 0.001), 0.05)


class Connect:
    """A connect in two steps: start it, then (once writable) read its result.

    The second step tells for itself whether the connect is done, so a
    driver may retry it after any wake-up: while it is still in progress,
    ``SO_ERROR`` is 0 but the socket has no peer, and the step raises
    ``BlockingIOError`` as every attempt that would block does.
    """

    __slots__ = ("_address", "_entry", "_started")

    def __init__(self, entry: Entry, address: OsAddress) -> None:
        self._entry = entry
        self._address = address
        self._started = False

    def __call__(self) -> None:
        sock = self._entry.sock
        if not self._started:
            code = sock.connect_ex(self._address)
            if code in (0, errno.EISCONN):
                return
            if code == errno.EAGAIN:
                # A Unix-domain listener's backlog is full: the connect did
                # not start, so the next attempt must try it again.
                raise RetryLater(code, os.strerror(code))
            self._started = True
            if code in (errno.EINPROGRESS, errno.EALREADY):
                raise BlockingIOError(code, os.strerror(code))
            if code == errno.ECONNABORTED:
                # Linux's answer to connecting a socket whose connect failed:
                # say what to do, since JSRE code retries on the same fd.
                raise OSError(
                    code,
                    f"{os.strerror(code)}: a socket whose connect failed cannot"
                    " connect again; close it and make a new socket",
                    address_text(self._address),
                )
            raise OSError(code, os.strerror(code), address_text(self._address))
        code = sock.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ERROR)
        if code:
            raise OSError(code, os.strerror(code), address_text(self._address))
        try:
            sock.getpeername()
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise
            raise BlockingIOError(errno.EINPROGRESS, os.strerror(errno.EINPROGRESS)) from None
