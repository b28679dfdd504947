"""``net.Server``: accepts connections and runs each as a ``Socket`` in its nursery.

The server's nursery (opened by ``async with``) holds one accept task per
``listen()`` and one task per connection. A connection's task emits
``'connection'``, then reads (see :mod:`trionet._net_core`), so an idle
connection costs one task. ``close()`` closes the listening fd at once,
which ends the accept task; that task then waits for the last connection
to close and emits ``'close'``.

A peer's misbehaviour never stops the server: accept errors caused by the
peer or by running out of fds are retried, and connection errors end only
that connection. An exception from user code (a listener) is not caught:
it takes the server's nursery down and comes out of its ``async with``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

import trio

from . import _fd_basic as fdb
from . import _fd_io as fdio
from . import _fd_options as fdo
from ._addr import SockAddr, ip_domain
from ._checks import check_bool, check_int, check_port
from ._constants import AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM
from ._emitter import EventEmitter
from ._fdtable import kind
from ._groups import open_nursery
from ._net_core import LOGGER
from ._net_errors import AddressInfo, ServerAlreadyListeningError, ServerNotRunningError
from ._net_socket import Socket

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Server", "create_server"]

# Out of a resource that frees up as connections close: back off, retry.
_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_CAPACITY_BACKOFF = 0.1
# The connection died before we took it: nothing to do but take the next.
_PEER_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET})


@final
class Server(EventEmitter):
    """A TCP or Unix-domain server with Node's events.

    ``async with`` opens its nursery; leaving the block closes the server
    and waits for its connections to end (an unref'd server, or an
    exception, destroys them instead).

    Events: ``'listening'``, ``'connection'`` ``(sock)``, ``'close'``,
    ``'error'`` ``(exc)``, ``'drop'`` ``(info)``.

    Node equivalent: ``net.Server``.

    Args:
        connection_listener: A ``'connection'`` listener.
        allow_half_open: Passed to each connection's ``Socket``.
        pause_on_connect: Connections start paused (``resume()`` to read).
        tls: Reserved for TLS (not available in this build).
        max_connections: More connections are accepted and closed at once (``'drop'``).
        high_water_mark: Passed to each connection's ``Socket``.
        group: Reserved for the multi-task server (not available in this build).
        subs: Reserved for the multi-task server; must be ``0`` here.
        sub_main: Reserved for the multi-task server.
    """

    __slots__ = (
        "_accepting",
        "_allow_half_open",
        "_close_event",
        "_connections",
        "_emptied",
        "_high_water_mark",
        "_listener",
        "_max_connections",
        "_nursery",
        "_nursery_cm",
        "_path",
        "_pause_on_connect",
        "_refed",
    )

    def __init__(
        self,
        connection_listener: Callable[..., Any] | None = None,
        *,
        allow_half_open: bool = False,
        pause_on_connect: bool = False,
        tls: object = None,
        max_connections: int | None = None,
        high_water_mark: int = 65536,
        group: str | None = None,
        subs: int = 0,
        sub_main: object = None,
    ) -> None:
        super().__init__()
        self._allow_half_open = check_bool("allow_half_open", allow_half_open)
        self._pause_on_connect = check_bool("pause_on_connect", pause_on_connect)
        self._high_water_mark = check_int("high_water_mark", high_water_mark, 0, 2**62)
        self._max_connections = _check_max_connections(max_connections)
        check_int("subs", subs, 0, 1024)
        if tls is not None:
            raise NotImplementedError("tls= is not available yet in this build of trionet.net")
        if subs or group is not None or sub_main is not None:
            raise NotImplementedError("multi-task servers (subs=) are not available yet")
        self._listener: int | None = None
        self._path: str | None = None
        self._nursery: trio.Nursery | None = None
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._connections: set[Socket] = set()
        self._emptied: trio.Event | None = None
        self._close_event: trio.Event | None = None
        self._accepting = 0
        self._refed = True
        if connection_listener is not None:
            self.on("connection", connection_listener)

    # -- life cycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._nursery_cm is not None:
            raise RuntimeError("a net.Server can be entered only once")
        manager = self._nursery_cm = open_nursery()
        self._nursery = await manager.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self.listening:
            self.close()
        for sock in list(self._connections):
            if exc is not None or not self._refed or not sock._refed:
                sock.destroy()
        manager = self._nursery_cm
        assert manager is not None
        return bool(await manager.__aexit__(exc_type, exc, tb))

    # -- listening ----------------------------------------------------------

    async def listen(
        self,
        port: int = 0,
        host: str | None = None,
        backlog: int = 511,
        *,
        path: str | None = None,
        fd: int | None = None,
        ipv6_only: bool = False,
        exclusive: bool = False,
        readable_all: bool = False,
        writable_all: bool = False,
    ) -> Self:
        """Bind and listen, emit ``'listening'``, and start accepting; return the server.

        ``host=None`` listens on ``::`` (dual stack unless ``ipv6_only``)
        where IPv6 exists, else on ``0.0.0.0``. ``path`` listens on a
        Unix-domain socket (unlinked by ``close()``; ``readable_all`` /
        ``writable_all`` open its permissions to everyone). ``fd`` takes a
        bound stream socket, which the server then owns. ``exclusive``
        matters only to multi-task servers. ``SO_REUSEADDR`` is on, as in Node.

        Node equivalent: ``server.listen()``.

        Raises:
            ServerAlreadyListeningError: it is listening already.
            OSError: binding failed (``EADDRINUSE``...); ``'error'`` is emitted too.
        """
        port = check_port(port)
        check_int("backlog", backlog, 0, 65535)
        for name, flag in (
            ("ipv6_only", ipv6_only),
            ("exclusive", exclusive),
            ("readable_all", readable_all),
            ("writable_all", writable_all),
        ):
            check_bool(name, flag)
        if host is not None and not isinstance(host, str):
            raise TypeError(f"host must be a str or None, not {type(host).__name__}")
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path-like, not {type(path).__name__}")
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError("enter the server first: async with net.create_server() as server")
        if self._listener is not None:
            raise ServerAlreadyListeningError("the server is already listening")
        try:
            if fd is not None:
                listener = _adopt_listener(fd, backlog)
            elif path is not None:
                unix_path = self._path = str(os.fspath(path))
                listener = _unix_listener(unix_path, backlog, readable_all, writable_all)
            else:
                family, address = await _local_address(host, port)
                listener = _tcp_listener(family, (address, port), backlog, ipv6_only)
        except OSError as exc:
            self._path = None
            await self._emit("error", (exc,))
            raise
        self._listener = listener
        self._close_event = trio.Event()
        self._accepting += 1
        nursery.start_soon(self._accept_loop, listener, self._path, self._close_event)
        await self._emit("listening", ())
        return self

    def close(self, callback: Callable[..., Any] | None = None) -> Self:
        """Stop accepting now; ``'close'`` follows once every connection has closed.

        ``callback`` becomes a ``'close'`` listener, once. A Unix-domain
        socket's path is unlinked.

        Node equivalent: ``server.close([callback])``.

        Raises:
            ServerNotRunningError: the server is not listening.
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        listener = self._listener
        if listener is None:
            raise ServerNotRunningError("the server is not listening")
        if callback is not None:
            self.once("close", callback)
        self._listener = None
        fdb.close(listener)
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None
        return self

    async def wait_closed(self) -> None:
        """Wait until ``'close'`` has been emitted (at once if it never listened)."""
        event = self._close_event
        if event is None:
            await trio.lowlevel.checkpoint()
        else:
            await event.wait()

    async def _accept_loop(self, listener: int, path: str | None, closed: trio.Event) -> None:
        try:
            while True:
                try:
                    fd, remote = await fdio.accept(listener)
                except trio.ClosedResourceError:
                    break
                except OSError as exc:
                    await _survive(exc)
                    continue
                await self._admit(fd, remote)
            while self._connections:
                emptied = self._emptied = self._emptied or trio.Event()
                await emptied.wait()
        finally:
            self._accepting -= 1
        try:
            await self._emit("close", ())
        finally:
            closed.set()

    async def _admit(self, fd: int, remote: SockAddr | str) -> None:
        limit = self._max_connections
        if limit is not None and len(self._connections) >= limit:
            info = _drop_info(fd, remote)
            fdb.close(fd)
            await self._emit("drop", (info,))
            return
        try:
            sock = Socket(
                fd=fd, allow_half_open=self._allow_half_open, high_water_mark=self._high_water_mark
            )
        except BaseException:
            fdb.close(fd)
            raise
        if self._pause_on_connect:
            sock.pause()
        self._connections.add(sock)
        nursery = self._nursery
        assert nursery is not None
        nursery.start_soon(self._serve_one, sock)

    async def _serve_one(self, sock: Socket) -> None:
        try:
            await sock._serve(self._on_connection)
        finally:
            self._connections.discard(sock)
            if not self._connections and self._emptied is not None:
                self._emptied.set()
                self._emptied = None

    async def _on_connection(self, sock: Socket) -> None:
        await self._emit("connection", (sock,))

    # -- state ----------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether the server is listening. Node: ``server.listening``."""
        return self._listener is not None

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

    def port(self) -> int | None:
        """The port listened on, ``None`` when not listening on TCP. EdgerOS: ``server.port()``."""
        address = self.address()
        return address.port if isinstance(address, AddressInfo) else None

    def get_connections(self) -> int:
        """How many connections are open. Node: ``server.getConnections()``."""
        return len(self._connections)

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


