"""``net.Socket``: Node's stream socket with events, on trio (SPEC section 3).

The tasks and the state machine live in :mod:`trionet._net_core`; this
module is the public surface: construction and ``async with``, connecting,
writing, reading modes, options and properties. The trio stream methods
(``send_all``, ``receive_some``, ...) are in :mod:`trionet._net_stream`.
"""

from __future__ import annotations

import codecs
import socket as _stdsocket
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, final

import trio

from ._addr import SockAddr, from_os
from ._checks import check_bool, check_int, check_seconds, whole_seconds
from ._constants import AF_INET, AF_INET6, SOCK_STREAM
from ._fdtable import entry, kind
from ._groups import open_nursery
from ._net_core import CLOSED_MESSAGE, CONNECTING, NEW, OPEN, WriteCallback
from ._net_dial import ConnectOptions, check_onread, check_options, dial
from ._net_errors import AddressInfo, WriteAfterEndError
from ._net_stream import StreamMethods
from ._net_transport import FdTransport

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._ops import Buffer

__all__ = ["Socket"]

_MAX_KEEPALIVE_SECONDS = 32767
_NO_ADDRESS: tuple[str | None, str | None, int | None] = (None, None, None)


def _family_name(domain: int) -> str:
    return "IPv6" if domain == AF_INET6 else "IPv4"


def _payload(data: object, encoding: object) -> Buffer:
    if isinstance(data, str):
        if not isinstance(encoding, str):
            raise TypeError(f"encoding must be a str, not {type(encoding).__name__}")
        return data.encode(encoding)
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, memoryview):
        return data.cast("B") if data.format != "B" or data.ndim != 1 else data
    raise TypeError(f"data must be bytes-like or str, not {type(data).__name__}")


def _check_callback(name: str, callback: object) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable, not {type(callback).__name__}")


