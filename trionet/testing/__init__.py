"""Test tools for code built on trionet: fd-leak checks, loopback peers, a virtual network.

Usable without pytest; with pytest installed, the ``trionet`` plugin (loaded
through its entry point) adds the fixtures ``trionet_no_leaks``,
``trionet_echo_server``, ``trionet_free_tcp_port``, ``trionet_free_udp_port``,
``trionet_tls``, ``trionet_socket_pair`` and ``trionet_vnet`` and the ini option
``trionet_leak_check``. For time, use trio's ``MockClock(autojump_threshold=0)``
(pytest-trio's ``autojump_clock`` fixture). See ``docs/testing.md``.
"""

from __future__ import annotations

from .._public import publish as _publish
from .._vnet_hosts import Host as Host
from .._vnet_kernel import TraceEntry as TraceEntry
from .._vnet_network import VirtualNetwork as VirtualNetwork
from ._fds import fd_leak_check as fd_leak_check
from ._fds import fd_target as fd_target
from ._fds import open_fds as open_fds
from ._pair import TlsPair as TlsPair
from ._pair import socket_pair as socket_pair
from ._servers import free_port as free_port
from ._servers import loopback_pair as loopback_pair
from ._servers import serve_echo as serve_echo

_publish(__name__, globals())
