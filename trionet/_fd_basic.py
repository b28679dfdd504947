"""The non-blocking calls of the fd level: create, bind, listen, names, state."""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket as _stdsocket
import struct
import termios

from ._core import _readiness, _seam
from ._core._addr import SockAddr, from_os, ip_domain
from ._core._args import os_address
from ._core._checks import check_int
from ._core._constants import AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_STREAM
from ._core._fdtable import close as _close
from ._core._fdtable import close_socket, entry, register, wake_sleepers
from ._core._named import named
from ._types import FdAddress

__all__ = [
    "bind",
    "close",
    "disconnect",
    "domain",
    "error",
    "is_eof",
    "is_listen",
    "listen",
    "mports",
    "peer_name",
    "pending",
    "shutdown",
    "sock_name",
    "socket",
]

_SHUTDOWN = {"r": _stdsocket.SHUT_RD, "w": _stdsocket.SHUT_WR, "rw": _stdsocket.SHUT_RDWR}


def socket(domain: int, type: int) -> int:
    """Create a non-blocking, close-on-exec socket and return its fd.

    JSRE equivalent: ``socket.socket(domain, type)``.

    Args:
        domain: ``AF_INET``, ``AF_INET6`` or ``AF_UNIX``.
        type: ``SOCK_STREAM`` (TCP) or ``SOCK_DGRAM`` (UDP).

    Raises:
        ValueError: an unsupported domain or type.
    """
    check_int("domain", domain, 0, 2**16)
    check_int("type", type, 0, 2**16)
    if domain not in (AF_INET, AF_INET6, AF_UNIX):
        raise ValueError(f"domain must be AF_INET, AF_INET6 or AF_UNIX, got {domain}")
    if type not in (SOCK_STREAM, SOCK_DGRAM):
        raise ValueError(f"type must be SOCK_STREAM or SOCK_DGRAM, got {type}")
    flags = _stdsocket.SOCK_NONBLOCK | _stdsocket.SOCK_CLOEXEC
    return register(_seam.socket(domain, type | flags)).fd


def close(fd: int) -> None:
    """Close ``fd`` and every extra listener ``mports`` added to it.

    Every task blocked on it, in any trio run, wakes with
    ``trio.ClosedResourceError``. Closing twice is a no-op.

    JSRE equivalent: ``socket.close(sockFd)``.
    """
    _close(fd)


def domain(fd_or_addr: int | str) -> int:
    """The family (``AF_INET`` / ``AF_INET6`` / ``AF_UNIX``) of an fd or of an IP string.

    JSRE equivalent: ``socket.domain(sockFd)`` and ``socket.domain(ipaddr)``.

    Raises:
        ValueError: a string that is not a numeric IP address.
        TypeError: neither an int nor a str.
    """
    if isinstance(fd_or_addr, str):
        family = ip_domain(fd_or_addr)
        if family is None:
            raise ValueError(f"{fd_or_addr!r} is not a numeric IP address")
        return family
    if isinstance(fd_or_addr, bool) or not isinstance(fd_or_addr, int):
        raise TypeError(
            f"fd_or_addr must be an fd or an IP string, not {type(fd_or_addr).__name__}"
        )
    return int(entry(fd_or_addr).sock.family)


def bind(fd: int, addr: FdAddress) -> None:
    """Bind ``fd`` to a local address (port ``0`` lets the system choose).

    JSRE equivalent: ``socket.bind(sockFd, sockaddr)``.

    Raises:
        ValueError: ``addr`` is not numeric or does not fit the socket's family.
        OSError: the kernel refused (``EADDRINUSE``, ``EADDRNOTAVAIL``, ...),
            naming the address in its message and ``filename``.
    """
    target = entry(fd)
    address = os_address(target, addr)
    try:
        target.sock.bind(address)
    except OSError as exc:
        raise named(exc, address) from None


def listen(fd: int, backlog: int = 5) -> None:
    """Mark a bound stream fd as accepting connections.

    JSRE equivalent: ``socket.listen(sockFd, backlog)``.
    """
    check_int("backlog", backlog, 0, 65535)
    target = entry(fd)
    try:
        target.sock.listen(backlog)
    except OSError as exc:
        raise named(exc, target.sock.getsockname()) from None
    target.backlog = backlog


_libc = ctypes.CDLL(None, use_errno=True)
_UNSPEC_ADDRESS = struct.pack("=H14x", _stdsocket.AF_UNSPEC)


