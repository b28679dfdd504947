"""The blocking calls of the fd level: trio operations with a ``timeout``.

Each is an attempt from :mod:`trionet._ops` run by :func:`trionet._drive.perform`:
the system call is tried first and trio is waited on only when it would block.
"""

from __future__ import annotations

from ._addr import SockAddr, from_os
from ._args import os_address, outgoing, writable_view
from ._checks import check_int
from ._drive import perform
from ._fdtable import Entry, entry, register
from ._ops import Connect
from ._ops import accept as _accept
from ._ops import recv as _recv
from ._ops import recv_into as _recv_into
from ._ops import recvfrom as _recvfrom
from ._ops import recvfrom_into as _recvfrom_into
from ._ops import send as _send
from ._ops import sendto as _sendto
from ._readiness import READ, WRITE
from ._timeout import check_timeout

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

_MAX_RECV = 2**31 - 1


async def accept(fd: int, *, timeout: float | None = None) -> tuple[int, SockAddr | str]:
    """Accept a connection on a listening fd (or on any of its ``mports``).

    The new fd is non-blocking and close-on-exec.

    JSRE equivalent: ``socket.accept(sockFd, remoteAddr, timeout)`` (timeout
    in milliseconds there, seconds here).

    Returns:
        The new fd and the peer's address (a path for Unix-domain sockets).

    Raises:
        Timeout: no connection came within ``timeout`` seconds.
        trio.ClosedResourceError: ``fd`` was closed, before or while waiting.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    listener = entry(fd)
    sock, raw = await perform(listener, READ, timeout, "accept", _accept, listener)
    sock.setblocking(False)
    return register(sock).fd, from_os(raw)


async def connect(fd: int, addr: object, *, timeout: float | None = None) -> None:
    """Connect ``fd`` to ``addr``; for UDP, set its default peer.

    After a timeout or cancellation the fd is still open and still the
    caller's to close; its connection attempt is abandoned.

    JSRE equivalent: ``socket.connect(sockFd, remoteAddr, timeout)``.

    Raises:
        Timeout: the connection was not made within ``timeout`` seconds.
        ConnectionRefusedError: nothing listens there (and other ``OSError``).
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    target = entry(fd)
    address = os_address(target, addr)
    await perform(target, WRITE, timeout, "connect", Connect(target, address))


async def send(fd: int, data: object, *, timeout: float | None = None) -> int:
    """Send once; return how many bytes the kernel took (maybe fewer than given).

    ``data`` may be bytes-like, ``str`` (sent as UTF-8) or a list of
    bytes-like objects, sent with one gathered ``sendmsg``.

    JSRE equivalent: ``socket.send(sockFd, data, timeout)``.

    Raises:
        Timeout: the socket could not take any byte within ``timeout``.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    payload = outgoing(data)
    target = entry(fd)
    return await perform(target, WRITE, timeout, "send", _send, target, payload)


async def sendto(fd: int, addr: object, data: object, *, timeout: float | None = None) -> int:
    """Send one datagram (or stream chunk) to ``addr``; return the bytes sent.

    JSRE equivalent: ``socket.sendto(sockFd, remoteAddr, data, timeout)``.

    Raises:
        Timeout: the socket could not take the data within ``timeout``.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    payload = outgoing(data)
    target = entry(fd)
    address = os_address(target, addr)
    return await perform(target, WRITE, timeout, "sendto", _sendto, target, payload, address)


def _max_bytes(value: object) -> int:
    if type(value) is int and 0 <= value <= _MAX_RECV:
        return value
    return check_int("max_bytes", value, 0, _MAX_RECV)


async def recv(fd: int, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
    """Receive up to ``max_bytes``; ``b""`` at the orderly end of a stream.

    JSRE equivalent: ``socket.recv(sockFd, buffer, offset, length, timeout)``.

    Raises:
        Timeout: nothing arrived within ``timeout`` seconds.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    size = _max_bytes(max_bytes)
    source = entry(fd)
    return await perform(source, READ, timeout, "recv", _recv, source, size)


async def recv_into(
    fd: int,
    buffer: object,
    offset: int = 0,
    length: int | None = None,
    *,
    timeout: float | None = None,
) -> int:
    """Receive into ``buffer[offset:offset + length]``; return the count, ``0`` at end.

    JSRE equivalent: ``socket.recv(sockFd, buffer, offset, length, timeout)``.

    Raises:
        Timeout: nothing arrived within ``timeout`` seconds.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    view = writable_view(buffer, offset, length)
    source = entry(fd)
    return await perform(source, READ, timeout, "recv_into", _recv_into, source, view)


async def recvfrom(
    fd: int, max_bytes: int = 65536, *, timeout: float | None = None
) -> tuple[bytes, SockAddr | str]:
    """Receive one datagram (up to ``max_bytes``) and the address it came from.

    JSRE equivalent: ``socket.recvfrom(sockFd, remoteAddr, buffer, ...)``.

    Raises:
        Timeout: nothing arrived within ``timeout`` seconds.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    size = _max_bytes(max_bytes)
    source = entry(fd)
    data, raw = await perform(source, READ, timeout, "recvfrom", _recvfrom, source, size)
    return data, _source_address(source, raw)


async def recvfrom_into(
    fd: int,
    buffer: object,
    offset: int = 0,
    length: int | None = None,
    *,
    timeout: float | None = None,
) -> tuple[int, SockAddr | str]:
    """Receive one datagram into ``buffer[offset:offset + length]``.

    JSRE equivalent: ``socket.recvfrom(sockFd, remoteAddr, buffer, offset, length, timeout)``.

    Returns:
        The byte count and the sender's address.

    Raises:
        Timeout: nothing arrived within ``timeout`` seconds.
    """
    if timeout is not None:
        timeout = check_timeout(timeout)
    view = writable_view(buffer, offset, length)
    source = entry(fd)
    count, raw = await perform(source, READ, timeout, "recvfrom_into", _recvfrom_into, source, view)
    return count, _source_address(source, raw)


def _source_address(source: Entry, raw: object) -> SockAddr | str:
    # Linux gives no source address on a connection-mode socket (the stdlib
    # then returns None): the data came from the connected peer. An unnamed
    # Unix-domain sender has no address either: '' as accept reports it.
    if raw is None:
        try:
            raw = source.sock.getpeername()
        except OSError:
            raw = ""
    return from_os(raw)
