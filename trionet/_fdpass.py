"""Messages with fds between processes: ``socket.send_fds`` / ``recv_fds`` under trio.

A worker's control channel is one end of an ``AF_UNIX`` ``SOCK_SEQPACKET``
pair: each message is one pickled tuple, with at most one fd attached as
``SCM_RIGHTS`` ancillary data (the kernel duplicates it into the receiver).
These sockets are not trionet fds: ``send`` and ``receive`` wait with
trio's own ``wait_readable`` / ``wait_writable``. A worker reads its end
with ``try_receive`` and waits through the readiness layer instead
(``trionet._worker``), since it never closes that end while it runs.
"""

from __future__ import annotations

import pickle
import socket
from typing import Any

import trio

__all__ = ["MAX_MESSAGE", "channel_pair", "receive", "send", "try_receive", "try_send"]

MAX_MESSAGE = 1 << 16


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of non-blocking, close-on-exec message sockets."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    theirs.setblocking(False)
    return ours, theirs


def try_send(channel: socket.socket, message: tuple[Any, ...], fd: int | None = None) -> bool:
    """Send now if the channel has room; ``False`` if it would block."""
    data = pickle.dumps(message)
    try:
        socket.send_fds(channel, [data], [] if fd is None else [fd])
    except BlockingIOError:
        return False
    return True


async def send(channel: socket.socket, message: tuple[Any, ...], fd: int | None = None) -> None:
    """Send ``message`` (and ``fd``), waiting for room."""
    while not try_send(channel, message, fd):
        await trio.lowlevel.wait_writable(channel)


def try_receive(channel: socket.socket) -> tuple[tuple[Any, ...] | None, int | None] | None:
    """The next message and its fd if one waits, else ``None``; ``(None, None)`` once closed."""
    try:
        data, fds, _flags, _addr = socket.recv_fds(channel, MAX_MESSAGE, 1)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return None, None
    if not data:
        for fd in fds:
            socket.close(fd)
        return None, None
    message = pickle.loads(data)
    return message, (fds[0] if fds else None)


async def receive(channel: socket.socket) -> tuple[tuple[Any, ...] | None, int | None]:
    """The next message and its fd; ``(None, None)`` when the other side closed."""
    while (received := try_receive(channel)) is None:
        await trio.lowlevel.wait_readable(channel)
    return received
