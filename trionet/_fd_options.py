"""Socket options of the fd level (JSRE ``socket.set*`` / ``get*``)."""

from __future__ import annotations

import socket as _stdsocket
import struct

from ._core._checks import check_bool, check_int, check_seconds, whole_seconds
from ._core._constants import AF_INET, AF_INET6, TcpState
from ._core._fdtable import Entry, entry

__all__ = [
    "bind_to_device",
    "check_ifname",
    "get_recv_buffer_size",
    "get_send_buffer_size",
    "get_tcp_state",
    "get_udp_conn_assign_local_addr",
    "sec_region",
    "set_broadcast",
    "set_ipv6_only",
    "set_keep_alive",
    "set_linger",
    "set_no_delay",
    "set_recv_buffer_size",
    "set_reuse_addr",
    "set_reuse_port",
    "set_send_buffer_size",
    "set_ttl",
    "set_udp_conn_assign_local_addr",
]

_SOL = _stdsocket.SOL_SOCKET
_SO_MARK = getattr(_stdsocket, "SO_MARK", 36)
_SO_BINDTODEVICE = getattr(_stdsocket, "SO_BINDTODEVICE", 25)
_MIN_BUFFER = 1024
_MAX_BUFFER = 16 * 1024 * 1024
_MAX_KEEPALIVE_SECONDS = 32767  # Linux's MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL
_MAX_KEEPALIVE_COUNT = 127  # Linux's MAX_TCP_KEEPCNT

# Linux's tcpi_state numbers (include/net/tcp_states.h) to the JSRE order.
_LINUX_TCP_STATES = {
    1: TcpState.ESTABLISHED,
    2: TcpState.SYN_SENT,
    3: TcpState.SYN_RCVD,
    4: TcpState.FIN_WAIT_1,
    5: TcpState.FIN_WAIT_2,
    6: TcpState.TIME_WAIT,
    7: TcpState.CLOSED,
    8: TcpState.CLOSE_WAIT,
    9: TcpState.LAST_ACK,
    10: TcpState.LISTEN,
    11: TcpState.CLOSING,
    12: TcpState.SYN_RCVD,  # TCP_NEW_SYN_RECV: a request socket, not yet accepted
}


def _tcp(fd: int, what: str) -> Entry:
    target = entry(fd)
    if not target.stream or target.sock.family not in (AF_INET, AF_INET6):
        raise ValueError(f"{what} applies to TCP sockets only")
    return target


def _ip(fd: int, what: str) -> Entry:
    target = entry(fd)
    if target.sock.family not in (AF_INET, AF_INET6):
        raise ValueError(f"{what} applies to IPv4 and IPv6 sockets only")
    return target


def _set_flag(target: Entry, level: int, option: int, enable: bool) -> None:
    target.sock.setsockopt(level, option, int(enable))


def check_ifname(name: str, ifname: object) -> str:
    """Validate a network interface name (``'lo'``, ``'eth0'``)."""
    if not isinstance(ifname, str):
        raise TypeError(f"{name} must be an interface name (str), not {type(ifname).__name__}")
    if not 0 < len(ifname.encode()) < 16 or any(c in ifname for c in "/\0 \t\n"):
        raise ValueError(f"{name} {ifname!r} is not a valid interface name")
    return ifname


def bind_to_device(fd: int, ifname: str | None = None) -> None:
    """Send and receive only through the interface ``ifname``; ``None`` unbinds.

    Linux lets an unprivileged process bind a socket that is not bound to a
    device yet; changing or removing a binding needs ``CAP_NET_RAW``.

    JSRE equivalent: ``socket.bindToDevice(sockFd, ifname)``.

    Raises:
        PermissionError: the process lacks the privilege.
        OSError: no such interface (``ENODEV``).
    """
    name = b"" if ifname is None else check_ifname("ifname", ifname).encode()
    target = entry(fd)
    try:
        target.sock.setsockopt(_SOL, _SO_BINDTODEVICE, name)
    except PermissionError as exc:
        raise PermissionError(
            exc.errno, "bind_to_device: changing a device binding needs CAP_NET_RAW"
        ) from None


