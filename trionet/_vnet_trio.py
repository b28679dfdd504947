"""trio's own socket interface over a virtual datagram socket: DTLS inside a ``VirtualNetwork``.

trionet's DTLS runs on ``trio.DTLSEndpoint``, which makes its datagram
socket with ``trio.socket.socket`` and accepts only trio socket objects
(trio's own wrapper takes nothing but an exact ``socket.socket``, and a
virtual socket is a subclass). So every run of the block installs
``Factory`` with ``trio.socket.set_custom_socket_factory``: a datagram
socket asked for inside the block is a ``TrioDatagram`` around the
simulation's socket, and waits for its eventfd as trio's sockets wait for
theirs. Stream sockets made through trio's API (``trio.open_tcp_stream``)
are not trionet's and stay real, as does any socket made outside the
block's context.
"""

from __future__ import annotations

import socket as _stdsocket
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from . import _seam

__all__ = ["Factory", "TrioDatagram"]

_T = TypeVar("_T")
_FLAGS = _stdsocket.SOCK_NONBLOCK | _stdsocket.SOCK_CLOEXEC


class TrioDatagram(trio.socket.SocketType):
    """A virtual UDP socket with ``trio.socket.SocketType``'s interface (what DTLS uses of it)."""

    def __init__(self, sock: _seam.SimulatedSocket) -> None:
        super().__init__()
        self._sock = sock

    @property
    def family(self) -> _stdsocket.AddressFamily:
        return self._sock.family

    @property
    def type(self) -> _stdsocket.SocketKind:
        return self._sock.type

    @property
    def proto(self) -> int:
        return self._sock.proto

    def fileno(self) -> int:
        return self._sock.fileno()

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        if buflen is None:
            return self._sock.getsockopt(level, optname)
        return self._sock.getsockopt(level, optname, buflen)

    def setsockopt(self, level: int, optname: int, value: Any, length: int | None = None) -> None:
        if length is None:
            self._sock.setsockopt(level, optname, value)
        else:
            self._sock.setsockopt(level, optname, value, length)

    def __enter__(self) -> TrioDatagram:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<trio socket over {self._sock!r}>"

    def close(self) -> None:
        fd = self._sock.fileno()
        if fd >= 0:
            trio.lowlevel.notify_closing(fd)  # waiters get ClosedResourceError, as trio's do
        self._sock.close()

    async def bind(self, address: Any) -> None:
        await trio.lowlevel.checkpoint()
        self._sock.bind(address)

    async def wait_writable(self) -> None:
        # A datagram socket always takes a send (a full receiver drops it).
        await trio.lowlevel.checkpoint()

    async def connect(self, address: Any) -> None:
        await trio.lowlevel.checkpoint()
        self._sock.connect(address)

    async def sendto(self, data: Any, *args: Any) -> int:
        return await self._io(self._sock.sendto, data, *args)

    async def send(self, data: Any, flags: int = 0) -> int:
        return await self._io(self._sock.send, data, flags)

    async def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return await self._io(self._sock.recvfrom, bufsize, flags)

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return await self._io(self._sock.recv, bufsize, flags)

    async def _io(self, call: Callable[..., _T], *args: Any) -> _T:
        """Call until it does not block, checkpointing as trio's sockets do."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                result = call(*args)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._sock.fileno())
                continue
            await trio.lowlevel.cancel_shielded_checkpoint()
            return result


class Factory(trio.abc.SocketFactory):
    """``trio.socket.socket`` inside the block: virtual datagram sockets, as the current host."""

    def socket(
        self,
        family: _stdsocket.AddressFamily | int = _stdsocket.AF_INET,
        type: _stdsocket.SocketKind | int = _stdsocket.SOCK_STREAM,
        proto: int = 0,
    ) -> trio.socket.SocketType:
        simulation = _seam.current()
        inet = family in (_stdsocket.AF_INET, _stdsocket.AF_INET6)
        if simulation is None or not inet or type & ~_FLAGS != _stdsocket.SOCK_DGRAM:
            return trio.socket.from_stdlib_socket(_stdsocket.socket(family, type, proto))
        return TrioDatagram(simulation.socket(family, type))
