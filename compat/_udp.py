"""``Udp`` for sync code: a UDP object whose calls block the calling thread.

The constructors, ``bind`` / ``connect`` and the options are
``trionet._udp_base.UdpBase``'s, the same code as the async
``trionet.udp.Udp``; this class adds the blocking calls.
"""

from __future__ import annotations

from typing import final

from trionet._core._addr import SockAddr
from trionet._sockobj import ip_address
from trionet._types import Address, SendData, WritableBuffer
from trionet._udp_base import UdpBase

from . import _fd_io as fdio
from ._sockobj import SyncSocketObject

__all__ = ["Udp"]


@final
class Udp(UdpBase, SyncSocketObject):
    """A UDP socket, blocking, owning one fd, with broadcast and multicast options.

    ``with`` (or ``close``) closes it; closing it from another thread
    wakes a call blocked on it with ``trio.ClosedResourceError``.

    JSRE equivalent: the ``Udp`` object (EdgerOS ``udp`` module).
    """

    def send(self, data: SendData, *, timeout: float | None = None) -> int:
        """Send one datagram to the connected peer. JSRE equivalent: ``udp.send()``."""
        return fdio.send(self._live(), data, timeout=timeout)

    def sendto(self, addr: Address, data: SendData, *, timeout: float | None = None) -> int:
        """Send one datagram to ``addr``. JSRE equivalent: ``udp.sendto(saddr, data)``."""
        return fdio.sendto(self._live(), addr, data, timeout=timeout)

    def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Receive one datagram. JSRE equivalent: ``udp.recv()``."""
        return fdio.recv(self._live(), max_bytes, timeout=timeout)

    def recvfrom(
        self, max_bytes: int = 65536, *, timeout: float | None = None
    ) -> tuple[bytes, SockAddr]:
        """Receive one datagram and its sender. JSRE equivalent: ``udp.recvfrom()``."""
        got, sender = fdio.recvfrom(self._live(), max_bytes, timeout=timeout)
        return got, ip_address(sender)

    def recvfrom_into(
        self,
        buffer: WritableBuffer,
        offset: int = 0,
        length: int | None = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, SockAddr]:
        """Receive one datagram into ``buffer``. JSRE: ``udp.recvfrom(buffer, ...)``."""
        got, sender = fdio.recvfrom_into(self._live(), buffer, offset, length, timeout=timeout)
        return got, ip_address(sender)
