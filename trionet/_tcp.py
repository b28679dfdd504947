"""``Tcp``: one TCP socket as an object (JSRE ``tcp`` module)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import final

import trio

from . import _fd_io as fdio
from ._core._addr import SockAddr
from ._core._args import outgoing, writable_view
from ._core._attempts import send as _send
from ._core._checks import check_bool
from ._core._constants import SOCK_STREAM
from ._core._drive_trio import perform, perform_untimed
from ._core._exception_groups import open_nursery
from ._core._named import getaddrinfo
from ._core._prepare import check_recv_size
from ._core._readiness import WRITE
from ._core._timeout import check_timeout, timeout_scope
from ._net_tls import TlsSetup
from ._net_transport import FdTransport
from ._peer import ends_connection
from ._proxy_read import ProxyHeaderError, log_dropped, read_proxy_header
from ._sockobj import ip_address
from ._tcp_base import LOGGER, Dial, SendAll, TcpBase, accept_retry_delay
from ._tls import TlsTransport
from ._types import Address, SendData, TlsConfig, WritableBuffer

__all__ = ["Tcp"]

Handler = Callable[["Tcp", SockAddr], Awaitable[object]]


@final
class Tcp(TcpBase):
    """A TCP socket: a listener or a connection, owning one fd.

    Create one with ``create_server``, ``create_client`` or
    ``create_by_fd``. Use ``async with`` (or ``close``) to close it.
    The constructors and options are ``trionet._tcp_base.TcpBase``'s,
    shared with the blocking ``trionet.compat.tcp.Tcp``; this class adds
    the async calls.

    With TLS (``tls=`` of ``create_client`` / ``create_server``) the same
    calls move application bytes through ``trionet._tls.TlsTransport``,
    the TLS layer of ``net``. Over TLS, a ``send`` or handshake that is
    cancelled or times out breaks the connection (OpenSSL counted those
    records as sent): later calls raise ``ssl.SSLError``. ``shutdown``,
    ``pending`` and the options act on the TCP socket under the TLS.

    JSRE equivalent: the ``Tcp`` object of the ``tcp`` module (and of the
    ``tls`` module, which is ``tcp`` with TLS).
    """

    _secure: TlsTransport | None = None

    @classmethod
    async def create_client(
        cls,
        addr: Address,
        *,
        timeout: float | None = None,
        local_addr: Address | None = None,
        dev: str | None = None,
        tls: TlsConfig | None = None,
    ) -> Tcp:
        """Connect to ``addr``, a ``SockAddr`` or a ``(host, port)`` tuple.

        A host name is resolved through trio, and each address it resolves to
        is tried in turn, all within the one ``timeout``. With ``tls``
        (``net.TlsOptions`` or an ``ssl.SSLContext``) the TLS handshake
        follows within that ``timeout`` too; the server's certificate is
        checked against ``tls.server_name``, else the host of ``addr``.

        JSRE equivalent: ``Tcp.createClient(saddr, timeout, laddr, dev)``;
        with ``tls``, the ``tls`` module's client.

        Raises:
            Timeout: no connection (or handshake) within ``timeout`` seconds.
            OSError: every address refused (the last address's error);
                ``ssl.SSLCertVerificationError``: the certificate did not verify.
        """
        dial = Dial(addr, timeout, local_addr, dev, tls)
        with timeout_scope(dial.timeout, "create_client"):
            infos = None
            if dial.lookup is not None:
                infos = await getaddrinfo(*dial.lookup, type=SOCK_STREAM)
            for target in dial.targets(infos):
                with dial.attempt(target) as attempt:
                    await perform(attempt.call)
                    client = cls(attempt.fd)
                    break
            else:
                raise dial.failure()
            if dial.tls is not None:
                await client._handshake(dial.tls)
            return client

    async def _handshake(self, setup: TlsSetup) -> None:
        """Speak TLS from now on; a failed (or cancelled) handshake closes the socket."""
        secure = setup.wrap(FdTransport(self._live()))
        try:
            await secure.do_handshake(timeout=setup.handshake_timeout)
        except BaseException:
            self.close()
            raise
        self._secure = secure

    async def accept(self, *, timeout: float | None = None) -> tuple[Tcp, SockAddr]:
        """Accept a connection. JSRE equivalent: ``tcp.accept(timeout)``.

        On a TLS listener the connection is returned once its handshake is
        done (each may take 120 s at most); a client whose handshake fails
        is logged on the ``trionet.tcp`` logger, closed, and the next
        connection is waited for, all within ``timeout``. Handshakes are
        made one at a time here: ``serve`` makes each in its own task.

        Raises:
            Timeout: no connection within ``timeout`` seconds.
        """
        listener = self._live()
        setup = self._accept_tls
        if setup is None:
            fd, remote = await fdio.accept(listener, timeout=timeout)
            assert isinstance(remote, SockAddr)
            return Tcp(fd), remote
        with timeout_scope(check_timeout(timeout), "accept"):
            while True:
                fd, remote = await fdio.accept(listener)
                assert isinstance(remote, SockAddr)
                connection = Tcp(fd)
                if await _secured(connection, setup, remote):
                    return connection, remote

    async def serve(
        self,
        handler: Handler,
        *,
        proxy_protocol: bool = False,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept forever, running ``await handler(tcp, remote)`` per connection.

        Each connection runs in its own task and is closed when its handler
        returns (unless the handler flew it away). Running out of fds or
        memory (``EMFILE``, ``ENFILE``, ``ENOMEM``, ``ENOBUFS``) is logged on
        the ``trionet.tcp`` logger and retried after 0.1 s, as
        ``trio.serve_listeners`` does; a connection that died before it was
        taken (``ECONNABORTED``, ``EPROTO``, ``ECONNRESET``) is skipped at once.
        A handler's exception is not swallowed: it cancels the loop and the
        other handlers and comes out of ``serve`` bare, unless the peer
        caused it (SPEC rule 31): a ``trio.BrokenResourceError``, a
        connection ``OSError`` (reset, broken pipe, timeout) or, once the
        connection is closed, a ``trio.ClosedResourceError`` ends that
        connection only and is logged on the ``trionet.tcp`` logger.

        With ``proxy_protocol=True`` each connection starts with a PROXY v1
        or v2 header (HAProxy, an AWS NLB), read in the connection's task
        before TLS: ``remote`` is then the client's address (``peer_name``
        stays the balancer's). A connection without a valid header within
        10 s is logged and closed; the handler never sees it.

        JSRE equivalent: ``tcp.accept(callback)`` (the callback mode).
        """
        check_bool("proxy_protocol", proxy_protocol)
        listener = self._live()
        async with open_nursery() as nursery:
            task_status.started()
            while True:
                try:
                    fd, remote = await fdio.accept(listener)
                except OSError as exc:
                    delay = accept_retry_delay(exc)
                    if delay is None:
                        raise
                    await trio.sleep(delay)
                    continue
                assert isinstance(remote, SockAddr)
                nursery.start_soon(
                    _run_handler, handler, Tcp(fd), remote, self._accept_tls, proxy_protocol
                )

    async def send(self, data: SendData, *, timeout: float | None = None) -> int:
        """Send once; return the bytes the kernel took. JSRE equivalent: ``tcp.send()``.

        Over TLS: the bytes of ``data`` encrypted and sent (128 KiB at most).
        """
        secure = self._secure
        if secure is None:
            return await fdio.send(self._live(), data, timeout=timeout)
        payload = outgoing(data)
        self._live()
        with timeout_scope(check_timeout(timeout), "send"):
            return await secure.send(payload)

    async def send_all(self, data: SendData, *, timeout: float | None = None) -> None:
        """Send all of ``data`` within ``timeout``.

        Raises:
            Timeout: time ran out; its ``bytes_sent`` says how much was sent.

        JSRE equivalent: ``tcp.send()`` in a loop until everything is written.
        """
        secure = self._secure
        sent = 0
        if timeout is None and secure is None and type(data) is bytes:
            # An echo's usual send goes whole at the first try: it needs no
            # Call, and no job to count what a Timeout would report.
            target = self._entry()
            sent = await perform_untimed(target, WRITE, "send", _send, target, data)
            if sent == len(data):
                return
        job = SendAll(data)
        job.sent = sent
        timeout = check_timeout(timeout)
        target = self._entry()
        with job, timeout_scope(timeout, "send_all"):
            if secure is None:
                while (call := job.call(target)) is not None:
                    job.sent += await perform(call)
            else:
                while (rest := job.rest()) is not None:
                    job.sent += await secure.send(rest)

    async def sendto(self, addr: Address, data: SendData, *, timeout: float | None = None) -> int:
        """Send once on the connection; ``addr`` is ignored, as in JSRE.

        JSRE equivalent: ``tcp.sendto(saddr, data, timeout)``.
        """
        return await self.send(data, timeout=timeout)

    async def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Receive up to ``max_bytes``; ``b""`` at end of stream. JSRE: ``tcp.recv()``."""
        secure = self._secure
        if secure is None:
            return await fdio.recv(self._live(), max_bytes, timeout=timeout)
        size = check_recv_size(max_bytes)
        self._live()
        with timeout_scope(check_timeout(timeout), "recv"):
            return await secure.receive(size) if size else b""

    async def recv_into(
        self,
        buffer: WritableBuffer,
        offset: int = 0,
        length: int | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Receive into ``buffer[offset:offset + length]``. JSRE: ``tcp.recv(buffer, ...)``."""
        secure = self._secure
        if secure is None:
            return await fdio.recv_into(self._live(), buffer, offset, length, timeout=timeout)
        view = writable_view(buffer, offset, length)
        self._live()
        with timeout_scope(check_timeout(timeout), "recv_into"):
            return await secure.receive_into(view) if view else 0

    async def recvfrom(
        self, max_bytes: int = 65536, *, timeout: float | None = None
    ) -> tuple[bytes, SockAddr]:
        """Receive, with the peer's address. JSRE equivalent: ``tcp.recvfrom()``."""
        if self._secure is None:
            got, sender = await fdio.recvfrom(self._live(), max_bytes, timeout=timeout)
            return got, ip_address(sender)
        return await self.recv(max_bytes, timeout=timeout), self.peer_name()


async def _secured(connection: Tcp, setup: TlsSetup, remote: SockAddr) -> bool:
    """The TLS handshake of an accepted connection; ``False`` (logged, closed) if it failed.

    A client's failed handshake is its own doing: the server goes on.
    """
    try:
        await connection._handshake(setup)
    except OSError as exc:  # ssl.SSLError, a reset, the handshake's Timeout
        LOGGER.info("TLS handshake with %s failed: %r", remote, exc)
        return False
    return True


async def _run_handler(
    handler: Handler, connection: Tcp, remote: SockAddr, setup: TlsSetup | None, proxy: bool
) -> None:
    try:
        if proxy:
            try:
                header = await read_proxy_header(connection.sock_fd)
            except ProxyHeaderError as exc:
                log_dropped(LOGGER, remote, exc)
                return
            remote = header.source or remote
        if setup is None or await _secured(connection, setup, remote):
            await handler(connection, remote)
    except BaseException as exc:
        # Rule 31: the peer's error ends this connection only; a bug propagates.
        if not ends_connection(exc, connection.closed):
            raise
        LOGGER.info("connection from %s ended by the peer's error: %r", remote, exc)
    finally:
        connection.close()
