"""The blocking calls of the fd level: trio operations with a ``timeout``.

Each prepares a ``trionet._core._prepare.Call`` (shared with ``trionet.compat``)
and runs it with ``trionet._core._drive_trio.perform``: the system call is tried
first and trio is waited on only when it would block.
"""

from __future__ import annotations

from ._core import _attempts, _prepare
from ._core._addr import SockAddr
from ._core._drive_trio import perform, perform_untimed
from ._core._fdtable import known
from ._core._readiness import READ, WRITE
from ._types import FdAddress, SendData, WritableBuffer

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

_PLAIN_BUFFERS = frozenset({bytes, bytearray, memoryview})


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
    return _prepare.accepted(await perform(_prepare.accept(fd, timeout)))


async def connect(fd: int, addr: FdAddress, *, timeout: float | None = None) -> None:
    """Connect ``fd`` to ``addr``; for UDP, set its default peer.

    After a timeout or cancellation the fd is still open and still the
    caller's to close; its connection attempt is abandoned.

    JSRE equivalent: ``socket.connect(sockFd, remoteAddr, timeout)``.

    Raises:
        Timeout: the connection was not made within ``timeout`` seconds.
        ConnectionRefusedError: nothing listens there (and other ``OSError``).
    """
    await perform(_prepare.connect(fd, addr, timeout))


async def send(fd: int, data: SendData, *, timeout: float | None = None) -> int:
    """Send once; return how many bytes the kernel took (maybe fewer than given).

    ``data`` may be bytes-like, ``str`` (sent as UTF-8) or a list of
    bytes-like objects, sent with one gathered ``sendmsg``.

    JSRE equivalent: ``socket.send(sockFd, data, timeout)``.

    Raises:
        Timeout: the socket could not take any byte within ``timeout``.
    """
    # The usual call (a known fd, a plain buffer, no timeout) skips building
    # a Call: these types are what ``outgoing`` passes through unchanged.
    target = known(fd)
    if target is not None and timeout is None and type(data) in _PLAIN_BUFFERS:
        return await perform_untimed(target, WRITE, "send", _attempts.send, target, data)
    return await perform(_prepare.send(fd, data, timeout))


async def sendto(fd: int, addr: FdAddress, data: SendData, *, timeout: float | None = None) -> int:
    """Send one datagram (or stream chunk) to ``addr``; return the bytes sent.

    JSRE equivalent: ``socket.sendto(sockFd, remoteAddr, data, timeout)``.

    Raises:
        Timeout: the socket could not take the data within ``timeout``.
    """
    return await perform(_prepare.sendto(fd, addr, data, timeout))


async def recv(fd: int, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
    """Receive up to ``max_bytes``; ``b""`` at the orderly end of a stream.

    JSRE equivalent: ``socket.recv(sockFd, buffer, offset, length, timeout)``.

    Raises:
        Timeout: nothing arrived within ``timeout`` seconds.
    """
    # The usual call (a known fd, a plain size, no timeout) skips building a Call.
    source = known(fd)
    if source is not None and timeout is None and _prepare.plain_recv_size(max_bytes):
        return await perform_untimed(source, READ, "recv", _attempts.recv, source, max_bytes)
    return await perform(_prepare.recv(fd, max_bytes, timeout))


async def recv_into(
    fd: int,
    buffer: WritableBuffer,
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
    return await perform(_prepare.recv_into(fd, buffer, offset, length, timeout))


async def recvfrom(
    fd: int, max_bytes: int = 65536, *, timeout: float | None = None
) -> tuple[bytes, SockAddr | str]:
    """Receive one datagram (up to ``max_bytes``) and the address it came from.

    JSRE equivalent: ``socket.recvfrom(sockFd, remoteAddr, buffer, ...)``.

    Raises:
        Timeout: nothing arrived within ``timeout`` seconds.
    """
    call = _prepare.recvfrom(fd, max_bytes, timeout)
    data, raw = await perform(call)
    return data, _prepare.source_address(call.entry, raw)


async def recvfrom_into(
    fd: int,
    buffer: WritableBuffer,
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
    call = _prepare.recvfrom_into(fd, buffer, offset, length, timeout)
    count, raw = await perform(call)
    return count, _prepare.source_address(call.entry, raw)
