"""trio's own sockets on the virtual network: a ``trio.socket.SocketType`` over a virtual socket.

trionet's DTLS runs on ``trio.DTLSEndpoint``, which makes its datagram
socket with ``trio.socket.socket`` and accepts only trio socket objects,
and a test's peer is often plain trio (``trio.open_tcp_stream``,
``trio.open_tcp_listeners``, ``trio.socket.socket()``). trio's own wrapper
takes nothing but an exact ``socket.socket`` and calls its C methods, so
every run of the block installs ``Factory`` with
``trio.socket.set_custom_socket_factory``: a socket asked for inside the
block is a ``VTrioSocket``, trio's socket interface (what trio's streams,
listeners and DTLS call) whose calls go to a virtual socket of the
current host. A socket made outside the block's context stays real.

Waits do not go through the fd: a virtual socket's eventfd cannot show
"neither readable nor writable" (see ``_vnet_socket``), and trio's
level-triggered waits would spin there. They wait for the kernel's own
state change instead.
"""

from __future__ import annotations

import contextlib
import errno
import socket as _stdsocket
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._core import _seam
from ._vnet_socket import VSocket, os_error

__all__ = ["Factory", "VTrioSocket"]

_READING, _WRITING = "reading from", "writing to"

# trio resolves an address argument (names, "", the IPv4-mapped form) in
# this private function; using it keeps the virtual sockets' addresses
# exactly trio's.
_resolve_address_nocp = trio._socket._resolve_address_nocp


class Factory(trio.abc.SocketFactory):
    """``trio.socket.socket`` inside the block: virtual sockets, as the current host."""

    def socket(
        self,
        family: _stdsocket.AddressFamily | int = _stdsocket.AF_INET,
        type: _stdsocket.SocketKind | int = _stdsocket.SOCK_STREAM,
        proto: int = 0,
    ) -> trio.socket.SocketType:
        simulation = _seam.current()
        if simulation is None:  # a task of this run that left the block's context
            return trio.socket.from_stdlib_socket(_stdsocket.socket(family, type, proto))
        sock = simulation.socket(family, type)
        assert isinstance(sock, VSocket)
        return VTrioSocket(sock)


