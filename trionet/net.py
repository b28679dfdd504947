"""Streams: Node's ``net`` module (EdgerOS, IoT.js, Node.js) on trio.

``Socket`` and ``Server`` are async context managers that own a nursery;
listeners may be plain or ``async`` functions. See ``docs/net.md``.
"""

from __future__ import annotations

from ._emitter import EventEmitter as EventEmitter
from ._isip import is_ip as is_ip
from ._isip import is_ipv4 as is_ipv4
from ._isip import is_ipv6 as is_ipv6
from ._listen_fds import listen_fds as listen_fds
from ._net_address import AddressInfo as AddressInfo
from ._net_connect import connect as connect
from ._net_connect import create_connection as create_connection
from ._net_connect import open_socket as open_socket
from ._net_errors import BufferLimitError as BufferLimitError
from ._net_errors import ServerAlreadyListeningError as ServerAlreadyListeningError
from ._net_errors import ServerNotRunningError as ServerNotRunningError
from ._net_errors import WriteAfterEndError as WriteAfterEndError
from ._net_events import DropInfo as DropInfo
from ._net_events import ServerEvent as ServerEvent
from ._net_events import SocketEvent as SocketEvent
from ._net_pull import Stream as Stream
from ._net_pull import as_anyio_stream as as_anyio_stream
from ._net_pull import open_stream as open_stream
from ._net_server import Server as Server
from ._net_server import create_server as create_server
from ._net_socket import Socket as Socket
from ._net_subs import create_sub_server as create_sub_server
from ._net_workers import WorkerDiedError as WorkerDiedError
from ._public import publish as _publish
from ._tls_options import TlsOptions as TlsOptions
from ._types import Lookup as Lookup
from ._types import OnRead as OnRead
from ._types import TlsConfig as TlsConfig

_publish(__name__, globals())
