"""``net.Server``: accepts connections and runs each as a ``Socket`` in its nursery.

The server's nursery (opened by ``async with``) holds one accept task per
``listen()`` and one task per connection. A connection's task emits
``'connection'``, then reads (see ``trionet._net_core``), so an idle
connection costs one task. ``close()`` closes the listening fd at once,
which ends the accept task; that task then waits for the last connection
to close and emits ``'close'``.

A peer's misbehaviour never stops the server: accept errors caused by the
peer or by running out of fds are retried, and connection errors end only
that connection. An exception from user code (a listener) is not caught:
it takes the server's nursery down and comes out of its ``async with``.

With ``subs=N`` the server is the master of a multi-task group: see
``trionet._net_subs`` for how connections reach the sub-servers.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

import trio

from . import _fd_basic as fdb
from . import _fd_io as fdio
from ._core._addr import SockAddr, to_sockaddr
from ._core._args import check_unix_path
from ._core._checks import check_bool, check_int, check_max_buffer_size, check_port
from ._core._exception_groups import open_nursery
from ._core._timeout import check_timeout
from ._net_core import LOGGER
from ._net_edgeros import edgeros_form
from ._net_errors import ServerAlreadyListeningError, ServerNotRunningError
from ._net_listen import (
    adopt_listener,
    drop_info,
    local_address,
    survive,
    tcp_listener,
    unix_listener,
)
from ._net_props import family_name
from ._net_server_state import ServerState
from ._net_socket import Socket
from ._net_subs import Group, Stop, check_group, check_sub_main, take_dispatched
from ._net_tls import server_certificates, server_setup
from ._net_workers import ProcessGroup, check_picklable
from ._proxy_read import ProxyHeaderError, log_dropped, read_proxy_header
from ._tls_options import TlsOptions
from ._types import TlsConfig

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._mailbox import Mailbox
    from ._tls_options import Pem

__all__ = ["Server", "create_server"]

_TASK_NAME = "trionet.net.Socket._serve"  # each connection's task, as trio would name it


@final
class Server(ServerState):
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
        tls: ``net.TlsOptions`` or an ``ssl.SSLContext``: serve TLS (see
            ``add_cert`` for more certificates). Each connection's handshake
            runs in its own task before ``'connection'``; a failed one is
            logged on the ``trionet.net`` logger, and one that takes more
            than ``HANDSHAKE_TIMEOUT`` (120 s) fails.
        max_connections: More connections are accepted and closed at once
            (``'drop'``); on a master, counted over the whole group.
        high_water_mark: Passed to each connection's ``Socket``.
        max_buffer_size: Passed to each connection's ``Socket``: a
            connection whose write queue grows past it is destroyed with a
            ``net.BufferLimitError`` (logged without an ``'error'``
            listener), and the server goes on. ``None``: no bound (Node).
        group: The group name (EdgerOS); ``'server'`` by default.
        subs: How many sub-servers (EdgerOS multi-task mode), each a
            ``trionet.task`` task; ``0``: a single-task server.
        sub_main: Runs in each sub task with its sub-server (sync or async):
            a callable or an importable ``"module:function"``. Without it
            ``connection_listener`` serves in the subs too. Unused when
            ``subs=0``.
        proxy_protocol: Each connection starts with a PROXY v1 or v2 header
            (HAProxy's ``send-proxy`` / ``send-proxy-v2``, an AWS NLB), read
            before TLS and ``'connection'``: ``remote_address``,
            ``remote_port`` and ``remote_family`` are then the client's. A
            connection without a valid header within 10 s is logged on the
            ``trionet.net`` logger and closed (see ``docs/deploy.md``).
        processes: With ``subs``: run the sub-servers in worker processes
            (SPEC 10), fds handed over ``SCM_RIGHTS``; ``sub_main``,
            ``connection_listener`` and ``tls`` must then be picklable (see
            ``docs/deploy.md``).
        reuse_port: Set ``SO_REUSEPORT`` on a TCP listening socket, so
            servers in several processes can ``listen()`` on the same port
            and the kernel balances connections between them.
        saddr: Where ``listen()`` with no address listens: a ``SockAddr``
            or a ``(host, port)`` tuple (EdgerOS's ``saddr``; port ``0``
            picks a free one, ``port()`` tells which).

    Raises:
        TypeError: an argument has the wrong type (``sub_main`` neither
            callable nor a ``str``; ``group`` not a ``str``...).
        ValueError: a bad value (``subs`` negative, ``sub_main`` not
            importable, ``group`` empty...).
    """

    __slots__ = (
        "_accepting",
        "_allow_half_open",
        "_close_event",
        "_emptied",
        "_high_water_mark",
        "_max_buffer_size",
        "_nursery",
        "_nursery_cm",
        "_path",
        "_pause_on_connect",
        "_proxy",
        "_reuse_port",
        "_saddr",
        "_serving",
        "_sni",
        "_tls",
    )

    def __init__(
        self,
        connection_listener: Callable[[Socket], object] | None = None,
        *,
        allow_half_open: bool = False,
        pause_on_connect: bool = False,
        tls: TlsConfig | None = None,
        max_connections: int | None = None,
        high_water_mark: int = 65536,
        max_buffer_size: int | None = None,
        group: str | None = None,
        subs: int = 0,
        sub_main: Callable[[Server], object] | str | None = None,
        proxy_protocol: bool = False,
        reuse_port: bool = False,
        processes: bool = False,
        saddr: SockAddr | tuple[str, int] | None = None,
    ) -> None:
        group_name = check_group(group)
        self._saddr = None if saddr is None else to_sockaddr(saddr, "saddr")
        super().__init__(max_connections, (group_name, "master"))
        self._allow_half_open = check_bool("allow_half_open", allow_half_open)
        self._pause_on_connect = check_bool("pause_on_connect", pause_on_connect)
        self._high_water_mark = check_int("high_water_mark", high_water_mark, 0, 2**62)
        self._max_buffer_size = check_max_buffer_size(max_buffer_size)
        self._proxy = check_bool("proxy_protocol", proxy_protocol)
        self._reuse_port = check_bool("reuse_port", reuse_port)
        check_int("subs", subs, 0, 1024)
        checked_sub_main = check_sub_main(sub_main)
        self._sni = server_certificates(tls)
        self._tls = None if self._sni is None else server_setup(self._sni)
        if subs and check_bool("processes", processes):
            self._group = _process_group(
                group_name, subs, checked_sub_main, connection_listener, tls, locals()
            )
        elif subs:
            options = {
                "allow_half_open": allow_half_open,
                "pause_on_connect": pause_on_connect,
                "high_water_mark": high_water_mark,
                "max_buffer_size": max_buffer_size,
                "proxy_protocol": proxy_protocol,
                "tls": self._sni,  # shared: add_cert on the master serves the subs too
            }
            self._group = Group(
                group_name, subs, checked_sub_main, connection_listener, options, Server._sub
            )
        self._path: str | None = None
        self._nursery: trio.Nursery | None = None
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._emptied: trio.Event | None = None
        self._close_event: trio.Event | None = None
        self._accepting = 0
        # Made once: each connection's task holds them for its whole life,
        # and a bound method made per connection would be idle memory.
        self._serving = (self._on_connection, self._gone)
        if connection_listener is not None:
            self.on("connection", connection_listener)

    # -- life cycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._nursery_cm is not None:
            raise RuntimeError("a net.Server can be entered only once")
        manager = self._nursery_cm = open_nursery()
        nursery = self._nursery = await manager.__aenter__()
        if self._group is not None and self._index == 0:
            try:
                await nursery.start(self._group.run)
            except BaseException as exc:
                await manager.__aexit__(type(exc), exc, exc.__traceback__)
                raise
        return self

    @classmethod
    def _sub(cls, group: Group, index: int) -> Server:
        """Sub-server ``index`` of ``group``, made in its sub task."""
        sub = cls(group.listener, **group.options)
        sub._group = group
        sub._group_name = (group.name, f"sub{index}")
        sub._index = index
        sub._receiving = True  # until its master stops it
        return sub

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._listener is not None:
            self.close()
        if self._index:
            self._receiving = False  # a sub whose block is left listens no more
        destroy = exc is not None or not self._refed
        for sock in list(self._connections):
            if destroy or not sock._refed:
                sock.destroy()
        if self._group is not None and self._index == 0:
            self._group.stop(leaving=True, destroy=destroy)
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
        """Bind and listen, and start accepting; return the server.

        ``'listening'`` follows on a later tick, as in Node (once the caller
        next waits), so a listener added right after this returns hears it;
        a server closed before then never emits it.

        ``host=None`` listens on ``::`` (dual stack unless ``ipv6_only``)
        where IPv6 exists, else on ``0.0.0.0``. ``path`` listens on a
        Unix-domain socket (unlinked by ``close()``; ``readable_all`` /
        ``writable_all`` open its permissions to everyone). ``fd`` takes a
        bound stream socket, which the server then owns. ``exclusive`` is
        accepted for Node's sake and changes nothing (a master never shares
        its listening fd: it hands over accepted connections).
        ``SO_REUSEADDR`` is on, as in Node. With no address at all it
        listens on the server's ``saddr``, if it was given one (EdgerOS).

        On a sub-server (EdgerOS ``SUB`` mode) ``listen()`` binds nothing
        (``'listening'`` follows all the same, unless the sub stops first:
        its master closed, or its block was left), since the sub takes its
        connections from its master. It takes no address there.

        Node equivalent: ``server.listen()``.

        Raises:
            ServerAlreadyListeningError: it is listening already.
            OSError: binding failed (``EADDRINUSE``...); ``'error'`` is emitted too.
            ValueError: an address given to a sub-server.
            RuntimeError: a master whose sub-servers have ended (after ``close()``).
        """
        port = check_port("port", port)
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
        if path is not None:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"path must be a str or path-like, not {type(path).__name__}")
            check_unix_path("path", os.fspath(path))
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError("enter the server first: async with net.create_server() as server")
        saddr = self._saddr
        if saddr is not None and (port, host, path, fd) == (0, None, None, None):
            port, host = saddr.port, saddr.addr  # EdgerOS: server.listen() uses saddr
        if self._index:
            if (port, host, path, fd) != (0, None, None, None):
                raise ValueError("a sub-server takes no address: its master listens for it")
            nursery.start_soon(self._sub_listening)
            return self
        if self._listener is not None:
            raise ServerAlreadyListeningError("the server is already listening")
        if self._group is not None and self._group.stopped:
            raise RuntimeError("a closed multi-task server cannot listen again: its subs ended")
        try:
            if fd is not None:
                listener = adopt_listener(fd, backlog)
            elif path is not None:
                unix_path = self._path = str(os.fspath(path))
                listener = unix_listener(unix_path, backlog, readable_all, writable_all)
            else:
                family, address = await local_address(host, port)
                listener = tcp_listener(
                    family, (address, port), backlog, ipv6_only, self._reuse_port
                )
        except OSError as exc:
            self._path = None
            await self._emit("error", (exc,))
            raise
        self._listener = listener
        self._close_event = trio.Event()
        self._accepting += 1
        nursery.start_soon(self._accept_loop, listener, self._path, self._close_event)
        return self

    def close(self, callback: Callable[[], object] | None = None) -> Self:
        """Stop accepting now; ``'close'`` follows once every connection has closed.

        ``callback`` becomes a ``'close'`` listener, once. A Unix-domain
        socket's path is unlinked.

        On a master, the sub-servers stop too: each emits its own
        ``'close'`` once its connections have closed, and the master's comes
        after all of theirs.

        Node equivalent: ``server.close([callback])``.

        Raises:
            ServerNotRunningError: the server is not listening.
            RuntimeError: a sub-server (it closes with its master).
        """
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        if self._index:
            raise RuntimeError("a sub-server closes with its master: close the master")
        listener = self._listener
        if listener is None:
            raise ServerNotRunningError("the server is not listening")
        if callback is not None:
            self.once("close", callback)
        self._listener = None
        fdb.close(listener)
        if self._group is not None:
            self._group.stop(leaving=False)
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
            self._path = None
        return self

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop gracefully: stop accepting, let connections finish, then cut what is left.

        ``close()`` at once (unless closed already), then wait up to
        ``timeout`` seconds for every connection (on a master: in every
        sub-server) to end by itself; when time runs out, destroy those
        still open. Returns once ``'close'`` has been emitted. ``None``
        waits as long as it takes, like ``close()`` then ``wait_closed()``.
        Cancelling the caller stops the wait only.

        No Node equivalent: ``server.close()`` then a timer that destroys
        the remaining sockets, as Node users write it by hand.

        Raises:
            RuntimeError: a sub-server (it stops with its master).
        """
        timeout = check_timeout(timeout)
        if self._index:
            raise RuntimeError("a sub-server closes with its master: shut the master down")
        if self._listener is not None:
            self.close()
        with trio.move_on_after(math.inf if timeout is None else timeout):
            await self.wait_closed()
            return
        for sock in list(self._connections):
            sock.destroy()
        if self._group is not None:
            self._group.stop(leaving=True, destroy=True)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until ``'close'`` has been emitted (at once if it never listened)."""
        event = self._close_event
        if event is None:
            await trio.lowlevel.checkpoint()
        else:
            await event.wait()

    async def _accept_loop(self, listener: int, path: str | None, closed: trio.Event) -> None:
        try:
            # 'listening' on a later tick, as Node's emitListeningNT: a
            # listener added right after listen() hears it; not once closed.
            if self._listener is not None and self._close_event is closed:
                await self._emit("listening", ())
            # Only while this listen() is the current one: close() closes the
            # fd before this task may have run, and by then its number may be
            # a file's or another socket's (a later listen() gets a new event).
            while self._listener is not None and self._close_event is closed:
                try:
                    fd, remote = await fdio.accept(listener)
                except trio.ClosedResourceError:
                    break
                except OSError as exc:
                    await survive(exc)
                    continue
                await self._dispatch(fd, remote)
            await self._drained()
            if self._group is not None:
                await self._group.ended.wait()
        finally:
            self._accepting -= 1
        await self._emit_close(closed)

    async def _sub_listening(self) -> None:
        # On a later tick, as the master's (_accept_loop), and as there not
        # once the sub has stopped: its master closed, or its block was left.
        if self._receiving:
            await self._emit("listening", ())

    async def _serve_dispatched(self, inbox: Mailbox) -> None:
        """A sub-server's accept loop: serve its master's handoffs until told to stop."""
        group = self._group
        assert isinstance(group, Group)
        closed = self._close_event = trio.Event()
        stopped = trio.Event()

        def stop(msg: Stop) -> None:
            self._receiving = False
            stopped.set()
            if msg.leaving:
                destroy = msg.destroy or not self._refed
                for sock in list(self._connections):
                    if destroy or not sock._refed:
                        sock.destroy()

        group.sub_ready()
        async with open_nursery() as nursery:
            nursery.start_soon(take_dispatched, inbox, self._admit, stop)
            await stopped.wait()
            await self._drained()
            nursery.cancel_scope.cancel()
        await self._emit_close(closed)

    async def _drained(self) -> None:
        while self._connections:
            emptied = self._emptied = self._emptied or trio.Event()
            await emptied.wait()

    async def _emit_close(self, closed: trio.Event) -> None:
        try:
            await self._emit("close", ())
        finally:
            closed.set()

    async def _dispatch(self, fd: int, remote: SockAddr | str) -> None:
        """An accepted fd: drop it (``max_connections``), serve it, or hand it to a sub."""
        limit = self._max_connections
        if limit is not None and self.get_connections() >= limit:
            info = drop_info(fd, remote)
            fdb.close(fd)
            await self._emit("drop", (info,))
            return
        group = self._group
        member = 0 if group is None else group.next_member()
        if group is not None and member:
            group.hand(member, fd, remote)
        else:
            await self._admit(fd, remote)

    async def _admit(self, fd: int, remote: SockAddr | str) -> None:
        """Wrap a connection in a ``Socket`` and serve it, in the task that serves it.

        This runs on the receiving side of a handoff too (a sub-server), so
        whatever is set up per connection (a TLS server context wrapping the
        transport, and its handshake) belongs here or in ``Socket._serve``.
        """
        try:
            sock = Socket(
                fd=fd,
                allow_half_open=self._allow_half_open,
                high_water_mark=self._high_water_mark,
                max_buffer_size=self._max_buffer_size,
            )
        except BaseException:
            fdb.close(fd)
            raise
        sock._tls = self._tls  # the handshake runs in the connection's own task
        sock._late_nursery = self._nursery
        if self._pause_on_connect:
            sock.pause()
        self._connections.add(sock)
        self._counted()
        nursery = self._nursery
        assert nursery is not None
        if self._proxy:
            nursery.start_soon(self._serve_proxied, sock, fd, remote)
        else:
            # The socket's own coroutine is the task: no wrapper frame stays
            # suspended for the connection's whole life (idle memory counts).
            # A constant name, or trio formats one string per connection.
            nursery.start_soon(sock._serve, *self._serving, name=_TASK_NAME)

    async def _serve_proxied(self, sock: Socket, fd: int, remote: SockAddr | str) -> None:
        """Read the PROXY header off ``fd`` (counted as a connection meanwhile), then serve."""
        on_connection = self._on_connection
        try:
            header = await read_proxy_header(fd)
        except ProxyHeaderError as exc:
            log_dropped(LOGGER, remote, exc)
            sock.destroy()
        except trio.ClosedResourceError:
            pass  # destroyed while waiting: the server is going away
        else:
            source = header.source
            if source is not None:

                async def on_connection(sock: Socket) -> None:
                    sock._remote = (source.addr, family_name(source.domain), source.port)
                    await self._on_connection(sock)

        await sock._serve(on_connection, self._gone)

    def _gone(self, sock: Socket) -> None:
        """A connection's task ended."""
        self._connections.discard(sock)
        self._counted()
        if not self._connections and self._emptied is not None:
            self._emptied.set()
            self._emptied = None

    async def _on_connection(self, sock: Socket) -> None:
        await self._emit("connection", (sock,))

    def _counted(self) -> None:
        if self._group is not None:
            self._group.count(self._index, len(self._connections))
        elif self._count_changed is not None:
            self._count_changed()

    def add_cert(
        self,
        name: str,
        cert: Pem,
        key: Pem,
        ca: Pem | None = None,
        passwd: str | bytes | None = None,
    ) -> Self:
        """Serve ``cert`` / ``key`` to TLS clients that ask for ``name`` (SNI); return the server.

        Any time, also while listening; a later call for the same name
        replaces the certificate. Names match without regard to case, and
        ``*.example.com`` matches one label. A client asking for another
        name, or none, gets the default certificate of ``tls=``. The
        certificate shares the default's ``alpn``, ``verify`` and (unless
        ``ca`` is given) ``ca``. On a multi-task server, call it on the
        master: the subs share its certificates.

        EdgerOS equivalent: ``server.addcert({name, cert, key, ca, passwd})``;
        Node: ``server.addContext(hostname, context)``.

        Raises:
            RuntimeError: the server was made without ``tls=``.
            TypeError, ValueError: a bad argument, or a certificate that
                could not be loaded (the message names the argument).
        """
        if self._sni is None:
            raise RuntimeError("add_cert needs a TLS server: create_server(..., tls=...)")
        self._sni.add(name, cert, key, ca, passwd)
        return self


