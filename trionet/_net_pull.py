"""``net.open_stream``: a connection with no tasks and no events, read by pulling.

A ``net.Socket`` owns a nursery (its reader and writer tasks), so it lives
inside a block. A connection pool (httpcore, a database driver) keeps
connections across requests, and a protocol library (h11, wsproto) wants
only trio's stream methods. ``net.Stream`` is that: a
``trio.abc.HalfCloseableStream`` straight over a socket's transport
(``trionet._net_transport``, TLS from ``trionet._tls``), dialled with the
same options, lookup and happy eyeballs as ``net.connect``. Each method is
one call on the transport, so a message costs what it costs ``Tcp``.

Checkpoints follow the fd level's rule (``trionet._core._drive_trio``): every call
is a cancel point, and one that succeeds without waiting yields to the
scheduler once per the run's budget of operations rather than every time,
as ``Tcp`` does. That is what keeps a ping-pong at ``Tcp``'s cost (a forced
yield per call costs 40 % more CPU, ``docs/ecosystem.md``); fairness is
kept by the budget, and cancellation is never missed.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING, final

import trio

from ._core._constants import AF_UNIX
from ._core._fdtable import entry
from ._core._timeout import timeout_scope
from ._fd_options import set_no_delay
from ._net_dial import ConnectOptions, check_options, dial
from ._net_stream import check_max_bytes
from ._net_tls import TlsSetup, start_tls_setup
from ._net_transport import FdTransport, Transport
from ._tls import TlsTransport
from ._types import TlsConfig

if TYPE_CHECKING:
    import anyio.abc

__all__ = ["Stream", "as_anyio_stream", "open_stream"]

_CLOSED = "the stream is closed"


@final
class Stream(trio.abc.HalfCloseableStream):
    """A connected stream without tasks or events: what ``net.open_stream`` returns.

    It follows ``trio.abc.HalfCloseableStream`` exactly: errors of the
    connection are ``trio.BrokenResourceError`` (the ``OSError`` is its
    cause), use after ``aclose()`` is ``trio.ClosedResourceError``, two
    tasks sending (or receiving) at once is ``trio.BusyResourceError``.
    ``async with`` closes it.

    trio equivalent: the ``trio.SocketStream`` (or ``trio.SSLStream``) of
    ``trio.open_tcp_stream``.
    """

    __slots__ = ("_closed", "_eof_sent", "_host", "_receiving", "_sending", "_transport")

    def __init__(self, transport: Transport, host: str | None) -> None:
        self._transport = transport
        self._host = host  # the name a STARTTLS client checks by default
        self._sending = self._receiving = self._closed = self._eof_sent = False

    @property
    def encrypted(self) -> bool:
        """Whether the stream speaks TLS. Node equivalent: ``tlsSocket.encrypted``."""
        return isinstance(self._transport, TlsTransport)

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS connection's ``ssl.SSLObject`` (``None`` when plain)."""
        transport = self._transport
        return transport.ssl_object if isinstance(transport, TlsTransport) else None

    @property
    def alpn_protocol(self) -> str | None:
        """The protocol ALPN agreed on, or ``None``. Node: ``tlsSocket.alpnProtocol``."""
        transport = self._transport
        if isinstance(transport, TlsTransport):
            return transport.selected_alpn_protocol()
        return None

    def fileno(self) -> int:
        """The socket's fd (``-1`` once closed); the stream still owns it."""
        return -1 if self._closed else self._transport.fd

    def is_readable(self) -> bool:
        """Whether a receive would not wait: data or the end of the stream is pending.

        A pool asks this of an idle keep-alive connection: readable means
        the server closed it (or sent what nobody asked for), so it is dead.
        A closed stream is readable (a receive raises at once).
        """
        return self._transport.is_readable()

    @contextlib.contextmanager
    def _using(self, side: str) -> Iterator[None]:
        """One call on ``side`` (``"sending"`` or ``"receiving"``): busy check, trio's errors."""
        flag = "_" + side
        if getattr(self, flag):
            raise trio.BusyResourceError(f"another task is already {side} on this stream")
        setattr(self, flag, True)
        try:
            yield
        except OSError as exc:
            raise trio.BrokenResourceError(f"the connection failed: {exc!r}") from exc
        finally:
            setattr(self, flag, False)

    async def _check_open(self) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise trio.ClosedResourceError(_CLOSED)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``.

        Raises:
            trio.BrokenResourceError: the connection failed.
            trio.ClosedResourceError: the stream was closed, or ``send_eof`` was called.
            trio.BusyResourceError: another task is sending.
        """
        with self._using("sending"):
            await self._check_open()
            if self._eof_sent:
                await trio.lowlevel.checkpoint()
                raise trio.ClosedResourceError("send_eof() was called")
            transport = self._transport
            view = memoryview(data).cast("B")
            if not view:
                await trio.lowlevel.checkpoint()
            while view:
                view = view[await transport.send(view) :]

    async def wait_send_all_might_not_block(self) -> None:
        """Return once ``send_all`` may not block.

        Raises:
            trio.ClosedResourceError: the stream was closed.
            trio.BusyResourceError: another task is sending.
        """
        with self._using("sending"):
            await self._check_open()
            await self._transport.wait_writable()

    async def send_eof(self) -> None:
        """Send FIN (over TLS, ``close_notify``); receiving goes on. Twice is a no-op.

        Raises:
            trio.ClosedResourceError: the stream was closed.
            trio.BusyResourceError: another task is sending.
        """
        with self._using("sending"):
            await self._check_open()
            if self._eof_sent:
                await trio.lowlevel.checkpoint()
                return
            await trio.lowlevel.checkpoint_if_cancelled()
            await self._transport.send_eof()
            self._eof_sent = True
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Receive the next chunk (at most ``max_bytes``, 64 KiB by default); ``b""`` at the end.

        Raises:
            trio.BrokenResourceError: the connection failed.
            trio.ClosedResourceError: the stream was closed.
            trio.BusyResourceError: another task is receiving.
        """
        size = check_max_bytes(max_bytes)
        with self._using("receiving"):
            return await self._transport.receive(size)

    async def aclose(self) -> None:
        """Close; over TLS, first try to send ``close_notify``, as ``trio.SSLStream`` does.

        The ``close_notify`` is not waited for if the peer is gone (any
        error is ignored); cancelled, the stream still closes. Wakes every
        task waiting on the stream with ``trio.ClosedResourceError``.
        Twice is a no-op.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        transport = self._transport
        busy = self._sending  # a send holds the TLS layer: close at once, waking it
        try:
            if isinstance(transport, TlsTransport) and transport.handshake_done and not busy:
                with contextlib.suppress(OSError, trio.BrokenResourceError):
                    await transport.send_eof()
        finally:
            transport.close()
        await trio.lowlevel.checkpoint()

    async def start_tls(
        self,
        tls: TlsConfig,
        *,
        server_side: bool = False,
        server_name: str | None = None,
    ) -> None:
        """Upgrade this plain connection to TLS in place (STARTTLS) and do the handshake.

        Call it when the protocol says so (after SMTP's ``220``, say), with
        nothing unread. A client checks the certificate against
        ``server_name``, else ``tls.server_name``, else the host it
        connected to. A failed handshake closes the stream.

        Node equivalent: ``new tls.TLSSocket(socket, options)``.

        Raises:
            TypeError, ValueError: a bad argument (nothing changed).
            RuntimeError: the stream is TLS already.
            ssl.SSLError, OSError: the handshake failed (the stream is closed).
            trio.ClosedResourceError: the stream was closed.
        """
        setup = start_tls_setup(tls, server_side, server_name, self._host)
        if self._sending or self._receiving:
            raise trio.BusyResourceError("another task is using this stream")
        transport = self._transport
        if self._closed:
            raise trio.ClosedResourceError(_CLOSED)
        if self.encrypted:
            raise RuntimeError("the stream is TLS already")
        assert isinstance(transport, FdTransport)
        secured = self._transport = setup.wrap(transport)
        try:
            await secured.do_handshake(timeout=setup.handshake_timeout)
        except BaseException:
            self._closed = True
            secured.close()
            raise


async def open_stream(
    port: int | None = None,
    host: str = "localhost",
    *,
    path: str | None = None,
    family: int = 0,
    local_address: str | None = None,
    local_port: int | None = None,
    connect_timeout: float | None = None,
    tls: TlsConfig | None = None,
) -> Stream:
    """Connect and return a ``net.Stream``: no tasks, no events; close it with ``aclose()``.

    The options are ``net.connect``'s (names are resolved and every
    address tried with happy eyeballs; ``tls`` verifies as there, the
    handshake within ``connect_timeout``). TCP_NODELAY is on, as with
    ``trio.open_tcp_stream``.

    trio equivalent: ``trio.open_tcp_stream`` / ``trio.open_unix_socket`` /
    ``trio.open_ssl_over_tcp_stream``.

    Raises:
        TypeError, ValueError: a bad argument (before anything connects).
        OSError: the connection failed (``ssl.SSLCertVerificationError``:
            the certificate did not verify).
        trionet.Timeout: ``connect_timeout`` ran out.
    """
    options = check_options(
        port,
        host,
        path=path,
        family=family,
        local_address=local_address,
        local_port=local_port,
        lookup=None,
        timeout=None,
        connect_timeout=connect_timeout,
        tls=tls,
        on_connect=None,
        onread=None,
    )
    with timeout_scope(options.connect_timeout, "connect"):
        return await _open(options)


async def _open(options: ConnectOptions) -> Stream:
    fd = await dial(options, _no_report)
    transport: Transport = FdTransport(fd)
    try:
        if entry(fd).sock.family != AF_UNIX:
            set_no_delay(fd, True)
        setup: TlsSetup | None = options.tls
        if setup is not None:
            secured = transport = setup.wrap(transport)
            await secured.do_handshake()
    except BaseException:
        transport.close()
        raise
    return Stream(transport, None if options.path is not None else options.host)


async def _no_report(
    error: BaseException | None, address: str | None, family: int | None, host: str
) -> None:
    """``open_stream`` has no ``'lookup'`` event to emit."""


def as_anyio_stream(stream: trio.abc.HalfCloseableStream) -> anyio.abc.ByteStream:
    """``stream`` (a ``net.Socket`` or ``net.Stream``) as an ``anyio.abc.ByteStream``.

    For anyio code on its trio backend: ``anyio.streams.buffered``,
    ``anyio.streams.text`` and ``anyio.streams.tls`` work over the result.
    A ``net.Socket`` must be read by pulling (no ``'data'`` listener).
    Needs anyio (``pip install anyio``).

    Raises:
        TypeError: ``stream`` is not a trio ``HalfCloseableStream``.
    """
    if not isinstance(stream, trio.abc.HalfCloseableStream):
        raise TypeError(f"stream must be a net.Socket or net.Stream, not {type(stream).__name__}")
    from ._anyio_stream import AnyioStream  # anyio is needed only here

    return AnyioStream(stream)