def create_server(
    connection_listener: Callable[..., Any] | None = None,
    *,
    allow_half_open: bool = False,
    pause_on_connect: bool = False,
    tls: object = None,
    max_connections: int | None = None,
    high_water_mark: int = 65536,
    group: str | None = None,
    subs: int = 0,
    sub_main: object = None,
) -> Server:
    """A new :class:`Server`; use it as ``async with net.create_server(fn) as server``.

    Node equivalent: ``net.createServer([options][, connectionListener])``.
    """
    return Server(
        connection_listener,
        allow_half_open=allow_half_open,
        pause_on_connect=pause_on_connect,
        tls=tls,
        max_connections=max_connections,
        high_water_mark=high_water_mark,
        group=group,
        subs=subs,
        sub_main=sub_main,
    )


def _check_max_connections(value: object) -> int | None:
    if value is None:
        return None
    return check_int("max_connections", value, 0, 2**31 - 1)


async def _survive(exc: OSError) -> None:
    """An accept error: back off or go on; a real failure of ours is raised."""
    if exc.errno in _CAPACITY_ERRNOS:
        LOGGER.warning(
            "accept: %s; retrying in %s s", errno.errorcode[exc.errno], _CAPACITY_BACKOFF
        )
        await trio.sleep(_CAPACITY_BACKOFF)
    elif exc.errno not in _PEER_ERRNOS:
        raise exc