def create_server(
    connection_listener: Callable[[Socket], object] | str | None = None,
    *edgeros: object,
    allow_half_open: bool = False,
    pause_on_connect: bool = False,
    tls: TlsConfig | None = None,
    max_connections: int | None = None,
    high_water_mark: int = 65536,
    max_buffer_size: int | None = None,
    group: str | None = None,
    subs: int = 0,
    sub_main: Callable[[Server], object] | str | None = None,
    proxy_protocol: bool = False,
    reuse_port: bool = False,
    processes: bool = False,
    saddr: SockAddr | tuple[str, int] | None = None,
) -> Server:
    """A new ``Server``; use it as ``async with net.create_server(fn) as server``.

    The keywords are ``Server``'s. EdgerOS's positional form works too: a
    ``str`` first argument is the group, then ``subs``, and optionally
    ``sub_main`` (a ``str``), ``saddr`` and ``tls``, as in
    ``create_server("server", 0, saddr)``; ``server.listen()`` then
    listens on ``saddr``.

    Node equivalent: ``net.createServer([options][, connectionListener])``;
    EdgerOS: ``net.createServer(group, subs[, subMode][, saddr[, tlsOpt]])``.

    Raises:
        TypeError: an argument given both by position and by name, too
            many positional arguments, or Server's own checks.
    """
    where: dict[str, Any] = {
        "group": group,
        "subs": subs,
        "sub_main": sub_main,
        "saddr": saddr,
        "tls": tls,
    }
    if isinstance(connection_listener, str):
        where = edgeros_form(connection_listener, edgeros, where)
        connection_listener = None
    elif edgeros:
        raise TypeError(
            "create_server takes one positional argument, the connection listener"
            " (or EdgerOS's group, subs[, sub_main][, saddr[, tls]])"
        )
    return Server(
        connection_listener,
        allow_half_open=allow_half_open,
        pause_on_connect=pause_on_connect,
        max_connections=max_connections,
        high_water_mark=high_water_mark,
        max_buffer_size=max_buffer_size,
        proxy_protocol=proxy_protocol,
        reuse_port=reuse_port,
        processes=processes,
        **where,
    )


def _process_group(
    name: str,
    subs: int,
    sub_main: Callable[..., object] | None,
    listener: Callable[..., object] | None,
    tls: object,
    arguments: dict[str, object],
) -> ProcessGroup:
    """The worker processes' group; what they need must cross a process boundary."""
    if tls is not None and not isinstance(tls, TlsOptions):
        raise ValueError(
            "tls with processes=True must be net.TlsOptions (an SSLContext cannot be pickled)"
        )
    options = {
        key: arguments[key]
        for key in (
            "allow_half_open",
            "pause_on_connect",
            "high_water_mark",
            "max_buffer_size",
            "proxy_protocol",
        )
    }
    options["tls"] = tls
    check_picklable("sub_main", sub_main)
    check_picklable("connection_listener", listener if sub_main is None else None)
    return ProcessGroup(name, subs, sub_main, listener, options)
