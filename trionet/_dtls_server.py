"""The DTLS server: one UDP socket, one handler task per association.

trio's ``DTLSEndpoint.serve`` does the cookie exchange (so a peer address is
real before any state is kept for it) and starts a task per association.
Each task runs the handshake under ``handshake_timeout`` first: a handshake
that fails or times out is reported to ``on_handshake_error`` and never stops
the server (SPEC 3, as for TLS). Only then does the user's handler run; an
exception from the handler is the server's failure and leaves the
``async with`` block bare (SPEC 8.2).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import final

import trio
from OpenSSL import SSL

from ._core._addr import SockAddr, from_os, to_sockaddr
from ._core._checks import check_int
from ._core._exception_groups import open_nursery
from ._core._timeout import check_timeout, timeout_scope
from ._dtls import DtlsChannel, check_tls, peer_of
from ._dtls_tls import server_context
from ._dtls_watch import Watch, handshake, info_callback, report_verify_error
from ._tls_options import TlsOptions

__all__ = ["DtlsServer", "serve"]

Handler = Callable[[DtlsChannel, SockAddr], Awaitable[object]]
OnHandshakeError = Callable[[BaseException, SockAddr], object]

HANDSHAKE_TIMEOUT = 60.0


@final
class DtlsServer:
    """A DTLS server on one UDP address; ``async with`` runs it.

    Each association that completes its handshake runs
    ``await handler(channel, remote)`` in its own task; the channel is closed
    (with ``close_notify`` if the handler returned) when the handler ends.
    Leaving the ``async with`` block stops the server: handlers are
    cancelled and the socket is closed.

    Use ``serve`` to make one. JSRE equivalent, by analogy:
    ``Tcp.createServer`` with a ``tcp.accept`` callback (compare ``Tcp.serve``).
    """

    def __init__(
        self,
        handler: Handler,
        addr: object,
        *,
        tls: TlsOptions | SSL.Context,
        handshake_timeout: float | None = HANDSHAKE_TIMEOUT,
        on_handshake_error: OnHandshakeError | None = None,
        incoming_packets_buffer: int = 10,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        self._addr = to_sockaddr(addr)
        options = check_tls(tls)
        self._handshake_timeout = check_timeout(handshake_timeout)
        if on_handshake_error is not None and not callable(on_handshake_error):
            raise TypeError("on_handshake_error must be callable or None")
        self._buffer = check_int("incoming_packets_buffer", incoming_packets_buffer, 1, 2**16)
        self._ctx = (
            options
            if isinstance(options, SSL.Context)
            else server_context(options, report_verify_error)
        )
        self._ctx.set_info_callback(info_callback)
        self._handler = handler
        self._on_handshake_error = on_handshake_error
        self._running: AbstractAsyncContextManager[DtlsServer] | None = None
        self._name: SockAddr | None = None
        self._scope = trio.CancelScope()
        self._stopped = trio.Event()
        self._associations = 0

    def __repr__(self) -> str:
        where = self._name if self._name is not None else self._addr
        return f"<trionet.dtls.DtlsServer {where} {'closed' if self.closed else 'open'}>"

    @property
    def closed(self) -> bool:
        """``True`` once the server stopped (or was closed before it started)."""
        return self._scope.cancel_called or self._stopped.is_set()

    def sock_name(self) -> SockAddr:
        """The bound address (the real port when ``addr`` had port 0).

        Raises:
            RuntimeError: The server has not been started with ``async with``.
        """
        if self._name is None:
            raise RuntimeError("the DTLS server is not running; use it with 'async with'")
        return self._name

    def get_connections(self) -> int:
        """Associations whose handler is running now (Node: ``getConnections``)."""
        return self._associations

    def close(self) -> None:
        """Stop the server: handlers are cancelled, the socket closes. Idempotent."""
        self._scope.cancel()

    async def wait_closed(self) -> None:
        """Wait until the server has stopped (after ``close``)."""
        await self._stopped.wait()

    async def __aenter__(self) -> DtlsServer:
        if self._running is not None:
            raise RuntimeError("a DtlsServer runs only once")
        self._running = self._run()
        return await self._running.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._running is not None
        return await self._running.__aexit__(exc_type, exc, tb)

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[DtlsServer]:
        sock = trio.socket.socket(self._addr.domain, trio.socket.SOCK_DGRAM)
        with trio.DTLSEndpoint(sock, incoming_packets_buffer=self._buffer) as endpoint:
            await sock.bind(self._addr.to_os())
            self._name = _sock_name(sock)
            async with open_nursery() as nursery:
                await nursery.start(self._serve, endpoint)
                try:
                    yield self
                finally:
                    self.close()

    async def _serve(
        self, endpoint: trio.DTLSEndpoint, *, task_status: trio.TaskStatus[None]
    ) -> None:
        try:
            with self._scope:
                await endpoint.serve(self._ctx, self._association, task_status=task_status)
        finally:
            endpoint.close()
            self._stopped.set()

    async def _association(self, channel: trio.DTLSChannel) -> None:
        remote = peer_of(channel)
        watch = Watch()
        try:
            with timeout_scope(self._handshake_timeout, "DTLS handshake"):
                await handshake(channel, watch)
        except (OSError, trio.BrokenResourceError) as error:
            # Timeout and ssl.SSLError are OSErrors too: a peer's failure is never the server's.
            await self._report(error, remote)
            return
        association = DtlsChannel(channel, watch, None)
        self._associations += 1
        try:
            await self._handler(association, remote)
        except BaseException:
            association.close()
            raise
        else:
            await association.aclose()
        finally:
            self._associations -= 1

    async def _report(self, error: BaseException, remote: SockAddr) -> None:
        if self._on_handshake_error is None:
            return
        result = self._on_handshake_error(error, remote)
        if inspect.isawaitable(result):
            await result


def _sock_name(sock: trio.socket.SocketType) -> SockAddr:
    name = from_os(sock.getsockname())
    assert isinstance(name, SockAddr)  # a DTLS socket is always IPv4 or IPv6
    return name


def serve(
    handler: Handler,
    addr: object,
    *,
    tls: TlsOptions | SSL.Context,
    handshake_timeout: float | None = HANDSHAKE_TIMEOUT,
    on_handshake_error: OnHandshakeError | None = None,
    incoming_packets_buffer: int = 10,
) -> DtlsServer:
    """A DTLS server on ``addr``, to run with ``async with``.

    Arguments are checked (and certificates loaded) here, before any socket
    exists; the socket is bound when the block is entered.

    Args:
        handler: ``async def handler(channel, remote)``, run once per
            association after its handshake.
        addr: A numeric ``SockAddr`` or ``(host, port)``; port 0 picks a free
            port (see ``DtlsServer.sock_name``).
        tls: ``dtls.TlsOptions`` with ``cert`` and ``key`` (and ``ca`` to
            require client certificates), or a pyOpenSSL ``DTLS_METHOD``
            context.
        handshake_timeout: Seconds each association may take to finish its
            handshake (``None``: no limit). Default 60.
        on_handshake_error: ``callback(error, remote)``, plain or async,
            called when an association's handshake fails or times out.
            Node equivalent: the ``'tlsClientError'`` event.
        incoming_packets_buffer: Datagrams queued per association before
            trio drops more (as UDP would).

    Example::

        async with dtls.serve(echo, ("127.0.0.1", 0), tls=options) as server:
            print(server.sock_name())
            await server.wait_closed()

    JSRE equivalent, by analogy: ``Tcp.createServer`` + ``tcp.accept``.
    """
    return DtlsServer(
        handler,
        addr,
        tls=tls,
        handshake_timeout=handshake_timeout,
        on_handshake_error=on_handshake_error,
        incoming_packets_buffer=incoming_packets_buffer,
    )
