"""Multicast options of the fd level, for IPv4 and IPv6 alike.

Memberships use the protocol-independent ``MCAST_*`` options of RFC 3678
(``struct group_req`` / ``group_source_req``), which take an interface
*index* and a ``sockaddr_storage`` for both families, so one code path
serves IPv4 and IPv6, any-source and source-specific.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import socket as _stdsocket
import struct

from ._core._checks import check_bool, check_int
from ._core._constants import AF_INET, AF_INET6
from ._core._fdtable import Entry, entry
from ._fd_options import check_ifname

__all__ = [
    "add_membership",
    "drop_membership",
    "set_multicast_interface",
    "set_multicast_loop",
    "set_multicast_ttl",
]

# <linux/in.h>; the same numbers serve IPPROTO_IP and IPPROTO_IPV6.
_MCAST_JOIN_GROUP = 42
_MCAST_LEAVE_GROUP = 45
_MCAST_JOIN_SOURCE_GROUP = 46
_MCAST_LEAVE_SOURCE_GROUP = 47


_SS_PADDING = 128 - ctypes.sizeof(ctypes.c_ushort) - ctypes.sizeof(ctypes.c_ulong)


class _SockaddrStorage(ctypes.Structure):
    _fields_ = (
        ("family", ctypes.c_ushort),
        ("data", ctypes.c_ubyte * _SS_PADDING),
        ("align", ctypes.c_ulong),
    )


class _GroupReq(ctypes.Structure):
    _fields_ = (("interface", ctypes.c_uint32), ("group", _SockaddrStorage))


class _GroupSourceReq(ctypes.Structure):
    _fields_ = (
        ("interface", ctypes.c_uint32),
        ("group", _SockaddrStorage),
        ("source", _SockaddrStorage),
    )


Ip = ipaddress.IPv4Address | ipaddress.IPv6Address


def _fill(storage: _SockaddrStorage, ip: Ip) -> None:
    if ip.version == 4:
        raw = struct.pack("=H", AF_INET) + b"\0\0" + ip.packed + bytes(8)
    else:
        raw = struct.pack("=HHI", AF_INET6, 0, 0) + ip.packed + struct.pack("=I", 0)
    ctypes.memmove(ctypes.addressof(storage), raw, len(raw))


def _ip_arg(value: object, name: str) -> Ip:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a numeric IP address (str), not {type(value).__name__}")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{name} must be a numeric IP address, got {value!r}") from None


def _ifindex(interface: object, name: str = "interface") -> int:
    if interface is None:
        return 0
    ifname = check_ifname(name, interface)
    try:
        return _stdsocket.if_nametoindex(ifname)
    except OSError:
        # The stdlib's OSError has no errno; the kernel's answer for an
        # unknown name is ENODEV, as bind_to_device gets (rule 34: named).
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV), ifname) from None


def _family_entry(fd: int, ip: Ip, what: str) -> Entry:
    target = entry(fd)
    family = AF_INET if ip.version == 4 else AF_INET6
    if target.stream or target.sock.family != family:
        version = "IPv4" if family == AF_INET else "IPv6"
        raise ValueError(f"{what}: an IPv{ip.version} group needs a {version} UDP socket")
    return target


def _membership(
    fd: int, group: object, interface: object, source: object, join: bool, what: str
) -> None:
    group_ip = _ip_arg(group, "group")
    if not group_ip.is_multicast:
        raise ValueError(f"group {group!r} is not a multicast address")
    source_ip = None if source is None else _ip_arg(source, "source")
    if source_ip is not None and source_ip.version != group_ip.version:
        raise ValueError("source and group must be of the same IP version")
    if interface is not None:
        check_ifname("interface", interface)
    target = _family_entry(fd, group_ip, what)
    level = _stdsocket.IPPROTO_IP if group_ip.version == 4 else _stdsocket.IPPROTO_IPV6
    request: ctypes.Structure
    if source_ip is None:
        request = _GroupReq(interface=_ifindex(interface))
        _fill(request.group, group_ip)
        option = _MCAST_JOIN_GROUP if join else _MCAST_LEAVE_GROUP
    else:
        request = _GroupSourceReq(interface=_ifindex(interface))
        _fill(request.group, group_ip)
        _fill(request.source, source_ip)
        option = _MCAST_JOIN_SOURCE_GROUP if join else _MCAST_LEAVE_SOURCE_GROUP
    target.sock.setsockopt(level, option, bytes(request))


def add_membership(
    fd: int, group: str, interface: str | None = None, source: str | None = None
) -> None:
    """Join the multicast ``group`` on ``interface`` (a name; ``None``: the system's choice).

    With ``source``, join source-specifically: receive only what ``source`` sends.

    JSRE equivalent: ``socket.addMembership(sockFd, multicastAddr,
    multicastInterface, sourceAddr)``.

    Raises:
        ValueError: ``group`` is not multicast, or does not match the socket's family.
        OSError: no such interface, or the kernel refused.
    """
    _membership(fd, group, interface, source, True, "add_membership")


def drop_membership(
    fd: int, group: str, interface: str | None = None, source: str | None = None
) -> None:
    """Leave a multicast group joined with ``add_membership`` (same arguments).

    JSRE equivalent: ``socket.dropMembership(sockFd, multicastAddr,
    multicastInterface, sourceAddr)``.
    """
    _membership(fd, group, interface, source, False, "drop_membership")


def _udp_family(fd: int, what: str) -> Entry:
    target = entry(fd)
    if target.stream or target.sock.family not in (AF_INET, AF_INET6):
        raise ValueError(f"{what} applies to IPv4 and IPv6 UDP sockets only")
    return target


def set_multicast_interface(fd: int, ifname: str | None) -> None:
    """Send multicast through the interface ``ifname`` (``None``: the system's choice).

    JSRE equivalent: ``socket.setMulticastInterface(sockFd, multicastInterface)``.

    Raises:
        OSError: no interface of that name (``ENODEV``, the name as ``filename``).
    """
    if ifname is not None:
        check_ifname("ifname", ifname)
    target = _udp_family(fd, "set_multicast_interface")
    index = _ifindex(ifname, "ifname")
    if target.sock.family == AF_INET:
        request = struct.pack("=4s4si", bytes(4), bytes(4), index)  # struct ip_mreqn
        target.sock.setsockopt(_stdsocket.IPPROTO_IP, _stdsocket.IP_MULTICAST_IF, request)
    else:
        target.sock.setsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_MULTICAST_IF, index)


def set_multicast_ttl(fd: int, ttl: int) -> None:
    """Set the TTL (IPv6: hop limit) of outgoing multicast, ``0..255``.

    JSRE equivalent: ``socket.setMulticastTTL(sockFd, timeToLive)``.
    """
    check_int("ttl", ttl, 0, 255)
    target = _udp_family(fd, "set_multicast_ttl")
    if target.sock.family == AF_INET:
        target.sock.setsockopt(_stdsocket.IPPROTO_IP, _stdsocket.IP_MULTICAST_TTL, ttl)
    else:
        target.sock.setsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_MULTICAST_HOPS, ttl)


def set_multicast_loop(fd: int, enable: bool) -> None:
    """Whether this host's own multicast is delivered back to its sockets.

    JSRE equivalent: ``socket.setMulticastLoop(sockFd, enable)``.
    """
    on = int(check_bool("enable", enable))
    target = _udp_family(fd, "set_multicast_loop")
    if target.sock.family == AF_INET:
        target.sock.setsockopt(_stdsocket.IPPROTO_IP, _stdsocket.IP_MULTICAST_LOOP, on)
    else:
        target.sock.setsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_MULTICAST_LOOP, on)
