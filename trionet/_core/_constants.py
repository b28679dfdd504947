"""Constants of the JSRE ``socket`` module and the ``TcpState`` enum."""

from __future__ import annotations

import enum
import socket as _stdsocket

__all__ = [
    "AF_INET",
    "AF_INET6",
    "AF_UNIX",
    "IN6ADDR_ANY",
    "IN6ADDR_LINKLOCAL_ALLNODES",
    "IN6ADDR_LINKLOCAL_ALLROUTERS",
    "IN6ADDR_LOOPBACK",
    "IN6ADDR_NODELOCAL_ALLNODES",
    "INADDR_ANY",
    "INADDR_BROADCAST",
    "INADDR_LOOPBACK",
    "INADDR_NONE",
    "IPPROTO_IP",
    "IPPROTO_IPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "SOCK_DGRAM",
    "SOCK_STREAM",
    "TCP_CLOSED",
    "TCP_CLOSE_WAIT",
    "TCP_CLOSING",
    "TCP_ESTABLISHED",
    "TCP_FIN_WAIT_1",
    "TCP_FIN_WAIT_2",
    "TCP_LAST_ACK",
    "TCP_LISTEN",
    "TCP_SYN_RCVD",
    "TCP_SYN_SENT",
    "TCP_TIME_WAIT",
    "TcpState",
]

AF_INET: int = _stdsocket.AF_INET
AF_INET6: int = _stdsocket.AF_INET6
AF_UNIX: int = _stdsocket.AF_UNIX
SOCK_STREAM: int = _stdsocket.SOCK_STREAM
SOCK_DGRAM: int = _stdsocket.SOCK_DGRAM
IPPROTO_IP: int = _stdsocket.IPPROTO_IP
IPPROTO_IPV6: int = _stdsocket.IPPROTO_IPV6
IPPROTO_TCP: int = _stdsocket.IPPROTO_TCP
IPPROTO_UDP: int = _stdsocket.IPPROTO_UDP

INADDR_ANY = "0.0.0.0"
INADDR_LOOPBACK = "127.0.0.1"
INADDR_BROADCAST = "255.255.255.255"
INADDR_NONE = INADDR_BROADCAST
IN6ADDR_ANY = "::"
IN6ADDR_LOOPBACK = "::1"
IN6ADDR_NODELOCAL_ALLNODES = "ff01::1"
IN6ADDR_LINKLOCAL_ALLNODES = "ff02::1"
# The JSRE document prints 'ff01::2' (node-local); RFC 4291 puts all-routers
# link-local at ff02::2, which is what this name promises.
IN6ADDR_LINKLOCAL_ALLROUTERS = "ff02::2"


class TcpState(enum.IntEnum):
    """State of a TCP connection, as ``socket.getTcpState`` reports it in JSRE.

    The values follow the JSRE document's order, not Linux's ``tcpi_state``
    numbering; ``trionet.socket.get_tcp_state`` translates.
    """

    CLOSED = 0
    LISTEN = 1
    SYN_SENT = 2
    SYN_RCVD = 3
    ESTABLISHED = 4
    FIN_WAIT_1 = 5
    FIN_WAIT_2 = 6
    CLOSE_WAIT = 7
    CLOSING = 8
    LAST_ACK = 9
    TIME_WAIT = 10


TCP_CLOSED = TcpState.CLOSED
TCP_LISTEN = TcpState.LISTEN
TCP_SYN_SENT = TcpState.SYN_SENT
TCP_SYN_RCVD = TcpState.SYN_RCVD
TCP_ESTABLISHED = TcpState.ESTABLISHED
TCP_FIN_WAIT_1 = TcpState.FIN_WAIT_1
TCP_FIN_WAIT_2 = TcpState.FIN_WAIT_2
TCP_CLOSE_WAIT = TcpState.CLOSE_WAIT
TCP_CLOSING = TcpState.CLOSING
TCP_LAST_ACK = TcpState.LAST_ACK
TCP_TIME_WAIT = TcpState.TIME_WAIT
