"""The blocking calls of the fd level, synchronous.

Each prepares the same ``trionet._core._prepare.Call`` as its async twin in
``trionet.socket`` and runs it with ``._drive_sync.block``, which waits in
the calling thread. Arguments, errors and results are the async API's.

``recv`` and ``send`` on an fd compat has seen before skip the ``Call``:
they check their arguments in the same order and with the same checks,
and hand them to the fd's ``._drive_sync.SyncState`` (the loop of a
thread-per-connection server, where each Python frame per call also holds
the GIL that the other threads wait for).
"""

from __future__ import annotations

import socket as _stdsocket

from trionet._core import _prepare
from trionet._core._addr import SockAddr
from trionet._core._readiness import READ, WRITE
from trionet._core._timeout import check_timeout
from trionet._types import FdAddress, SendData, WritableBuffer

from ._drive_sync import STREAK, block, closed_error, states

# A timeout of these types within 0.._LONG seconds is one ``check_timeout``
# passes as it is; any other goes through it, to be checked (or converted).
_SECONDS = (float, int)
_DONTWAIT = _stdsocket.MSG_DONTWAIT
_LONG = 2.0**31
_MAX_RECV = _prepare.MAX_RECV

__all__ = [
    "accept",
    "connect",
    "recv",
    "recv_into",
    "recvfrom",
    "recvfrom_into",
    "send",
    "sendto",
]


def accept(fd: int, *, timeout: float | None = None) -> tuple[int, SockAddr | str]:
    """Accept a connection; see ``trionet.socket.accept``.

    JSRE equivalent: ``socket.accept(sockFd, remoteAddr, timeout)``.

    Raises:
        Timeout: no connection came within ``timeout`` seconds.
        trio.ClosedResourceError: ``fd`` was closed, before or while waiting.
    """
    return _prepare.accepted(block(_prepare.accept(fd, timeout)))


def connect(fd: int, addr: FdAddress, *, timeout: float | None = None) -> None:
    """Connect ``fd`` to ``addr``; see ``trionet.socket.connect``.

    JSRE equivalent: ``socket.connect(sockFd, remoteAddr, timeout)``.

    Raises:
        Timeout: the connection was not made within ``timeout`` seconds.
    """
    block(_prepare.connect(fd, addr, timeout))


def send(fd: int, data: SendData, *, timeout: float | None = None) -> int:
    """Send once; return the bytes the kernel took. See ``trionet.socket.send``.

    JSRE equivalent: ``socket.send(sockFd, data, timeout)``.
    """
    fd_state = states.get(fd) if type(fd) is int else None
    if (
        fd_state is not None
        and not fd_state.entry.closed
        and (type(data) is bytes or type(data) is memoryview or type(data) is bytearray)
    ):
        if timeout is not None and not (type(timeout) in _SECONDS and 0 <= timeout <= _LONG):
            timeout = check_timeout(timeout)
        sock = fd_state.sock
        if fd_state.streak[WRITE]:
            return fd_state.io(WRITE, "send", timeout, None, sock.send, data)
        # Most sends go at once: ``io``'s first try, without its frame.
        try:
            return sock.send(data, _DONTWAIT)
        except BlockingIOError:
            return fd_state.not_ready(WRITE, "send", timeout, None, sock.send, data)
        except OSError as exc:
            raise closed_error(exc, fd_state.entry) from exc
    return block(_prepare.send(fd, data, timeout))


def sendto(fd: int, addr: FdAddress, data: SendData, *, timeout: float | None = None) -> int:
    """Send one datagram to ``addr``. See ``trionet.socket.sendto``.

    JSRE equivalent: ``socket.sendto(sockFd, remoteAddr, data, timeout)``.
    """
    return block(_prepare.sendto(fd, addr, data, timeout))


def recv(fd: int, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
    """Receive up to ``max_bytes``; ``b""`` at end. See ``trionet.socket.recv``.

    JSRE equivalent: ``socket.recv(sockFd, buffer, offset, length, timeout)``.
    """
    fd_state = states.get(fd) if type(fd) is int else None
    if fd_state is None or fd_state.entry.closed:
        return block(_prepare.recv(fd, max_bytes, timeout))
    if timeout is not None and not (type(timeout) in _SECONDS and 0 <= timeout <= _LONG):
        timeout = check_timeout(timeout)
    size = (
        max_bytes
        if type(max_bytes) is int and 0 <= max_bytes <= _MAX_RECV
        else _prepare.check_recv_size(max_bytes)
    )
    streak = fd_state.streak[READ]
    if not streak:
        # A client whose peer has answered already: ``io``'s first try,
        # without its frame.
        try:
            data = fd_state.sock.recv(size, _DONTWAIT)
        except BlockingIOError:
            data = fd_state.not_ready(READ, "recv", timeout, None, fd_state.sock.recv, size)
        except OSError as exc:
            raise closed_error(exc, fd_state.entry) from exc
    elif streak >= STREAK and timeout != 0 and fd_state.blocking:
        # A server thread waiting for the next request: straight to the kernel.
        data = fd_state.wait(READ, "recv", timeout, None, fd_state.sock.recv, size)
    else:
        data = fd_state.io(READ, "recv", timeout, None, fd_state.sock.recv, size)
    if fd_state.stream:
        fd_state.entry.eof = not data and size > 0
    return data


def recv_into(
    fd: int,
    buffer: WritableBuffer,
    offset: int = 0,
    length: int | None = None,
    *,
    timeout: float | None = None,
) -> int:
    """Receive into ``buffer[offset:offset + length]``. See ``trionet.socket.recv_into``.

    JSRE equivalent: ``socket.recv(sockFd, buffer, offset, length, timeout)``.
    """
    return block(_prepare.recv_into(fd, buffer, offset, length, timeout))


def recvfrom(
    fd: int, max_bytes: int = 65536, *, timeout: float | None = None
) -> tuple[bytes, SockAddr | str]:
    """Receive one datagram and its sender. See ``trionet.socket.recvfrom``.

    JSRE equivalent: ``socket.recvfrom(sockFd, remoteAddr, buffer, ...)``.
    """
    call = _prepare.recvfrom(fd, max_bytes, timeout)
    data, raw = block(call)
    return data, _prepare.source_address(call.entry, raw)


def recvfrom_into(
    fd: int,
    buffer: WritableBuffer,
    offset: int = 0,
    length: int | None = None,
    *,
    timeout: float | None = None,
) -> tuple[int, SockAddr | str]:
    """Receive one datagram into ``buffer``. See ``trionet.socket.recvfrom_into``.

    JSRE equivalent: ``socket.recvfrom(sockFd, remoteAddr, buffer, offset, length, timeout)``.
    """
    call = _prepare.recvfrom_into(fd, buffer, offset, length, timeout)
    count, raw = block(call)
    return count, _prepare.source_address(call.entry, raw)