def disconnect(fd: int) -> None:
    """Forget a UDP socket's connected peer (``connect`` to ``AF_UNSPEC``).

    JSRE equivalent: ``socket.disconnect(sockFd)``.

    Raises:
        ValueError: ``fd`` is not a datagram socket.
    """
    target = entry(fd)
    if target.stream:
        raise ValueError("disconnect applies to datagram (UDP) sockets only")
    if isinstance(target.sock, _seam.SimulatedSocket):
        target.sock.disconnect()
        return
    if _libc.connect(target.fd, _UNSPEC_ADDRESS, len(_UNSPEC_ADDRESS)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def pending(fd: int) -> int:
    """Bytes queued for reading now (``FIONREAD``).

    JSRE equivalent: ``socket.pending(sockFd)``.
    """
    target = entry(fd)
    if isinstance(target.sock, _seam.SimulatedSocket):
        return target.sock.pending()
    result = fcntl.ioctl(target.fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", result)[0])


def shutdown(fd: int, how: str = "rw") -> None:
    """Shut down reading (``"r"``), writing (``"w"``, sends FIN) or both (``"rw"``).

    JSRE equivalent: ``socket.shutdown(sockFd, how)``.

    Raises:
        ValueError: ``how`` is not ``"r"``, ``"w"`` or ``"rw"``.
    """
    if not isinstance(how, str):
        raise TypeError(f"how must be a str, not {type(how).__name__}")
    if how not in _SHUTDOWN:
        raise ValueError(f"how must be 'r', 'w' or 'rw', got {how!r}")
    entry(fd).sock.shutdown(_SHUTDOWN[how])


def error(fd: int) -> int:
    """Read and clear the socket's pending error (``SO_ERROR``); ``0`` for none.

    JSRE equivalent: ``socket.error(sockFd)``.
    """
    return entry(fd).sock.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ERROR)


def mports(fd: int, count: int) -> None:
    """Also listen on the ``count`` consecutive ports after the listener's own.

    ``accept(fd)`` then returns connections from any of them and
    ``close(fd)`` closes them all. Calling it again sets a new count: the
    listeners still wanted are kept (with their queued connections), the
    others closed; a task waiting in ``accept`` goes on waiting on the new
    set. Linux has no multi-port listener, so each extra port is a listening
    socket of its own, held with the fd.

    JSRE equivalent: ``socket.mports(sockFd, mports)``.

    Raises:
        ValueError: ``fd`` is not a listening TCP socket, or a port would pass 65535.
        OSError: a port is taken (none of the new listeners is kept).
    """
    check_int("count", count, 0, 65535)
    listener = entry(fd)
    if listener.sock.family not in (AF_INET, AF_INET6) or not listener.stream:
        raise ValueError("mports applies to TCP listeners only")
    if not is_listen(fd):
        raise ValueError("mports needs a listening socket: call listen(fd) first")
    local = listener.sock.getsockname()
    if local[1] + count > 65535:
        raise ValueError(f"count {count} would take the ports past 65535")
    kept = listener.extras[:count]
    dropped = listener.extras[count:]
    # Out of the list before closed: an accept in another thread must never
    # meet a closed extra.
    listener.extras = kept
    for extra in dropped:
        _readiness.release(extra.fileno(), retry=True)
        close_socket(extra)
    added: list[_stdsocket.socket] = []
    try:
        for offset in range(len(kept) + 1, count + 1):
            extra = _seam.socket(listener.sock.family, listener.sock.type)
            added.append(extra)
            extra.setblocking(False)
            extra.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_REUSEADDR, 1)
            extra.bind((local[0], local[1] + offset, *local[2:]))
            extra.listen(listener.backlog)
    except BaseException:
        for extra in added:
            extra.close()
        listener.extras = kept
        raise
    listener.extras = kept + added
    # A task or thread waiting in accept() retries, and so waits on the new
    # set of ports.
    _readiness.release(listener.fd, retry=True)
    wake_sleepers(listener)


def is_listen(fd: int) -> bool:
    """Whether ``fd`` is a listening socket.

    JSRE equivalent: ``socket.isListen(sockFd)``.
    """
    return bool(entry(fd).sock.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ACCEPTCONN))


def is_eof(fd: int) -> bool:
    """Whether the last receive on ``fd`` met the orderly end of the stream.

    JSRE equivalent: ``socket.isEOF()``.
    """
    return entry(fd).eof


def sock_name(fd: int) -> SockAddr | str:
    """The local address of ``fd`` (a path for Unix-domain sockets).

    JSRE equivalent: ``socket.sockName(sockFd)``.
    """
    return from_os(entry(fd).sock.getsockname())


def peer_name(fd: int) -> SockAddr | str:
    """The remote address of a connected ``fd``.

    JSRE equivalent: ``socket.peerName(sockFd)``.

    Raises:
        OSError: ``ENOTCONN`` when it is not connected.
    """
    return from_os(entry(fd).sock.getpeername())
