"""What a ``net.Server`` reports and its settings: a base class of ``Server``.

``Server`` (``trionet._net_server``) runs the listeners and connections;
this class holds the state they leave behind and answers Node's and
EdgerOS's questions about it: whether it listens, where, how many
connections are open (on a master, in the whole group), and the settings
``max_connections`` and ``ref`` / ``unref``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _fd_basic as fdb
from ._core._addr import SockAddr
from ._core._checks import check_int
from ._core._constants import AF_INET6
from ._net_address import AddressInfo
from ._net_errors import ServerNotRunningError
from ._net_events import Events, ServerListen

if TYPE_CHECKING:
    from collections.abc import Callable

    from typing_extensions import Self

    from ._net_group import ServerGroup
    from ._net_socket import Socket

__all__ = ["ServerState"]


class ServerState(Events[ServerListen]):
    """The state of a ``net.Server`` and the properties that read it."""

    __slots__ = (
        "_connections",
        "_count_changed",
        "_group",
        "_group_name",
        "_index",
        "_listener",
        "_max_connections",
        "_receiving",
        "_refed",
    )

    def __init__(self, max_connections: int | None, group_name: tuple[str, str]) -> None:
        super().__init__()
        self._max_connections = _check_max_connections(max_connections)
        self._group_name = group_name
        self._group: ServerGroup | None = None  # a master's multi-task group (a sub's, in a sub)
        self._index = 0  # in the group: 0 for the master
        self._listener: int | None = None
        self._receiving = False  # a sub-server taking connections from its master
        self._connections: set[Socket] = set()
        # Told when the count changes, in a worker process (whose group is the master's).
        self._count_changed: Callable[[], None] | None = None
        self._refed = True

    @property
    def listening(self) -> bool:
        """Whether the server is listening (a sub-server: until its master stops it).

        Node equivalent: ``server.listening``.
        """
        return self._listener is not None or self._receiving

    def address(self) -> AddressInfo | str | None:
        """The bound address, the path for Unix sockets, ``None`` when not listening.

        Node equivalent: ``server.address()``.
        """
        if self._listener is None:
            return None
        local = fdb.sock_name(self._listener)
        if isinstance(local, SockAddr):
            family = "IPv6" if local.domain == AF_INET6 else "IPv4"
            return AddressInfo(local.addr, family, local.port)
        return local

    def address_info(self) -> AddressInfo:
        """The bound TCP address: ``address()`` when it is an ``AddressInfo``.

        Node's ``address()`` returns an address, a path or ``None``, so a
        type checker makes ``server.address().port`` check all three; on a
        TCP server that is listening, ``server.address_info().port`` needs
        no check (see ``docs/typing.md``).

        Node equivalent: ``server.address()`` on a TCP server.

        Raises:
            ServerNotRunningError: the server is not listening.
            RuntimeError: the server listens on a Unix-domain socket (its
                path is ``address()``).
        """
        address = self.address()
        if isinstance(address, AddressInfo):
            return address
        if address is None:
            raise ServerNotRunningError("the server is not listening")
        raise RuntimeError(f"the server listens on a Unix-domain socket: {address!r}")

    def port(self) -> int | None:
        """The port listened on; ``None`` when not listening on TCP, and on a sub-server.

        EdgerOS equivalent: ``server.port()``.
        """
        address = self.address()
        return address.port if isinstance(address, AddressInfo) else None

    def get_connections(self) -> int:
        """How many connections are open; on a master, in the whole group.

        A sub-server counts its own. The master adds up what each member
        last wrote into the group's shared table (see ``trionet._net_subs``).

        Node equivalent: ``server.getConnections()``.
        """
        if self._group is not None and self._index == 0:
            return self._group.total()
        return len(self._connections)

    def is_master(self) -> bool:
        """Whether this is a master server (any server not made as a sub-server).

        EdgerOS equivalent: ``server.isMaster()``.
        """
        return self._index == 0

    @property
    def group_name(self) -> tuple[str, str]:
        """``(group, name)``: the name is ``'master'`` or ``'sub1'``, ``'sub2'``...

        EdgerOS equivalent: ``server.groupName``.
        """
        return self._group_name

    @property
    def max_connections(self) -> int | None:
        """Connections beyond this are accepted and closed at once. Node: ``maxConnections``."""
        return self._max_connections

    @max_connections.setter
    def max_connections(self, value: int | None) -> None:
        self._max_connections = _check_max_connections(value)

    def ref(self) -> Self:
        """Leaving the ``async with`` block waits for connections (the default).

        Node equivalent: ``server.ref()``.
        """
        self._refed = True
        return self

    def unref(self) -> Self:
        """Leaving the ``async with`` block destroys connections instead of waiting.

        Node equivalent: ``server.unref()``.
        """
        self._refed = False
        return self


def _check_max_connections(value: object) -> int | None:
    if value is None:
        return None
    return check_int("max_connections", value, 0, 2**31 - 1)
