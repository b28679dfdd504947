"""Socket addresses: ``SockAddr``, its builders, and conversions to and from the OS.

Every function that takes an address accepts a ``SockAddr``, a
``(host, port)`` tuple or an IPv6 ``(host, port, flowinfo, scope_id)`` tuple;
``to_sockaddr`` is the one place that turns those into a ``SockAddr``.
Hosts must be numeric here: name resolution belongs to the layers above.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, TypeAlias

from ._checks import check_int, check_port
from ._constants import AF_INET, AF_INET6

__all__ = [
    "Address",
    "SockAddr",
    "addr_is_ipv4",
    "addr_is_ipv6",
    "from_os",
    "ip_domain",
    "sockaddr",
    "sockaddr6",
    "to_sockaddr",
]


def _parse_ip(addr: object, name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(addr, str):
        raise TypeError(
            f"{name} must be a str holding a numeric IP address, not {type(addr).__name__}"
        )
    try:
        return ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(
            f"{name} must be a numeric IPv4 or IPv6 address, got {addr!r}"
            " (host names are resolved by Tcp.create_client and trionet.net only)"
        ) from None


@dataclasses.dataclass(frozen=True)
class SockAddr:
    """A numeric socket address: the JSRE ``sockaddr`` object.

    Frozen and hashable. ``addr`` is normalised (``'::0001'`` becomes
    ``'::1'``); ``domain`` is inferred from ``addr`` when omitted and must
    match it when given.

    Attributes:
        addr: Numeric IPv4 or IPv6 address.
        port: Port, ``0..65535``.
        domain: ``AF_INET`` or ``AF_INET6``.
        scope_id: IPv6 scope (interface index); ``0`` for IPv4.

    JSRE equivalent: ``{domain, addr, port}`` objects made by
    ``socket.sockaddr()`` / ``socket.sockaddr6()``.
    """

    addr: str
    port: int
    domain: int = 0
    scope_id: int = 0

    def __post_init__(self) -> None:
        ip = _parse_ip(self.addr, "addr")
        check_port("port", self.port)
        family = AF_INET if ip.version == 4 else AF_INET6
        if self.domain not in (0, family):
            raise ValueError(f"domain {self.domain!r} does not match address {self.addr!r}")
        scope_id = check_int("scope_id", self.scope_id, 0, 2**32 - 1)
        if scope_id and family == AF_INET:
            raise ValueError("scope_id is only meaningful for IPv6 addresses")
        object.__setattr__(self, "addr", str(ip))
        object.__setattr__(self, "domain", family)

    def __str__(self) -> str:
        if self.domain == AF_INET:
            return f"{self.addr}:{self.port}"
        scope = f"%{self.scope_id}" if self.scope_id else ""
        return f"[{self.addr}{scope}]:{self.port}"

    def to_os(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """The address as the standard library's ``socket`` module takes it."""
        if self.domain == AF_INET:
            return (self.addr, self.port)
        return (self.addr, self.port, 0, self.scope_id)


Address: TypeAlias = SockAddr | tuple[str, int] | tuple[str, int, int, int]
"""An IP address: a ``SockAddr``, a ``(host, port)`` tuple or IPv6's 4-tuple."""


def sockaddr(addr: str, port: int) -> SockAddr:
    """Build and validate an IPv4 (or IPv6) address.

    JSRE equivalent: ``socket.sockaddr(addr, port)``.

    Raises:
        TypeError: ``addr`` is not a ``str`` or ``port`` not an ``int``.
        ValueError: ``addr`` is not a numeric address or ``port`` is out of range.
    """
    return SockAddr(addr, port)


def sockaddr6(addr: str, port: int, scope_id: int = 0) -> SockAddr:
    """Build and validate an IPv6 address.

    JSRE equivalent: ``socket.sockaddr6(addr, port, scope)``.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: ``addr`` is not a numeric IPv6 address, or a value is out of range.
    """
    return SockAddr(addr, port, AF_INET6, scope_id)


def to_sockaddr(addr: object, name: str = "addr") -> SockAddr:
    """Accept a ``SockAddr`` or an address tuple; return a ``SockAddr``."""
    if isinstance(addr, SockAddr):
        return addr
    if not isinstance(addr, tuple):
        raise TypeError(
            f"{name} must be a SockAddr or a (host, port) tuple, not {type(addr).__name__}"
        )
    if len(addr) == 2:
        host, port = addr
        return SockAddr(host, _port_of(port, name))
    if len(addr) == 4:
        host, port, _flowinfo, scope_id = addr
        return SockAddr(host, _port_of(port, name), AF_INET6, scope_id)
    raise ValueError(f"{name} must have 2 or 4 items, got {len(addr)}")


def _port_of(port: object, name: str) -> int:
    return check_port(f"{name} port", port)


def from_os(raw: Any) -> SockAddr | str:
    """Turn an address the standard library returned into a ``SockAddr``.

    Unix-domain addresses (``str`` paths, or ``''`` for unnamed sockets) are
    returned as they are.
    """
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "surrogateescape")
    if len(raw) == 2:
        return SockAddr(raw[0], raw[1], AF_INET)
    host = raw[0].partition("%")[0]
    return SockAddr(host, raw[1], AF_INET6, raw[3])


def ip_domain(addr: str) -> int | None:
    """``AF_INET`` or ``AF_INET6`` for a numeric address string, else ``None``."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    return AF_INET if ip.version == 4 else AF_INET6


def _check_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"address must be a str, not {type(value).__name__}")
    return value


def addr_is_ipv4(s: str) -> bool:
    """Whether ``s`` is a numeric IPv4 address (dotted quad).

    JSRE equivalent: ``socket.addrIsIPv4(addr)``.

    Raises:
        TypeError: ``s`` is not a ``str``.
    """
    return ip_domain(_check_str(s)) == AF_INET


def addr_is_ipv6(s: str) -> bool:
    """Whether ``s`` is a numeric IPv6 address.

    JSRE equivalent: ``socket.addrIsIPv6(addr)``.

    Raises:
        TypeError: ``s`` is not a ``str``.
    """
    return ip_domain(_check_str(s)) == AF_INET6
