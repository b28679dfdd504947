"""``net.Socket``: Node's stream socket with events, on trio (SPEC section 3).

The class is assembled from layers, each in its own module:

- ``trionet._net_core``: the tasks (reader, writer, timer), the write
  queue and the state machine, with its rules;
- ``trionet._net_stream``: the ``trio.abc.HalfCloseableStream`` methods;
- ``trionet._net_flow``: ``write``, ``end``, ``drain`` and the reading modes;
- ``trionet._net_props``: option setters and properties;
- this module: construction, ``async with``, connecting, ending, and the
  finalizer that closes an fd nobody closed.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, final

import trio

from ._core._checks import check_bool, check_int, check_max_buffer_size
from ._core._constants import SOCK_STREAM
from ._core._exception_groups import open_nursery
from ._core._fdtable import close as close_fd
from ._core._fdtable import entry, kind
from ._net_core import CLOSED_MESSAGE, NEW, OPEN
from ._net_dial import ConnectOptions, check_onread, check_options, dial
from ._net_props import SocketProps
from ._net_starttls import SocketSecure
from ._net_transport import FdTransport, Transport
from ._tls import TlsTransport
from ._types import Lookup, OnRead, TlsConfig

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Socket"]


@final
class Socket(SocketProps, SocketSecure):
    """A TCP or Unix-domain stream with Node's events, owning a nursery.

    Enter it with ``async with`` (``net.connect()`` does it for you): that
    opens its nursery, in which a reader task emits ``'data'`` and a writer
    task sends what ``write()`` could not hand to the kernel at once.
    Leaving the block normally flushes, half-closes and closes; leaving it
    by an exception destroys the socket. A socket garbage-collected while
    it still owns an fd (``Socket(fd=...)`` never entered) closes it and
    emits a ``ResourceWarning``.

    Events: ``'connect'``, ``'ready'``, ``'lookup'``, ``'data'``, ``'end'``,
    ``'finish'``, ``'drain'``, ``'timeout'``, ``'error'``, ``'close'``
    (last, once). It is also a ``trio.abc.HalfCloseableStream``.

    Node equivalent: ``net.Socket``.

    Args:
        fd: Wrap this connected stream socket fd (the socket owns it from then on).
        allow_half_open: Stay writable after the peer's FIN until ``end()``.
        readable: With ``fd``: ``False`` never reads from it.
        writable: With ``fd``: ``False`` makes every write raise.
        high_water_mark: ``write()`` returns ``False`` once this many bytes wait.
        max_buffer_size: ``None`` (Node: no bound), or a write that leaves
            more than this many bytes queued destroys the socket with a
            ``net.BufferLimitError`` (to ``'error'`` and the write callbacks).
        onread: ``{"buffer": bytearray | callable, "callback": fn(nread, buf)}``.

    Raises:
        ValueError: ``fd`` is not a stream socket.
    """

    __slots__ = ("_nursery_cm",)

    def __init__(
        self,
        *,
        fd: int | None = None,
        allow_half_open: bool = False,
        readable: bool = True,
        writable: bool = True,
        high_water_mark: int = 65536,
        max_buffer_size: int | None = None,
        onread: OnRead | None = None,
    ) -> None:
        check_bool("allow_half_open", allow_half_open)
        check_bool("readable", readable)
        check_bool("writable", writable)
        check_int("high_water_mark", high_water_mark, 0, 2**62)
        bound = check_max_buffer_size(max_buffer_size)
        checked_onread = check_onread(onread)
        if fd is not None:
            _family, sock_type = kind(fd)
            if sock_type != SOCK_STREAM:
                raise ValueError(f"fd {fd} is not a stream socket")
        super().__init__(allow_half_open, high_water_mark)
        self._max_buffer_size = bound
        self._adopt_fd = fd
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        if checked_onread is not None:
            self._set_onread(checked_onread)
        if fd is not None:
            self._adopted(readable, writable)

    # -- life cycle ---------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._nursery is not None:
            # A server's connection, entered by its handler: already running.
            return self
        if self._nursery_cm is not None:
            raise RuntimeError("a net.Socket can be entered only once")
        manager = self._nursery_cm = open_nursery()
        self._nursery = await manager.__aenter__()
        if self._adopt_fd is not None:
            self._attach(self._adopt_fd)
            self._opened()
            self._nursery.start_soon(self._run)
            self._start_tasks()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        manager = self._nursery_cm
        try:
            if exc is None:
                await self.aclose()
            else:
                self._destroy()
        except BaseException as error:
            self._destroy()
            if manager is not None:
                await manager.__aexit__(type(error), error, error.__traceback__)
            raise
        if manager is None:
            return
        # The nursery never swallows an exception: ours propagates as it was.
        await manager.__aexit__(exc_type, exc, tb)
        if self._status != OPEN:
            await self._emit_close()  # no main task ever ran to emit it

    async def _serve(
        self,
        on_connection: Callable[[Socket], Awaitable[object]],
        on_end: Callable[[Socket], object],
    ) -> None:
        """Run an accepted connection as a task of the server; ``on_end(self)`` when it ends."""
        try:
            self._server_owned = True
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    fd = self._adopt_fd
                    if fd is not None:  # None: destroyed before it started
                        self._attach(fd)
                        self._opened()
                        if await self._server_handshake():
                            self._start_tasks()
                            await on_connection(self)
                except BaseException as exc:
                    if not self._ended_by_peer(exc):
                        self._abandon()
                        raise
                await self._run()
        finally:
            on_end(self)

    def _attach(self, fd: int) -> None:
        """Take ``fd`` as the connection (the socket owns it now), wrapped in TLS if set."""
        self._adopt_fd = None
        transport: Transport = FdTransport(fd)
        if self._tls is not None:
            transport = self._tls.wrap(transport)
        self._transport = transport
        self._fd_arrived(entry(fd).sock)

    async def _handshake(self, timeout: float | None) -> None:
        """Run the TLS handshake of the transport just attached."""
        transport = self._transport
        assert isinstance(transport, TlsTransport)
        await transport.do_handshake(timeout=timeout)

    async def _server_handshake(self) -> bool:
        """A server connection's TLS handshake, if any; ``False`` if it failed.

        A failure is the peer's doing: the socket is destroyed with it, and
        (nobody having seen the socket yet) it is logged when it closes.
        """
        setup = self._tls
        if setup is None:
            return True
        try:
            await self._handshake(setup.handshake_timeout)
        except OSError as exc:  # ssl.SSLError, Timeout, a reset...
            self._destroy(exc)
            return False
        except trio.ClosedResourceError:
            if not self._destroyed:
                raise
            return False
        return True

    def __del__(self) -> None:
        # SPEC 0, "No leaks": an fd the user never closed (a Socket(fd=...)
        # never entered, or dropped while open) is closed, then reported.
        # No events, no task: the run that owned them may be gone.
        if getattr(self, "_destroyed", True):
            return  # closed already, or __init__ failed before taking the fd
        transport, fd = self._transport, self._adopt_fd
        if transport is not None:
            fd = transport.fd
            transport.close()
        elif fd is not None:
            close_fd(fd)
        else:
            return
        self._collected()
        warnings.warn(
            f"net.Socket with fd {fd} was never closed",
            ResourceWarning,
            stacklevel=2,
            source=self,
        )

    def fileno(self) -> int:
        """The socket's fd, or ``-1`` when it has none (not connected, or closed)."""
        transport = self._transport
        if transport is None or self._destroyed:
            return -1
        return transport.fd

    # -- connecting ---------------------------------------------------------

    async def connect(
        self,
        port: int | None = None,
        host: str = "localhost",
        *,
        path: str | None = None,
        family: int = 0,
        local_address: str | None = None,
        local_port: int | None = None,
        lookup: Lookup | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        tls: TlsConfig | None = None,
        on_connect: Callable[[], object] | None = None,
        onread: OnRead | None = None,
    ) -> Self:
        """Connect this socket (inside its ``async with`` block); return it.

        The options are those of ``net.connect``. On failure ``'error'``
        and ``'close'`` are emitted and the error is raised as well.
        ``destroy()`` during the connect interrupts it. ``'connect'`` and
        ``'ready'`` come on a later tick, as in Node: once the caller next
        waits, so listeners added right after this returns hear them.

        Node equivalent: ``socket.connect(options[, connectListener])``.

        Raises:
            OSError: the connection failed (``ConnectionRefusedError``, ...).
            Timeout: ``connect_timeout`` ran out.
            trio.ClosedResourceError: destroyed while connecting.
        """
        options = check_options(
            port,
            host,
            path=path,
            family=family,
            local_address=local_address,
            local_port=local_port,
            lookup=lookup,
            timeout=timeout,
            connect_timeout=connect_timeout,
            tls=tls,
            on_connect=on_connect,
            onread=onread,
        )
        await self._connect(options)
        return self

    async def _connect(self, options: ConnectOptions) -> None:
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError("enter the socket first: async with net.Socket() as sock: ...")
        if self._destroyed:
            raise trio.ClosedResourceError(CLOSED_MESSAGE)
        if self._status != NEW:
            raise RuntimeError("the socket is already connecting or connected")
        if options.on_connect is not None:
            self.once("connect", options.on_connect)
        if options.onread is not None:
            self._set_onread(options.onread)
        if options.timeout is not None:
            self.set_timeout(options.timeout)
        self._start_connecting()
        self._tls = options.tls
        self._peer_host = options.host if options.path is None else None
        start = trio.current_time()
        await self._connect_step(self._dial(options))
        if self._tls is not None:
            limit = options.connect_timeout  # it bounds the whole connect, handshake included
            left = None if limit is None else max(0.0, start + limit - trio.current_time())
            await self._connect_step(self._handshake(left))
        self._connected()
        nursery.start_soon(self._run)
        self._start_tasks()

    async def _connect_step(self, step: Awaitable[None]) -> None:
        """Await one step of connecting; ``destroy()`` interrupts it; a failure closes.

        Raises:
            OSError: the step failed (after ``'error'`` and ``'close'``).
            trio.ClosedResourceError: ``destroy()`` was called meanwhile.
        """
        try:
            with trio.CancelScope() as scope:
                self._connect_scope = scope
                await step
                return
        except OSError as exc:
            self._destroy(exc, reported=True)
            await self._emit_close()
            raise
        except trio.ClosedResourceError:
            if not self._destroyed:
                self._abandon()
                raise
        except BaseException:
            self._abandon()
            raise
        finally:
            self._connect_scope = None
        await self._emit_close()
        raise trio.ClosedResourceError("the socket was destroyed while connecting")

    async def _dial(self, options: ConnectOptions) -> None:
        fd = await dial(options, self._report_lookup)
        if self._destroyed:  # destroy() came just as the connect succeeded
            close_fd(fd)
            raise trio.ClosedResourceError(CLOSED_MESSAGE)
        self._attach(fd)

    async def _report_lookup(
        self, error: BaseException | None, address: str | None, family: int | None, host: str
    ) -> None:
        await self._emit("lookup", (error, address, family, host))

    # -- ending -------------------------------------------------------------

    def destroy(self, error: BaseException | None = None) -> Self:
        """Stop all I/O now: drop the queue, close the fd, emit ``'error'`` and ``'close'``.

        ``'error'`` is emitted only when ``error`` is given.

        Queued write callbacks get a ``trio.ClosedResourceError``. Twice is a no-op.

        Node equivalent: ``socket.destroy([error])``.
        """
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f"error must be an exception, not {type(error).__name__}")
        self._destroy(error)
        return self

    async def aclose(self) -> None:
        """Flush the queue, send FIN and close, without waiting for the peer.

        Cancelled, it still closes (the queue is then dropped). Twice is a no-op.
        """
        self._closing_by_user()
        if self._destroyed:
            await trio.lowlevel.checkpoint()
            return
        try:
            if self._status == OPEN:
                self._end()
                await self._wait_idle()
        finally:
            self._destroy()
        await trio.lowlevel.checkpoint()

    async def wait_closed(self) -> None:
        """Wait until ``'close'`` has been emitted."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        event = self._closed_event
        if event is None:
            event = self._closed_event = trio.Event()
        await event.wait()