class VTrioSocket(trio.socket.SocketType):
    """A trio socket whose kernel is the virtual network's."""

    def __init__(self, sock: VSocket) -> None:
        super().__init__()
        self._sock = sock
        self._closed = False
        self._did_shutdown_SHUT_WR = False
        self._waiting: set[str] = set()

    # What trio's socket answers at once -------------------------------------

    @property
    def family(self) -> _stdsocket.AddressFamily:
        return self._sock.family

    @property
    def type(self) -> _stdsocket.SocketKind:
        return self._sock.type

    @property
    def proto(self) -> int:
        return 0

    @property
    def did_shutdown_SHUT_WR(self) -> bool:
        return self._did_shutdown_SHUT_WR

    def __repr__(self) -> str:
        return repr(self._sock).replace("<virtual socket", "<trio virtual socket", 1)

    def fileno(self) -> int:
        return self._sock.fileno()

    def detach(self) -> int:
        return self._sock.detach()

    def dup(self) -> trio.socket.SocketType:
        raise os_error(errno.EOPNOTSUPP, "a virtual socket cannot be duplicated")

    def get_inheritable(self) -> bool:
        return False

    def set_inheritable(self, inheritable: bool) -> None:
        """Virtual sockets are never inherited."""

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        return self._sock.getsockopt(level, optname, buflen)

    def setsockopt(self, level: int, optname: int, value: Any, optlen: int | None = None) -> None:
        if optlen is None:
            self._sock.setsockopt(level, optname, value)
        else:
            self._sock.setsockopt(level, optname, value, optlen)

    def listen(self, backlog: int = min(_stdsocket.SOMAXCONN, 128)) -> None:
        self._sock.listen(backlog)

    def shutdown(self, flag: int) -> None:
        self._sock.shutdown(flag)
        if flag in (_stdsocket.SHUT_WR, _stdsocket.SHUT_RDWR):
            self._did_shutdown_SHUT_WR = True

    def is_readable(self) -> bool:
        return self._sock.ready_to_read()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            fd = self._sock.fileno()
            if fd >= 0:  # a task waiting on the fd itself gets ClosedResourceError too
                trio.lowlevel.notify_closing(fd)
            self._sock.close()
            self._sock.wake_watchers()

    def __enter__(self) -> VTrioSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Waiting ------------------------------------------------------------------

    async def _wait(self, ready: Callable[[], bool], direction: str) -> None:
        """Sleep until ``ready()``; ``ClosedResourceError`` if the socket is closed meanwhile.

        As trio's own waits on an fd: a second task waiting in the same
        direction is a ``BusyResourceError`` (trio's streams rely on it).
        """
        if direction in self._waiting:
            raise trio.BusyResourceError(f"another task is already {direction} this socket")
        token = trio.lowlevel.current_trio_token()
        self._waiting.add(direction)
        try:
            while not ready():
                if self._closed:
                    raise trio.ClosedResourceError("another task closed this socket")
                event = trio.Event()

                def wake(event: trio.Event = event) -> None:
                    # The kernel may change state from a task's thread.
                    with contextlib.suppress(trio.RunFinishedError):
                        token.run_sync_soon(event.set)

                self._sock.watchers.append(wake)
                await event.wait()
        finally:
            self._waiting.discard(direction)
        if self._closed:
            raise trio.ClosedResourceError("another task closed this socket")

    async def _readable(self) -> None:
        await self._wait(self._sock.ready_to_read, _READING)

    async def wait_writable(self) -> None:
        if self._sock.ready_to_write():
            await trio.lowlevel.checkpoint()  # trio's wait always yields
        else:
            await self._wait(self._sock.ready_to_write, _WRITING)

    async def _io(self, wait: Callable[[], Awaitable[None]], call: Callable[[], Any]) -> Any:
        """A non-blocking call, retried as the socket turns ready; a checkpoint, as trio's are."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._closed:
                raise trio.ClosedResourceError("this socket was closed")
            try:
                result = call()
            except BlockingIOError:
                await wait()
                continue
            await trio.lowlevel.cancel_shielded_checkpoint()
            return result

    async def _resolve(self, address: Any, *, local: bool) -> Any:
        v6only = self.family == _stdsocket.AF_INET6 and bool(
            self._sock.getsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_V6ONLY)
        )
        return await _resolve_address_nocp(
            self.type, self.family, 0, ipv6_v6only=v6only, address=address, local=local
        )

    # Calls that wait ------------------------------------------------------------

    async def bind(self, address: Any) -> None:
        address = await self._resolve(address, local=True)
        await trio.lowlevel.checkpoint()
        self._sock.bind(address)

    async def accept(self) -> tuple[trio.socket.SocketType, Any]:
        child, address = await self._io(self._readable, self._sock.accept)
        return VTrioSocket(child), address

    async def connect(self, address: Any) -> None:
        # As trio's: a cancelled connect closes the socket.
        try:
            address = await self._resolve(address, local=False)
            await trio.lowlevel.checkpoint_if_cancelled()
            code = self._sock.connect_ex(address)
            if code == errno.EINPROGRESS:
                await self._wait(lambda: not getattr(self._sock, "connecting", False), _WRITING)
                code = self._sock.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ERROR)
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
        except trio.Cancelled:
            self.close()
            raise
        if code:
            raise os_error(code, f"Error connecting to {address!r}")

    async def recv(self, bufsize: int, flags: int = 0) -> bytes:
        result: bytes = await self._io(self._readable, lambda: self._sock.recv(bufsize, flags))
        return result

    async def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        result: int = await self._io(
            self._readable, lambda: self._sock.recv_into(buffer, nbytes, flags)
        )
        return result

    async def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        result: tuple[bytes, Any] = await self._io(
            self._readable, lambda: self._sock.recvfrom(bufsize, flags)
        )
        return result

    async def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        result: tuple[int, Any] = await self._io(
            self._readable, lambda: self._sock.recvfrom_into(buffer, nbytes, flags)
        )
        return result

    async def send(self, data: Any, flags: int = 0) -> int:
        result: int = await self._io(self.wait_writable, lambda: self._sock.send(data, flags))
        return result

    async def sendto(self, data: Any, *args: Any) -> int:
        address = await self._resolve(args[-1], local=False)
        result: int = await self._io(self.wait_writable, lambda: self._sock.sendto(data, address))
        return result

    async def sendmsg(
        self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None
    ) -> int:
        if address is not None:
            address = await self._resolve(address, local=False)
        result: int = await self._io(
            self.wait_writable,
            lambda: self._sock.sendmsg(buffers, ancdata, flags, address),
        )
        return result
