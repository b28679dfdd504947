"""``Udp``: one UDP socket as an object (JSRE ``udp`` in the ``tcp`` module's style)."""

from __future__ import annotations

from typing import final

from . import _fd_io as fdio
from ._core._addr import SockAddr
from ._sockobj import ip_address
from ._types import Address, SendData, WritableBuffer
from ._udp_base import UdpBase

__all__ = ["Udp"]


@final
class Udp(UdpBase):
    """A UDP socket owning one fd, with broadcast and multicast options.

    The constructors and options are ``trionet._udp_base.UdpBase``'s,
    shared with the blocking ``trionet.compat.udp.Udp``; this class adds
    the async calls.

    JSRE equivalent: the ``Udp`` object (EdgerOS ``udp`` module).
    """

    async def send(self, data: SendData, *, timeout: float | None = None) -> int:
        """Send one datagram to the connected peer. JSRE equivalent: ``udp.send()``."""
        return await fdio.send(self._live(), data, timeout=timeout)

    async def sendto(self, addr: Address, data: SendData, *, timeout: float | None = None) -> int:
        """Send one datagram to ``addr``. JSRE equivalent: ``udp.sendto(saddr, data)``."""
        return await fdio.sendto(self._live(), addr, data, timeout=timeout)

    async def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Receive one datagram. JSRE equivalent: ``udp.recv()``."""
        return await fdio.recv(self._live(), max_bytes, timeout=timeout)

    async def recvfrom(
        self, max_bytes: int = 65536, *, timeout: float | None = None
    ) -> tuple[bytes, SockAddr]:
        """Receive one datagram and its sender. JSRE equivalent: ``udp.recvfrom()``."""
        got, sender = await fdio.recvfrom(self._live(), max_bytes, timeout=timeout)
        return got, ip_address(sender)

    async def recvfrom_into(
        self,
        buffer: WritableBuffer,
        offset: int = 0,
        length: int | None = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, SockAddr]:
        """Receive one datagram into ``buffer``. JSRE: ``udp.recvfrom(buffer, ...)``."""
        got, sender = await fdio.recvfrom_into(
            self._live(), buffer, offset, length, timeout=timeout
        )
        return got, ip_address(sender)
