"""What ``Tcp`` and ``Udp`` share: owning one fd, closing it, handing it away.

Ownership is explicit: an object holds its fd until ``close()`` (which
closes it) or ``fly_away()`` (which gives it to the caller); after either,
``sock_fd`` is ``-1`` and every other use raises
``trio.ClosedResourceError``. An object that is garbage-collected while it
still owns its fd closes it and emits a ``ResourceWarning`` (JSRE's "file
descriptor recycling").
"""

from __future__ import annotations

import warnings
from types import TracebackType
from typing import TypeVar

import trio

from ._core._addr import SockAddr
from ._core._fdtable import Entry, entry, let_go
from ._fd_basic import close as _close
from ._fd_basic import error as _error
from ._fd_basic import peer_name as _peer_name
from ._fd_basic import sock_name as _sock_name
from ._fd_options import bind_to_device as _bind_to_device
from ._fd_options import get_recv_buffer_size as _get_recv_buffer_size
from ._fd_options import get_send_buffer_size as _get_send_buffer_size
from ._fd_options import set_recv_buffer_size as _set_recv_buffer_size
from ._fd_options import set_reuse_addr as _set_reuse_addr
from ._fd_options import set_send_buffer_size as _set_send_buffer_size
from ._fd_options import set_ttl as _set_ttl

__all__ = ["SocketObject", "ip_address"]

_Self = TypeVar("_Self", bound="SocketObject")


class SocketObject:
    """Base of ``trionet.tcp.Tcp`` and ``trionet.udp.Udp``: one owned fd."""

    _fd: int = -1

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def sock_fd(self) -> int:
        """The fd, or ``-1`` once closed or flown away. JSRE equivalent: ``sockFd``."""
        return self._fd

    @property
    def closed(self) -> bool:
        """Whether the object no longer owns an fd."""
        return self._fd < 0

    def _live(self) -> int:
        if self._fd < 0:
            raise trio.ClosedResourceError(f"this {type(self).__name__} is closed")
        return self._fd

    def _entry(self) -> Entry:
        return entry(self._live())

    def close(self) -> None:
        """Close the socket, waking every task blocked on it; twice is a no-op.

        JSRE equivalent: ``close()``.
        """
        fd, self._fd = self._fd, -1
        if fd >= 0:
            _close(fd)

    def fly_away(self) -> int:
        """Give up the fd without closing it: the caller owns it from now on.

        The object becomes closed. Tasks of this run blocked on the fd wake
        with ``trio.ClosedResourceError``, and this run stops watching it,
        so another task (another trio run) can adopt it with ``create_by_fd``.

        JSRE equivalent: ``flyAway()``.
        """
        fd = self._live()
        self._fd = -1
        let_go(fd)
        return fd

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if self._fd >= 0:
            warnings.warn(
                f"{type(self).__name__} with fd {self._fd} was never closed",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<{type(self).__name__} {state}>"

    def sock_name(self) -> SockAddr:
        """The local address. JSRE equivalent: ``sockName()``."""
        return ip_address(_sock_name(self._live()))

    def peer_name(self) -> SockAddr:
        """The remote address. JSRE equivalent: ``peerName()``."""
        return ip_address(_peer_name(self._live()))

    def error(self) -> int:
        """Read and clear the pending socket error. JSRE equivalent: ``error()``."""
        return _error(self._live())

    def bind_to_device(self, ifname: str | None = None) -> None:
        """Use only the interface ``ifname``. JSRE equivalent: ``bindToDevice()``."""
        _bind_to_device(self._live(), ifname)

    def set_ttl(self, ttl: int) -> None:
        """Set the IP TTL, ``1..255``. JSRE equivalent: ``setTTL()``."""
        _set_ttl(self._live(), ttl)

    def set_reuse_addr(self, enable: bool) -> None:
        """Set ``SO_REUSEADDR``. JSRE equivalent: ``setReuseAddr()``."""
        _set_reuse_addr(self._live(), enable)

    def get_recv_buffer_size(self) -> int:
        """The receive buffer size. JSRE equivalent: ``getRecvBufferSize()``."""
        return _get_recv_buffer_size(self._live())

    def get_send_buffer_size(self) -> int:
        """The send buffer size. JSRE equivalent: ``getSendBufferSize()``."""
        return _get_send_buffer_size(self._live())

    def set_recv_buffer_size(self, size: int) -> None:
        """Set the receive buffer size. JSRE equivalent: ``setRecvBufferSize()``."""
        _set_recv_buffer_size(self._live(), size)

    def set_send_buffer_size(self, size: int) -> None:
        """Set the send buffer size. JSRE equivalent: ``setSendBufferSize()``."""
        _set_send_buffer_size(self._live(), size)


def ip_address(address: SockAddr | str) -> SockAddr:
    """``address`` of a ``Tcp`` or ``Udp``: always an IP one, never a Unix path."""
    # Tcp and Udp only ever hold IPv4 or IPv6 sockets (create_by_fd checks).
    assert isinstance(address, SockAddr)
    return address
