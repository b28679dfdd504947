"""The blocking calls of the fd level, prepared once for every driver.

Each function here validates a call's arguments (raising ``TypeError`` or
``ValueError`` before any system call), finds the socket, and returns a
``Call``: the attempt to run, which way it waits, and its timeout.
The async API (``trionet._fd_io``) hands the call to
``trionet._core._drive_trio.perform``, which waits on trio; ``trionet.compat``
hands the very same call to its driver, which waits with ``poll`` in the
calling thread. What a result means afterwards (a new fd to register, the
sender's address) is also decided here, once.
"""

from __future__ import annotations

import socket as _stdsocket
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .._types import Buffer
from ._addr import SockAddr, from_os
from ._args import os_address, outgoing, writable_view
from ._attempts import Connect, OsAddress
from ._attempts import accept as _accept
from ._attempts import recv as _recv
from ._attempts import recv_into as _recv_into
from ._attempts import recvfrom as _recvfrom
from ._attempts import recvfrom_into as _recvfrom_into
from ._attempts import send as _send
from ._attempts import sendto as _sendto
from ._checks import check_int
from ._fdtable import Entry, entry, register
from ._readiness import READ, WRITE, Direction
from ._timeout import check_timeout

__all__ = [
    "MAX_RECV",
    "Call",
    "accept",
    "accepted",
    "check_recv_size",
    "plain_recv_size",
    "connect",
    "recv",
    "recv_into",
    "recvfrom",
    "recvfrom_into",
    "send",
    "sendto",
    "source_address",
]

T = TypeVar("T")

# The largest ``max_bytes`` a receive takes: a C int, as the kernel counts.
MAX_RECV = 2**31 - 1


class Call(Generic[T]):
    """One blocking operation, ready to run: ``attempt(*args)`` until it stops blocking.

    Attributes:
        entry: The socket; a listener with ``mports`` waits on all its fds.
        direction: ``READ`` or ``WRITE`` from ``trionet._core._readiness``.
        timeout: Validated seconds, or ``None``; ``0`` tries once.
        what: Names the operation in the ``Timeout`` message.
        listener: An accept: it waits on every fd of the listener, which
            ``mports`` may change while it waits.
    """

    __slots__ = ("args", "attempt", "direction", "entry", "listener", "timeout", "what")

    def __init__(
        self,
        entry: Entry,
        direction: Direction,
        timeout: float | None,
        what: str,
        attempt: Callable[..., T],
        *args: Any,
        listener: bool = False,
    ) -> None:
        self.entry = entry
        self.listener = listener
        self.direction = direction
        self.timeout = timeout
        self.what = what
        self.attempt = attempt
        self.args = args


def _timeout(timeout: float | None) -> float | None:
    return timeout if timeout is None else check_timeout(timeout)


def plain_recv_size(value: object) -> bool:
    """Whether ``value`` is a valid ``max_bytes`` as it is (an int in range)."""
    return type(value) is int and 0 <= value <= MAX_RECV


def check_recv_size(value: object) -> int:
    """``max_bytes`` of a receive, checked: an int in ``0..`` the largest read."""
    if type(value) is int and 0 <= value <= MAX_RECV:
        return value
    return check_int("max_bytes", value, 0, MAX_RECV)


def accept(fd: int, timeout: float | None) -> Call[tuple[_stdsocket.socket, OsAddress]]:
    timeout = _timeout(timeout)
    listener = entry(fd)
    return Call(listener, READ, timeout, "accept", _accept, listener, listener=True)


def accepted(result: tuple[_stdsocket.socket, OsAddress]) -> tuple[int, SockAddr | str]:
    """Register an accepted socket: its fd and the peer's address."""
    sock, raw = result
    sock.setblocking(False)
    return register(sock).fd, from_os(raw)


def connect(fd: int, addr: object, timeout: float | None) -> Call[None]:
    timeout = _timeout(timeout)
    target = entry(fd)
    return Call(target, WRITE, timeout, "connect", Connect(target, os_address(target, addr)))


def send(fd: int, data: object, timeout: float | None) -> Call[int]:
    timeout = _timeout(timeout)
    payload = outgoing(data)
    target = entry(fd)
    return Call(target, WRITE, timeout, "send", _send, target, payload)


def send_checked(target: Entry, payload: Buffer) -> Call[int]:
    """``send`` of a payload already checked (``send_all``'s rest), with no timeout of its own."""
    return Call(target, WRITE, None, "send", _send, target, payload)


def sendto(fd: int, addr: object, data: object, timeout: float | None) -> Call[int]:
    timeout = _timeout(timeout)
    payload = outgoing(data)
    target = entry(fd)
    address = os_address(target, addr)
    return Call(target, WRITE, timeout, "sendto", _sendto, target, payload, address)


def recv(fd: int, max_bytes: int, timeout: float | None) -> Call[bytes]:
    timeout = _timeout(timeout)
    size = check_recv_size(max_bytes)
    source = entry(fd)
    return Call(source, READ, timeout, "recv", _recv, source, size)


def recv_into(
    fd: int, buffer: object, offset: int, length: int | None, timeout: float | None
) -> Call[int]:
    timeout = _timeout(timeout)
    view = writable_view(buffer, offset, length)
    source = entry(fd)
    return Call(source, READ, timeout, "recv_into", _recv_into, source, view)


def recvfrom(fd: int, max_bytes: int, timeout: float | None) -> Call[tuple[bytes, OsAddress]]:
    timeout = _timeout(timeout)
    size = check_recv_size(max_bytes)
    source = entry(fd)
    return Call(source, READ, timeout, "recvfrom", _recvfrom, source, size)


def recvfrom_into(
    fd: int, buffer: object, offset: int, length: int | None, timeout: float | None
) -> Call[tuple[int, OsAddress]]:
    timeout = _timeout(timeout)
    view = writable_view(buffer, offset, length)
    source = entry(fd)
    return Call(source, READ, timeout, "recvfrom_into", _recvfrom_into, source, view)


def source_address(source: Entry, raw: object) -> SockAddr | str:
    """The sender of a received datagram or chunk, as the fd level reports it."""
    # Linux gives no source address on a connection-mode socket (the stdlib
    # then returns None): the data came from the connected peer. An unnamed
    # Unix-domain sender has no address either: '' as accept reports it.
    if raw is None:
        try:
            raw = source.sock.getpeername()
        except OSError:
            raw = ""
    return from_os(raw)