def set_keep_alive(
    fd: int,
    enable: bool,
    idle: float | None = None,
    interval: float | None = None,
    count: int = 3,
) -> None:
    """Turn TCP keep-alive probes on or off.

    Times are seconds, rounded up to whole seconds (at least 1).

    JSRE equivalent: ``socket.setKeepAlive(sockFd, enable, idle, interval, count)``
    (milliseconds there).

    Args:
        fd: A TCP socket.
        enable: Whether to send keep-alive probes.
        idle: Idle time before the first probe; required when enabling.
        interval: Time between probes; defaults to ``idle``.
        count: Unanswered probes before the connection is dropped, ``1..127``.

    Raises:
        ValueError: ``idle`` missing when enabling, or a value out of range.
    """
    on = check_bool("enable", enable)
    check_int("count", count, 1, _MAX_KEEPALIVE_COUNT)
    target = _tcp(fd, "set_keep_alive")
    if not on:
        target.sock.setsockopt(_SOL, _stdsocket.SO_KEEPALIVE, 0)
        return
    if idle is None:
        raise ValueError("idle is required when enabling keep-alive")
    idle_s = whole_seconds("idle", idle, _MAX_KEEPALIVE_SECONDS)
    interval_s = whole_seconds(
        "interval", idle if interval is None else interval, _MAX_KEEPALIVE_SECONDS
    )
    sock = target.sock
    sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_KEEPIDLE, idle_s)
    sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_KEEPINTVL, interval_s)
    sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_KEEPCNT, count)
    sock.setsockopt(_SOL, _stdsocket.SO_KEEPALIVE, 1)


def set_no_delay(fd: int, enable: bool) -> None:
    """Disable (``True``) or enable Nagle's algorithm on a TCP socket.

    JSRE equivalent: ``socket.setNoDelay(sockFd, enable)``.
    """
    on = check_bool("enable", enable)
    _set_flag(_tcp(fd, "set_no_delay"), _stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, on)


def set_broadcast(fd: int, enable: bool) -> None:
    """Allow sending to broadcast addresses (UDP).

    JSRE equivalent: ``socket.setBroadcast(sockFd, enable)``.
    """
    on = check_bool("enable", enable)
    _set_flag(entry(fd), _SOL, _stdsocket.SO_BROADCAST, on)


def set_reuse_addr(fd: int, enable: bool) -> None:
    """Allow binding to an address in ``TIME_WAIT`` (``SO_REUSEADDR``).

    JSRE equivalent: ``socket.setReuseAddr(sockFd, enable)``.
    """
    on = check_bool("enable", enable)
    _set_flag(entry(fd), _SOL, _stdsocket.SO_REUSEADDR, on)


def set_reuse_port(fd: int, enable: bool) -> None:
    """Let several sockets bind the same port and share its load (``SO_REUSEPORT``).

    JSRE equivalent: none (a Linux option the JSRE document does not name).
    """
    on = check_bool("enable", enable)
    _set_flag(entry(fd), _SOL, _stdsocket.SO_REUSEPORT, on)


def set_ipv6_only(fd: int, enable: bool) -> None:
    """Restrict an IPv6 socket to IPv6 (no IPv4-mapped addresses).

    JSRE equivalent: ``socket.setIPv6Only(sockFd, enable)``.

    Raises:
        ValueError: ``fd`` is not an IPv6 socket.
    """
    on = check_bool("enable", enable)
    target = entry(fd)
    if target.sock.family != AF_INET6:
        raise ValueError("set_ipv6_only applies to IPv6 sockets only")
    _set_flag(target, _stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_V6ONLY, on)


