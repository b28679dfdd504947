"""The calls of the fd level that never block, shared by both APIs.

``trionet.socket`` and ``trionet.compat.socket`` re-export these as
they are and add their own blocking calls (async and sync).
"""

from __future__ import annotations

from ._core._addr import SockAddr as SockAddr
from ._core._addr import addr_is_ipv4 as addr_is_ipv4
from ._core._addr import addr_is_ipv6 as addr_is_ipv6
from ._core._addr import sockaddr as sockaddr
from ._core._addr import sockaddr6 as sockaddr6
from ._core._timeout import Timeout as Timeout
from ._fd_basic import bind as bind
from ._fd_basic import close as close
from ._fd_basic import disconnect as disconnect
from ._fd_basic import domain as domain
from ._fd_basic import error as error
from ._fd_basic import is_eof as is_eof
from ._fd_basic import is_listen as is_listen
from ._fd_basic import listen as listen
from ._fd_basic import mports as mports
from ._fd_basic import peer_name as peer_name
from ._fd_basic import pending as pending
from ._fd_basic import shutdown as shutdown
from ._fd_basic import sock_name as sock_name
from ._fd_basic import socket as socket
from ._fd_options import bind_to_device as bind_to_device
from ._fd_options import get_recv_buffer_size as get_recv_buffer_size
from ._fd_options import get_send_buffer_size as get_send_buffer_size
from ._fd_options import get_tcp_state as get_tcp_state
from ._fd_options import get_udp_conn_assign_local_addr as get_udp_conn_assign_local_addr
from ._fd_options import sec_region as sec_region
from ._fd_options import set_broadcast as set_broadcast
from ._fd_options import set_ipv6_only as set_ipv6_only
from ._fd_options import set_keep_alive as set_keep_alive
from ._fd_options import set_linger as set_linger
from ._fd_options import set_no_delay as set_no_delay
from ._fd_options import set_recv_buffer_size as set_recv_buffer_size
from ._fd_options import set_reuse_addr as set_reuse_addr
from ._fd_options import set_reuse_port as set_reuse_port
from ._fd_options import set_send_buffer_size as set_send_buffer_size
from ._fd_options import set_ttl as set_ttl
from ._fd_options import set_udp_conn_assign_local_addr as set_udp_conn_assign_local_addr
from ._multicast import add_membership as add_membership
from ._multicast import drop_membership as drop_membership
from ._multicast import set_multicast_interface as set_multicast_interface
from ._multicast import set_multicast_loop as set_multicast_loop
from ._multicast import set_multicast_ttl as set_multicast_ttl

__all__ = [
    "SockAddr",
    "Timeout",
    "add_membership",
    "addr_is_ipv4",
    "addr_is_ipv6",
    "bind",
    "bind_to_device",
    "close",
    "disconnect",
    "domain",
    "drop_membership",
    "error",
    "get_recv_buffer_size",
    "get_send_buffer_size",
    "get_tcp_state",
    "get_udp_conn_assign_local_addr",
    "is_eof",
    "is_listen",
    "listen",
    "mports",
    "peer_name",
    "pending",
    "sec_region",
    "set_broadcast",
    "set_ipv6_only",
    "set_keep_alive",
    "set_linger",
    "set_multicast_interface",
    "set_multicast_loop",
    "set_multicast_ttl",
    "set_no_delay",
    "set_recv_buffer_size",
    "set_reuse_addr",
    "set_reuse_port",
    "set_send_buffer_size",
    "set_ttl",
    "set_udp_conn_assign_local_addr",
    "shutdown",
    "sock_name",
    "sockaddr",
    "sockaddr6",
    "socket",
]
