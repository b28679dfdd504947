"""Virtual datagram sockets: UDP (over links, with broadcast and multicast) and Unix datagrams.

A datagram goes to the socket bound to its destination address and port
on the destination host (or to that port on the wildcard); a connected
socket only takes datagrams from its peer. A full receive buffer drops
them, as does a lossy link or a partition (``lost`` in the trace).
Broadcast (``255.255.255.255`` or ``127.77.255.255``) needs
``SO_BROADCAST`` and reaches every host; a multicast group reaches every
socket that joined it, on every host (the sender's own with
``IP_MULTICAST_LOOP``, the default).
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import socket as _stdsocket
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from ._vnet_hosts import Host
from ._vnet_kernel import Kernel
from ._vnet_socket import VSocket, check_bufsize, os_error

__all__ = ["VDatagram"]

_BROADCASTS: Final = frozenset({"255.255.255.255", "127.77.255.255", "127.255.255.255"})
_MAX_DATAGRAM: Final = 65507
# linux/in.h: MCAST_JOIN_GROUP, MCAST_LEAVE_GROUP, MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP
_JOIN: Final = frozenset({42, 46})
_LEAVE: Final = frozenset({45, 47})
_SOL = _stdsocket.SOL_SOCKET


def _group_of(request: bytes) -> str:
    """The group address in a ``group_req`` / ``group_source_req`` (a sockaddr at offset 8)."""
    family = int.from_bytes(request[8:10], "little")
    if family == _stdsocket.AF_INET6:
        return str(ipaddress.IPv6Address(request[16:32]))
    return str(ipaddress.IPv4Address(request[12:16]))


class VDatagram(VSocket):
    """A virtual ``SOCK_DGRAM`` socket."""

    def __init__(self, kernel: Kernel, host: Host, family: int, type: int) -> None:
        super().__init__(kernel, host, family, type)
        self.inbox: deque[tuple[bytes, Any]] = deque()
        self.queued = 0
        self.peer_addr: Any = None
        self.groups: set[str] = set()

    def readable(self) -> bool:
        return bool(self.inbox)

    def writable(self) -> bool:
        return True

    def pending(self) -> int:
        return len(self.inbox[0][0]) if self.inbox else 0

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        if level in (_stdsocket.IPPROTO_IP, _stdsocket.IPPROTO_IPV6) and option in _JOIN | _LEAVE:
            self._check_alive()
            group = _group_of(bytes(value))
            if option in _JOIN:
                if group in self.groups:
                    raise os_error(errno.EADDRINUSE)
                self.groups.add(group)
            else:
                if group not in self.groups:
                    raise os_error(errno.EADDRNOTAVAIL)
                self.groups.discard(group)
            return
        super().setsockopt(level, option, value, optlen)

    # Connecting --------------------------------------------------------------

    def connect(self, address: Any) -> None:
        self._check_alive()
        if self._family == _stdsocket.AF_UNIX:
            path = os.fsdecode(address)
            if (_stdsocket.SOCK_DGRAM, path) not in self.host.paths:
                raise os_error(errno.ENOENT)
            self.peer_addr = path
            return
        self.autobind(address[0])
        self.peer_addr = self._address(address[0], address[1])

    def connect_ex(self, address: Any) -> int:
        try:
            self.connect(address)
        except OSError as exc:
            return exc.errno or errno.EINVAL
        return 0

    def disconnect(self) -> None:
        self._check_alive()
        self.peer_addr = None

    def getpeername(self) -> Any:
        if self.peer_addr is None:
            raise os_error(errno.ENOTCONN)
        return self.peer_addr

    # Sending ----------------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        if self.peer_addr is None:
            raise os_error(errno.EDESTADDRREQ)
        return self.sendto(data, self.peer_addr)

    def sendmsg(  # type: ignore[override]
        self, buffers: Sequence[Any], ancdata: Any = (), flags: int = 0, address: Any = None
    ) -> int:
        payload = b"".join(bytes(memoryview(item)) for item in buffers)
        if address is None:
            return self.send(payload)
        return self.sendto(payload, address)

    def sendto(self, data: Any, *args: Any) -> int:
        self._check_alive()
        address = args[-1]
        payload = bytes(memoryview(data).cast("B"))
        if len(payload) > _MAX_DATAGRAM:
            raise os_error(errno.EMSGSIZE)
        if self._family == _stdsocket.AF_UNIX:
            return self._send_unix(os.fsdecode(address), payload)
        addr, port = address[0], address[1]
        self.autobind(addr)
        if addr in _BROADCASTS:
            if not self.option(_SOL, _stdsocket.SO_BROADCAST):
                raise os_error(errno.EACCES)
            targets = list(self.kernel.hosts.values())
        elif ipaddress.ip_address(addr).is_multicast:
            loop = (
                _stdsocket.IPPROTO_IP
                if self._family == _stdsocket.AF_INET
                else _stdsocket.IPPROTO_IPV6,
                _stdsocket.IP_MULTICAST_LOOP
                if self._family == _stdsocket.AF_INET
                else _stdsocket.IPV6_MULTICAST_LOOP,
            )
            targets = [
                host
                for host in self.kernel.hosts.values()
                if host is not self.host or self.option(*loop)
            ]
        else:
            dst = self.target_host(addr)
            targets = [] if dst is None else [dst]
        for dst in targets:
            labels = (self.label(), f"{dst.name}:{port}")
            self.kernel.datagram(
                self.host,
                dst,
                len(payload),
                labels,
                functools.partial(
                    _deliver, dst, self._family, addr, port, payload, self.source(dst, addr)
                ),
            )
        return len(payload)

    def _send_unix(self, path: str, payload: bytes) -> int:
        found = self.host.paths.get((_stdsocket.SOCK_DGRAM, path))
        if not isinstance(found, VDatagram):
            raise os_error(errno.ECONNREFUSED if path else errno.ENOENT)
        found.receive(payload, self.local or "")
        return len(payload)

    # Receiving ---------------------------------------------------------------

    def receive(self, payload: bytes, source: Any) -> None:
        """A datagram arrived for this socket (dropped when the buffer is full)."""
        if self.dead or (self.peer_addr is not None and source != self.peer_addr):
            return
        if self.queued + len(payload) > self.option(_SOL, _stdsocket.SO_RCVBUF):
            return
        self.inbox.append((payload, source))
        self.queued += len(payload)
        self.sync()

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        bufsize = check_bufsize(bufsize, "recvfrom")
        self._check_alive()
        if not self.inbox:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        payload, source = self.inbox.popleft()
        self.queued -= len(payload)
        self.sync()
        return payload[:bufsize], source

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self.recvfrom(bufsize)[0]

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        view = memoryview(buffer).cast("B")
        payload, source = self.recvfrom(nbytes or len(view))
        view[: len(payload)] = payload
        return len(payload), source

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        return self.recvfrom_into(buffer, nbytes)[0]


def _deliver(dst: Host, family: int, addr: str, port: int, payload: bytes, source: Any) -> None:
    if ipaddress.ip_address(addr).is_multicast:
        for sock in list(dst.sockets):
            if isinstance(sock, VDatagram) and addr in sock.groups and _port(sock) == port:
                sock.receive(payload, source)
        return
    if addr in _BROADCASTS:
        found = dst.find(_stdsocket.SOCK_DGRAM, family, "0.0.0.0", port)
    else:
        found = dst.find(_stdsocket.SOCK_DGRAM, family, addr, port)
    if isinstance(found, VDatagram):
        found.receive(payload, source)


def _port(sock: VDatagram) -> int | None:
    local = sock.local
    return None if local is None or isinstance(local, str) else int(local[1])