@final
class Socket(StreamMethods):
    """A TCP or Unix-domain stream with Node's events, owning a nursery.

    Enter it with ``async with`` (``net.connect()`` does it for you): that
    opens its nursery, in which a reader task emits ``'data'`` and a writer
    task sends what ``write()`` could not hand to the kernel at once.
    Leaving the block normally flushes, half-closes and closes; leaving it
    by an exception destroys the socket.

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
        onread: ``{"buffer": bytearray | callable, "callback": fn(nread, buf)}``.

    Raises:
        ValueError: ``fd`` is not a stream socket.
    """

    __slots__ = ("_nursery_cm", "_options", "_refed", "_remote", "_unix")

    def __init__(
        self,
        *,
        fd: int | None = None,
        allow_half_open: bool = False,
        readable: bool = True,
        writable: bool = True,
        high_water_mark: int = 65536,
        onread: dict[str, Any] | None = None,
    ) -> None:
        check_bool("allow_half_open", allow_half_open)
        check_bool("readable", readable)
        check_bool("writable", writable)
        check_int("high_water_mark", high_water_mark, 0, 2**62)
        checked_onread = check_onread(onread)
        if fd is not None:
            _family, sock_type = kind(fd)
            if sock_type != SOCK_STREAM:
                raise ValueError(f"fd {fd} is not a stream socket")
        super().__init__(allow_half_open, high_water_mark)
        self._adopt_fd = fd
        self._nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        self._options: list[Callable[[], None]] | None = None
        self._refed = True
        self._remote = _NO_ADDRESS
        self._unix = False
        if checked_onread is not None:
            self._set_onread(checked_onread)
        if fd is not None:
            self._eof = not readable
            self._ended = self._finished = not writable

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

    async def _serve(self, on_connection: Callable[[Socket], Awaitable[object]]) -> None:
        """Run an accepted connection in the calling task (the server's)."""
        self._server_owned = True
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                fd = self._adopt_fd
                if fd is not None:  # None: destroyed before it started
                    self._attach(fd)
                    self._start_tasks()
                    await on_connection(self)
            except trio.BrokenResourceError as exc:
                if self._error is None or exc.__cause__ is not self._error:
                    self._abandon()
                    raise
                # The peer broke the connection under the listener (which did
                # not catch it): a peer's error, so the socket just closes.
            except BaseException:
                self._abandon()
                raise
            await self._run()

    def _attach(self, fd: int) -> None:
        """Take ``fd`` as the connected transport (the socket owns it now)."""
        self._adopt_fd = None
        self._transport = FdTransport(fd)
        self._status = OPEN
        sock = entry(fd).sock
        self._unix = sock.family not in (AF_INET, AF_INET6)
        if not self._unix:
            try:
                peer = from_os(sock.getpeername())
            except OSError:
                peer = None
            if isinstance(peer, SockAddr):
                self._remote = (peer.addr, _family_name(peer.domain), peer.port)
        for apply in self._options or ():
            apply()
        self._options = None

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
        lookup: Callable[..., Any] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        tls: object = None,
        on_connect: Callable[..., Any] | None = None,
        onread: dict[str, Any] | None = None,
    ) -> Self:
        """Connect this socket (inside its ``async with`` block); return it.

        The options are those of ``net.connect``. On failure ``'error'``
        and ``'close'`` are emitted and the error is raised as well.
        ``destroy()`` during the connect interrupts it.

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
        self._status = CONNECTING
        try:
            with trio.CancelScope() as scope:
                self._connect_scope = scope
                fd = await dial(options, self._report_lookup)
            self._connect_scope = None
        except OSError as exc:
            self._destroy(exc, reported=True)
            await self._emit_close()
            raise
        except BaseException:
            self._abandon()
            raise
        if scope.cancelled_caught:
            await self._emit_close()
            raise trio.ClosedResourceError("the socket was destroyed while connecting")
        self._attach(fd)
        nursery.start_soon(self._run)
        self._start_tasks()
        await self._emit("connect", ())
        await self._emit("ready", ())

    async def _report_lookup(
        self, error: BaseException | None, address: str | None, family: int | None, host: str
    ) -> None:
        await self._emit("lookup", (error, address, family, host))

    # -- writing ------------------------------------------------------------

    def write(
        self,
        data: bytes | bytearray | memoryview | str,
        encoding: str = "utf-8",
        callback: WriteCallback | None = None,
    ) -> bool:
        """Send ``data`` without blocking; ``False`` once ``buffer_size >= high_water_mark``.

        What the kernel takes at once goes at once; the rest is queued for
        the writer task, and ``'drain'`` follows a ``False`` once the queue
        is empty. ``callback(err)`` runs (in the writer task) when this
        chunk reached the kernel, with ``None``, or failed. Before the
        connection is made, everything is queued.

        Node equivalent: ``socket.write(data[, encoding][, callback])``.

        Raises:
            WriteAfterEndError: after ``end()``.
            trio.ClosedResourceError: after the socket was destroyed.
            TypeError: ``data`` is not bytes-like or ``str``.
        """
        _check_callback("callback", callback)
        payload = _payload(data, encoding)
        self._check_writable()
        size = len(payload)
        self._bytes_written += size
        if callback is None and self._queue is None and self._status == OPEN:
            if not size:
                return True
            transport = self._transport
            assert transport is not None
            try:
                sent = transport.try_send(payload)
            except OSError:
                sent = 0  # would block, or failed: the writer retries and reports
            else:
                self._touch()
                if sent == size:
                    return self._buffer_size < self._high_water_mark
            payload = memoryview(payload)[sent:]
        if type(payload) is not bytes and (
            not isinstance(payload, memoryview) or type(payload.obj) is not bytes
        ):
            payload = bytes(payload)  # the caller may change its buffer after we return
        self._enqueue(payload, callback)
        if self._buffer_size >= self._high_water_mark:
            self._need_drain = True
            return False
        return True

    def _check_writable(self) -> None:
        if self._ended:
            raise WriteAfterEndError("write after end(): the socket is no longer writable")
        if self._destroyed:
            if self._error is not None and not self._user_closed:
                raise trio.BrokenResourceError("the connection failed") from self._error
            raise trio.ClosedResourceError(CLOSED_MESSAGE)

    def end(
        self,
        data: bytes | bytearray | memoryview | str | None = None,
        encoding: str = "utf-8",
        callback: Callable[[], Any] | None = None,
    ) -> Self:
        """Queue ``data``, then send FIN once the queue is flushed (``'finish'``).

        ``callback`` becomes a ``'finish'`` listener. Twice, or after the
        socket closed, it does nothing.

        Node equivalent: ``socket.end([data[, encoding]][, callback])``.
        """
        _check_callback("callback", callback)
        if self._ended or self._destroyed:
            return self
        if data is not None:
            self.write(data, encoding)
        if callback is not None:
            self.once("finish", callback)
        self._end()
        return self

    async def drain(self) -> None:
        """Wait until every queued byte has been handed to the kernel.

        Raises:
            trio.ClosedResourceError: the socket was destroyed with bytes still queued.
        """
        await trio.lowlevel.checkpoint()
        await self._wait_idle()
        if self._destroyed and self._buffer_size:
            raise trio.ClosedResourceError("the socket was destroyed before the queue drained")

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
        self._user_closed = True
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

    # -- reading ------------------------------------------------------------

    def _added(self, event: str) -> None:
        if event == "data" and self._flowing is None:
            self._flowing = True
            self._kick()

    def _set_onread(self, onread: dict[str, Any]) -> None:
        self._onread = (onread["buffer"], onread["callback"])
        if self._flowing is None:
            self._flowing = True
            self._kick()

    def pause(self) -> Self:
        """Stop reading from the kernel (the peer feels TCP backpressure).

        A read already waiting is abandoned; a chunk it had already taken is
        kept and delivered first on ``resume()`` (or to ``receive_some``).

        Node equivalent: ``socket.pause()``.
        """
        self._flowing = False
        scope = self._read_scope
        if self._in_read and scope is not None:
            scope.cancel()
        return self

    def resume(self) -> Self:
        """Read again (and flow even without a ``'data'`` listener, as Node).

        Node equivalent: ``socket.resume()``.
        """
        if not self._destroyed:
            self._flowing = True
            self._kick()
        return self

    def is_paused(self) -> bool:
        """Whether ``pause()`` was called more recently than ``resume()``.

        Node equivalent: ``readable.isPaused()``.
        """
        return self._flowing is False

    def set_encoding(self, encoding: str | None = "utf-8") -> Self:
        """Emit ``'data'`` chunks as ``str``, decoded incrementally; ``None`` for bytes.

        Invalid input becomes U+FFFD, as Node's decoder does.

        Node equivalent: ``socket.setEncoding([encoding])``.

        Raises:
            ValueError: an unknown encoding.
        """
        if encoding is None:
            self._decoder = None
            return self
        if not isinstance(encoding, str):
            raise TypeError(f"encoding must be a str or None, not {type(encoding).__name__}")
        try:
            factory = codecs.getincrementaldecoder(encoding)
        except LookupError:
            raise ValueError(f"encoding {encoding!r} is not known") from None
        self._decoder = factory("replace")
        return self

    # -- options --------------------------------------------------------------

    def set_timeout(self, timeout: float, callback: Callable[[], Any] | None = None) -> Self:
        """Emit ``'timeout'`` after ``timeout`` seconds without reads or writes.

        The socket stays open. The timer fires once per idle stretch: any
        activity (or another ``set_timeout``) re-arms it. ``0`` disables it.
        ``callback`` becomes a ``'timeout'`` listener, once.

        Node equivalent: ``socket.setTimeout(timeout[, callback])`` (ms there).

        Raises:
            TypeError: ``timeout`` is not a number, or ``callback`` not callable.
            ValueError: ``timeout`` is negative or not finite.
        """
        seconds = check_seconds("timeout", timeout)
        _check_callback("callback", callback)
        if self._destroyed:
            return self
        if callback is not None:
            self.once("timeout", callback)
        self._timeout = seconds or None
        self._fired_mark = None
        if self._timer_running:
            self._last_active = trio.current_time()
            scope = self._timer_scope
            if scope is not None:
                scope.cancel()
        else:
            self._start_timer()
        return self

    def _option(self, apply: Callable[[_stdsocket.socket], None]) -> None:
        """Apply a TCP option now, or once connected; Unix sockets ignore it."""
        if self._destroyed:
            return
        transport = self._transport
        if transport is None:
            pending = self._options = self._options or []
            pending.append(lambda: self._option(apply))
        elif not self._unix:
            apply(entry(transport.fd).sock)

    def set_keep_alive(self, enable: bool = False, initial_delay: float = 0) -> Self:
        """Turn TCP keep-alive on or off; ``initial_delay`` seconds of idleness first.

        ``0`` keeps the system's delay (Node); other values are rounded up
        to whole seconds.

        Node equivalent: ``socket.setKeepAlive([enable][, initialDelay])``.
        """
        check_bool("enable", enable)
        delay = check_seconds("initial_delay", initial_delay)
        idle = whole_seconds("initial_delay", delay, _MAX_KEEPALIVE_SECONDS) if delay else 0

        def apply(sock: _stdsocket.socket) -> None:
            sock.setsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_KEEPALIVE, int(enable))
            if enable and idle:
                sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_KEEPIDLE, idle)

        self._option(apply)
        return self

    def set_no_delay(self, no_delay: bool = True) -> Self:
        """Turn Nagle's algorithm off (``True``) or on. A no-op on Unix sockets.

        Node equivalent: ``socket.setNoDelay([noDelay])``.
        """
        check_bool("no_delay", no_delay)

        def apply(sock: _stdsocket.socket) -> None:
            sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, int(no_delay))

        self._option(apply)
        return self

    def ref(self) -> Self:
        """Hold the server's block open until this connection closes (the default).

        Node equivalent: ``socket.ref()``.
        """
        self._refed = True
        return self

    def unref(self) -> Self:
        """Let the server's block end without waiting for this connection (it is destroyed).

        Node equivalent: ``socket.unref()``.
        """
        self._refed = False
        return self

    # -- properties ---------------------------------------------------------

    @property
    def buffer_size(self) -> int:
        """Bytes queued for the writer task. Node: ``socket.bufferSize``."""
        return self._buffer_size

    @property
    def bytes_read(self) -> int:
        """Bytes delivered to the reader. Node: ``socket.bytesRead``."""
        return self._bytes_read

    @property
    def bytes_written(self) -> int:
        """Bytes accepted by ``write``/``end``, sent or queued. Node: ``socket.bytesWritten``."""
        return self._bytes_written

    @property
    def connecting(self) -> bool:
        """``True`` while ``connect`` is in progress. Node: ``socket.connecting``."""
        return self._status == CONNECTING and not self._destroyed

    @property
    def pending(self) -> bool:
        """``True`` until connected (and again once closed). Node: ``socket.pending``."""
        return self._status != OPEN or self._destroyed

    @property
    def destroyed(self) -> bool:
        """Whether the socket was destroyed (closed). Node: ``socket.destroyed``."""
        return self._destroyed

    @property
    def encrypted(self) -> bool:
        """``True`` on TLS sockets. Node: ``tlsSocket.encrypted``."""
        return False

    @property
    def allow_half_open(self) -> bool:
        """Whether the socket stays writable after the peer's FIN. Node: ``allowHalfOpen``."""
        return self._allow_half_open

    @property
    def timeout(self) -> float | None:
        """The idle timeout in seconds, or ``None``. Node: ``socket.timeout``."""
        return self._timeout

    @property
    def ready_state(self) -> str:
        """``'opening'``, ``'open'``, ``'readOnly'``, ``'writeOnly'`` or ``'closed'``.

        Node equivalent: ``socket.readyState``.
        """
        if self._status == CONNECTING and not self._destroyed:
            return "opening"
        if self._status != OPEN or self._destroyed:
            return "closed"
        readable, writable = not self._eof, not self._ended
        if readable and writable:
            return "open"
        if readable:
            return "readOnly"
        return "writeOnly" if writable else "closed"

    def _local(self) -> SockAddr | str | None:
        if self._transport is None or self._destroyed:
            return None
        return from_os(entry(self._transport.fd).sock.getsockname())

    def address(self) -> AddressInfo | str | None:
        """The local address: ``AddressInfo``, a path for Unix sockets, ``None`` once closed.

        Node equivalent: ``socket.address()``.
        """
        local = self._local()
        if isinstance(local, SockAddr):
            return AddressInfo(local.addr, _family_name(local.domain), local.port)
        return local

    @property
    def local_address(self) -> str | None:
        """The local IP address. Node: ``socket.localAddress``."""
        local = self._local()
        return local.addr if isinstance(local, SockAddr) else None

    @property
    def local_port(self) -> int | None:
        """The local port. Node: ``socket.localPort``."""
        local = self._local()
        return local.port if isinstance(local, SockAddr) else None

    @property
    def local_family(self) -> str | None:
        """``'IPv4'`` or ``'IPv6'``. Node: ``socket.localFamily``."""
        local = self._local()
        return _family_name(local.domain) if isinstance(local, SockAddr) else None

    @property
    def remote_address(self) -> str | None:
        """The peer's IP address (still readable after close). Node: ``socket.remoteAddress``."""
        return self._remote[0]

    @property
    def remote_family(self) -> str | None:
        """``'IPv4'`` or ``'IPv6'``. Node: ``socket.remoteFamily``."""
        return self._remote[1]

    @property
    def remote_port(self) -> int | None:
        """The peer's port. Node: ``socket.remotePort``."""
        return self._remote[2]
