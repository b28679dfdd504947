"""``Tcp``: one TCP socket as an object (JSRE ``tcp`` module)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import final

import trio

from . import _fd_io as fdio
from ._addr import SockAddr
from ._constants import SOCK_STREAM
from ._drive import perform
from ._groups import open_nursery
from ._sockobj import ip_address
from ._tcp_base import Dial, SendAll, TcpBase, accept_retry_delay
from ._timeout import check_timeout, timeout_scope
from ._types import Address, SendData, WritableBuffer

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

    JSRE equivalent: the ``Tcp`` object of the ``tcp`` module.
    """

    @classmethod
    async def create_client(
        cls,
        addr: Address,
        *,
        timeout: float | None = None,
        local_addr: Address | None = None,
        dev: str | None = None,
    ) -> Tcp:
        """Connect to ``addr``, a ``SockAddr`` or a ``(host, port)`` tuple.

        A host name is resolved through trio, and each address it resolves to
        is tried in turn, all within the one ``timeout``.

        JSRE equivalent: ``Tcp.createClient(saddr, timeout, laddr, dev)``.

        Raises:
            Timeout: no connection within ``timeout`` seconds.
            OSError: every address refused (the last address's error).
        """
        dial = Dial(addr, timeout, local_addr, dev)
        with timeout_scope(dial.timeout, "create_client"):
            infos = None
            if dial.lookup is not None:
                infos = await trio.socket.getaddrinfo(*dial.lookup, type=SOCK_STREAM)
            for target in dial.targets(infos):
                with dial.attempt(target) as attempt:
                    await perform(attempt.call)
                    return cls(attempt.fd)
            raise dial.failure()

    async def accept(self, *, timeout: float | None = None) -> tuple[Tcp, SockAddr]:
        """Accept a connection. JSRE equivalent: ``tcp.accept(timeout)``.

        Raises:
            Timeout: no connection within ``timeout`` seconds.
        """
        fd, remote = await fdio.accept(self._live(), timeout=timeout)
        assert isinstance(remote, SockAddr)
        return Tcp(fd), remote

    async def serve(
        self,
        handler: Handler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept forever, running ``await handler(tcp, remote)`` per connection.

        Each connection runs in its own task and is closed when its handler
        returns (unless the handler flew it away). Running out of fds or
        memory (``EMFILE``, ``ENFILE``, ``ENOMEM``, ``ENOBUFS``) is logged on
        the ``trionet.tcp`` logger and retried after 0.1 s, as
        ``trio.serve_listeners`` does; ``ECONNABORTED`` is retried at once.
        A handler's exception is not swallowed: it cancels the loop and the
        other handlers and comes out of ``serve`` bare.

        JSRE equivalent: ``tcp.accept(callback)`` (the callback mode).
        """
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
                nursery.start_soon(_run_handler, handler, Tcp(fd), remote)

    async def send(self, data: SendData, *, timeout: float | None = None) -> int:
        """Send once; return the bytes the kernel took. JSRE equivalent: ``tcp.send()``."""
        return await fdio.send(self._live(), data, timeout=timeout)

    async def send_all(self, data: SendData, *, timeout: float | None = None) -> None:
        """Send all of ``data`` within ``timeout``.

        Raises:
            Timeout: time ran out; its ``bytes_sent`` says how much was sent.

        JSRE equivalent: ``tcp.send()`` in a loop until everything is written.
        """
        timeout = check_timeout(timeout)
        job = SendAll(data)
        fd = self._live()
        with job, timeout_scope(timeout, "send_all"):
            while (rest := job.rest()) is not None:
                job.sent += await fdio.send(fd, rest)

    async def sendto(self, addr: Address, data: SendData, *, timeout: float | None = None) -> int:
        """Send once on the connection; ``addr`` is ignored, as in JSRE.

        JSRE equivalent: ``tcp.sendto(saddr, data, timeout)``.
        """
        return await self.send(data, timeout=timeout)

    async def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Receive up to ``max_bytes``; ``b""`` at end of stream. JSRE: ``tcp.recv()``."""
        return await fdio.recv(self._live(), max_bytes, timeout=timeout)

    async def recv_into(
        self,
        buffer: WritableBuffer,
        offset: int = 0,
        length: int | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Receive into ``buffer[offset:offset + length]``. JSRE: ``tcp.recv(buffer, ...)``."""
        return await fdio.recv_into(self._live(), buffer, offset, length, timeout=timeout)

    async def recvfrom(
        self, max_bytes: int = 65536, *, timeout: float | None = None
    ) -> tuple[bytes, SockAddr]:
        """Receive, with the peer's address. JSRE equivalent: ``tcp.recvfrom()``."""
        got, sender = await fdio.recvfrom(self._live(), max_bytes, timeout=timeout)
        return got, ip_address(sender)


async def _run_handler(handler: Handler, connection: Tcp, remote: SockAddr) -> None:
    try:
        await handler(connection, remote)
    finally:
        connection.close()
