"""What the async and the sync ``Udp`` share: everything that never waits.

``UdpBase`` holds the constructors, ``bind`` / ``connect`` and the
options of a UDP object; ``trionet.udp.Udp`` adds the async calls and
``trionet.compat.udp.Udp`` the blocking ones.
"""

from __future__ import annotations

from typing import TypeVar

from . import _fd_basic as fdb
from . import _fd_options as fdo
from . import _multicast as mc
from ._core._addr import to_sockaddr
from ._core._args import os_address
from ._core._checks import check_bool, check_int
from ._core._constants import AF_INET, AF_INET6, SOCK_DGRAM
from ._core._fdtable import entry, kind
from ._sockobj import SocketObject
from ._types import Address

__all__ = ["UdpBase"]

_T = TypeVar("_T", bound="UdpBase")


class UdpBase(SocketObject):
    """A UDP socket owning one fd: constructors and options, without the waiting calls.

    Subclassed by ``trionet.udp.Udp`` (async) and
    ``trionet.compat.udp.Udp`` (blocking).

    JSRE equivalent: the ``Udp`` object (EdgerOS ``udp`` module).
    """

    @classmethod
    def create(
        cls: type[_T],
        addr: Address | None = None,
        *,
        domain: int = AF_INET,
        reuse_addr: bool = False,
        dev: str | None = None,
    ) -> _T:
        """Create a UDP socket, bound to ``addr`` when given.

        The family is ``addr``'s when an address is given, else ``domain``.

        JSRE equivalent: ``Udp.create(saddr, ...)``.

        Raises:
            ValueError: a bad address or domain.
        """
        local = None if addr is None else to_sockaddr(addr)
        check_int("domain", domain, 0, 2**16)
        check_bool("reuse_addr", reuse_addr)
        if dev is not None:
            fdo.check_ifname("dev", dev)
        if domain not in (AF_INET, AF_INET6):
            raise ValueError(f"domain must be AF_INET or AF_INET6, got {domain!r}")
        fd = fdb.socket(domain if local is None else local.domain, SOCK_DGRAM)
        try:
            if reuse_addr:
                fdo.set_reuse_addr(fd, True)
            if dev is not None:
                fdo.bind_to_device(fd, dev)
            if local is not None:
                fdb.bind(fd, local)
        except BaseException:
            fdb.close(fd)
            raise
        return cls(fd)

    @classmethod
    def create_by_fd(cls: type[_T], fd: int) -> _T:
        """Adopt a UDP socket fd; a rejected fd is left open and the caller's.

        JSRE equivalent: ``Udp.createByFd(sockFd)``.

        Raises:
            ValueError: ``fd`` is not an IPv4 or IPv6 datagram socket.
        """
        family, sock_type = kind(fd)
        if sock_type != SOCK_DGRAM or family not in (AF_INET, AF_INET6):
            raise ValueError(f"fd {fd} is not a UDP socket")
        return cls(entry(fd).fd)

    def bind(self, addr: Address) -> None:
        """Bind to a local address. JSRE equivalent: ``udp.bind(saddr)``."""
        fdb.bind(self._live(), addr)

    def connect(self, addr: Address) -> None:
        """Set the default peer (no packet is sent). JSRE equivalent: ``udp.connect(saddr)``."""
        target = self._entry()
        target.sock.connect(os_address(target, addr))

    def disconnect(self) -> None:
        """Forget the default peer. JSRE equivalent: ``udp.disconnect()``."""
        fdb.disconnect(self._live())

    def set_broadcast(self, enable: bool) -> None:
        """Allow sending to broadcast addresses. JSRE equivalent: ``udp.setBroadcast()``."""
        fdo.set_broadcast(self._live(), enable)

    def set_ipv6_only(self, enable: bool) -> None:
        """Restrict an IPv6 socket to IPv6. JSRE equivalent: ``udp.setIPv6Only()``."""
        fdo.set_ipv6_only(self._live(), enable)

    def add_membership(
        self, group: str, interface: str | None = None, source: str | None = None
    ) -> None:
        """Join a multicast group. JSRE equivalent: ``udp.addMembership()``."""
        mc.add_membership(self._live(), group, interface, source)

    def drop_membership(
        self, group: str, interface: str | None = None, source: str | None = None
    ) -> None:
        """Leave a multicast group. JSRE equivalent: ``udp.dropMembership()``."""
        mc.drop_membership(self._live(), group, interface, source)

    def set_multicast_interface(self, ifname: str | None) -> None:
        """Send multicast through ``ifname``. JSRE: ``udp.setMulticastInterface()``."""
        mc.set_multicast_interface(self._live(), ifname)

    def set_multicast_ttl(self, ttl: int) -> None:
        """TTL of outgoing multicast, ``0..255``. JSRE: ``udp.setMulticastTTL()``."""
        mc.set_multicast_ttl(self._live(), ttl)

    def set_multicast_loop(self, enable: bool) -> None:
        """Loop multicast back to this host. JSRE: ``udp.setMulticastLoop()``."""
        mc.set_multicast_loop(self._live(), enable)