def set_linger(fd: int, enabled: bool, seconds: float = 0) -> None:
    """Set ``SO_LINGER``: with ``enabled``, ``close`` waits up to ``seconds``
    for queued data to be sent; ``seconds=0`` resets the connection on close.

    JSRE equivalent: ``socket.setLinger(sockFd, {onoff, time})`` (seconds there too).
    """
    on = check_bool("enabled", enabled)
    whole = int(-(-check_seconds("seconds", seconds) // 1))
    check_int("seconds", whole, 0, 2**31 - 1)
    entry(fd).sock.setsockopt(_SOL, _stdsocket.SO_LINGER, struct.pack("ii", on, whole))


def set_ttl(fd: int, ttl: int) -> None:
    """Set the IP time-to-live (IPv6: unicast hop limit), ``1..255``.

    JSRE equivalent: ``socket.setTTL(sockFd, timeToLive)`` (which says 0..255;
    Linux refuses 0).
    """
    check_int("ttl", ttl, 1, 255)
    target = _ip(fd, "set_ttl")
    if target.sock.family == AF_INET:
        target.sock.setsockopt(_stdsocket.IPPROTO_IP, _stdsocket.IP_TTL, ttl)
    else:
        target.sock.setsockopt(_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_UNICAST_HOPS, ttl)


def get_tcp_state(fd: int) -> TcpState:
    """The TCP state of ``fd``, read from ``TCP_INFO``.

    JSRE equivalent: ``socket.getTcpState(sockFd)``.

    Raises:
        ValueError: ``fd`` is not a TCP socket.
    """
    info = _tcp(fd, "get_tcp_state").sock.getsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_INFO, 1)
    return _LINUX_TCP_STATES.get(info[0], TcpState.CLOSED)


def get_recv_buffer_size(fd: int) -> int:
    """The receive buffer size in bytes (``SO_RCVBUF``; Linux reports double what was set).

    JSRE equivalent: ``socket.getRecvBufferSize(sockFd)``.
    """
    return entry(fd).sock.getsockopt(_SOL, _stdsocket.SO_RCVBUF)


def get_send_buffer_size(fd: int) -> int:
    """The send buffer size in bytes (``SO_SNDBUF``; Linux reports double what was set).

    JSRE equivalent: ``socket.getSendBufferSize(sockFd)``.
    """
    return entry(fd).sock.getsockopt(_SOL, _stdsocket.SO_SNDBUF)


def _buffer_size(size: object) -> int:
    return check_int("size", size, _MIN_BUFFER, _MAX_BUFFER)


def set_recv_buffer_size(fd: int, size: int) -> None:
    """Set the receive buffer size, ``1024 .. 16 MiB`` bytes.

    JSRE equivalent: ``socket.setRecvBufferSize(sockFd, size)``.
    """
    entry(fd).sock.setsockopt(_SOL, _stdsocket.SO_RCVBUF, _buffer_size(size))


def set_send_buffer_size(fd: int, size: int) -> None:
    """Set the send buffer size, ``1024 .. 16 MiB`` bytes.

    JSRE equivalent: ``socket.setSendBufferSize(sockFd, size)``.
    """
    entry(fd).sock.setsockopt(_SOL, _stdsocket.SO_SNDBUF, _buffer_size(size))


def sec_region(fd: int, region: int | None = None) -> int:
    """Read, or set then read, the socket's security region.

    Linux has no security regions; the nearest thing, and what this maps
    to, is the packet mark ``SO_MARK`` used by policy routing and netfilter.
    Setting it needs ``CAP_NET_ADMIN``.

    JSRE equivalent: ``socket.secRegion(sockFd, newRegion)``.

    Raises:
        PermissionError: setting without the privilege.
    """
    if region is not None:
        check_int("region", region, 0, 2**32 - 1)
    sock = entry(fd).sock
    if region is not None:
        try:
            # SO_MARK is a u32: an int argument would be a signed C int.
            sock.setsockopt(_SOL, _SO_MARK, struct.pack("=I", region))
        except PermissionError as exc:
            raise PermissionError(
                exc.errno, "sec_region: setting SO_MARK needs CAP_NET_ADMIN"
            ) from None
    mark: int = struct.unpack("=I", sock.getsockopt(_SOL, _SO_MARK, 4))[0]
    return mark


def _udp(fd: int, what: str) -> Entry:
    target = entry(fd)
    if target.stream:
        raise ValueError(f"{what} applies to UDP sockets only")
    return target


def get_udp_conn_assign_local_addr(fd: int) -> bool:
    """Whether ``connect`` on this UDP socket assigns a local address: always ``True`` on Linux.

    JSRE equivalent: ``socket.getUdpConnAssignLocalAddr(sockFd)``.
    """
    _udp(fd, "get_udp_conn_assign_local_addr")
    return True


def set_udp_conn_assign_local_addr(fd: int, enable: bool) -> None:
    """Accept ``True`` (what Linux always does); ``False`` cannot be honoured.

    Linux binds a UDP socket to a local address and port as part of
    ``connect`` and offers no option to stop it, so ``False`` raises.

    JSRE equivalent: ``socket.setUdpConnAssignLocalAddr(sockFd, enable)``.

    Raises:
        NotImplementedError: ``enable`` is ``False``.
    """
    on = check_bool("enable", enable)
    _udp(fd, "set_udp_conn_assign_local_addr")
    if not on:
        raise NotImplementedError(
            "Linux always assigns a local address when a UDP socket connects; "
            "it cannot be turned off"
        )