def _drop_info(fd: int, remote: SockAddr | str) -> dict[str, object]:
    local = fdb.sock_name(fd)
    info: dict[str, object] = {}
    if isinstance(local, SockAddr):
        info.update(local_address=local.addr, local_port=local.port)
    if isinstance(remote, SockAddr):
        family = "IPv6" if remote.domain == AF_INET6 else "IPv4"
        info.update(remote_address=remote.addr, remote_port=remote.port, remote_family=family)
    return info


async def _local_address(host: str | None, port: int) -> tuple[int, str]:
    """The family and numeric address to listen on."""
    if host is None:
        return (AF_INET6, "::") if _has_ipv6() else (AF_INET, "0.0.0.0")
    family = ip_domain(host)
    if family is not None:
        return family, host
    infos = await trio.socket.getaddrinfo(host, port, type=SOCK_STREAM)
    if not infos:
        raise OSError(errno.EADDRNOTAVAIL, f"no address for {host!r}")
    return int(infos[0][0]), str(infos[0][4][0])


def _has_ipv6() -> bool:
    try:
        fdb.close(fdb.socket(AF_INET6, SOCK_STREAM))
    except OSError:
        return False
    return True


def _tcp_listener(family: int, address: tuple[str, int], backlog: int, ipv6_only: bool) -> int:
    fd = fdb.socket(family, SOCK_STREAM)
    try:
        fdo.set_reuse_addr(fd, True)
        if family == AF_INET6:
            fdo.set_ipv6_only(fd, ipv6_only)
        fdb.bind(fd, address)
        fdb.listen(fd, backlog)
    except BaseException:
        fdb.close(fd)
        raise
    return fd


def _unix_listener(path: str, backlog: int, readable_all: bool, writable_all: bool) -> int:
    fd = fdb.socket(AF_UNIX, SOCK_STREAM)
    bound = False
    try:
        fdb.bind(fd, path)
        bound = True
        mode = (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH) * readable_all | (
            stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        ) * writable_all
        if mode:
            os.chmod(path, os.stat(path).st_mode | mode)
        fdb.listen(fd, backlog)
    except BaseException:
        fdb.close(fd)
        if bound:
            os.unlink(path)
        raise
    return fd


def _adopt_listener(fd: int, backlog: int) -> int:
    _family, sock_type = kind(fd)
    if sock_type != SOCK_STREAM:
        raise ValueError(f"fd {fd} is not a stream socket")
    if not fdb.is_listen(fd):
        fdb.listen(fd, backlog)
    return fd
