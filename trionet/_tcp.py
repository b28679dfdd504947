"""``Tcp``: one TCP socket as an object (JSRE ``tcp`` module)."""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable
from typing import final

import trio

from . import _fd_basic as fdb
from . import _fd_io as fdio
from . import _fd_options as fdo
from ._addr import SockAddr, to_sockaddr
from ._args import outgoing
from ._checks import check_int, check_port
from ._constants import AF_INET, AF_INET6, SOCK_STREAM, TcpState
from ._fdtable import entry, kind
from ._groups import open_nursery
from ._sockobj import SocketObject
from ._timeout import Timeout, check_timeout, timeout_scope

__all__ = ["Tcp"]

LOGGER = logging.getLogger("trionet.tcp")

# What trio.serve_listeners also survives: the process or system is out of
# something, which frees up when connections close; back off and retry.
_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_CAPACITY_BACKOFF = 0.1

Handler = Callable[["Tcp", SockAddr], Awaitable[object]]


def _new_socket(family: int, dev: str | None) -> int:
    fd = fdb.socket(family, SOCK_STREAM)
    try:
        if dev is not None:
            fdo.bind_to_device(fd, dev)
    except BaseException:
        fdb.close(fd)
        raise
    return fd


async def _resolve(addr: object) -> list[SockAddr]:
    """Numeric addresses as they are; ``(host, port)`` resolved through trio."""
    if isinstance(addr, tuple) and len(addr) == 2 and isinstance(addr[0], str):
        host, port = addr
        check_port(port, "addr port")
        try:
            return [to_sockaddr(addr)]
        except ValueError:
            pass  # a host name: resolve it below
        infos = await trio.socket.getaddrinfo(host, port, type=SOCK_STREAM)
        found = [SockAddr(str(info[4][0]), port) for info in infos]
        return list(dict.fromkeys(found))
    return [to_sockaddr(addr)]


@final
class Tcp(SocketObject):
    """A TCP socket: a listener or a connection, owning one fd.

    Create one with :meth:`create_server`, :meth:`create_client` or
    :meth:`create_by_fd`. Use ``async with`` (or :meth:`close`) to close it.

    JSRE equivalent: the ``Tcp`` object of the ``tcp`` module.
    """

    @classmethod
    def create_server(cls, addr: object, backlog: int = 5, dev: str | None = None) -> Tcp:
        """Bind and listen on ``addr`` (``SO_REUSEADDR`` on), optionally only on ``dev``.

        JSRE equivalent: ``Tcp.createServer(saddr, backlog, dev)``.

        Raises:
            ValueError: ``addr`` is not a numeric address, or ``backlog`` is out of range.
            OSError: the address is taken (``EADDRINUSE``) and the like.
        """
        local = to_sockaddr(addr)
        check_int("backlog", backlog, 0, 65535)
        if dev is not None:
            fdo.check_ifname(dev, "dev")
        fd = _new_socket(local.domain, dev)
        try:
            fdo.set_reuse_addr(fd, True)
            fdb.bind(fd, local)
            fdb.listen(fd, backlog)
        except BaseException:
            fdb.close(fd)
            raise
        return cls(fd)

    @classmethod
    async def create_client(
        cls,
        addr: object,
        *,
        timeout: float | None = None,
        local_addr: object = None,
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
        timeout = check_timeout(timeout)
        local = None if local_addr is None else to_sockaddr(local_addr, "local_addr")
        if dev is not None:
            fdo.check_ifname(dev, "dev")
        with timeout_scope(timeout, "create_client"):
            targets = await _resolve(addr)
            if local is not None:
                targets = [target for target in targets if target.domain == local.domain]
                if not targets:
                    raise ValueError("local_addr is not of the family of any address of addr")
            failure: OSError | None = None
            for target in targets:
                fd = _new_socket(target.domain, dev)
                try:
                    if local is not None:
                        fdb.bind(fd, local)
                    await fdio.connect(fd, target)
                except OSError as exc:
                    fdb.close(fd)
                    failure = exc
                    continue
                except BaseException:
                    fdb.close(fd)
                    raise
                return cls(fd)
            assert failure is not None
            raise failure

    @classmethod
    def create_by_fd(cls, fd: int) -> Tcp:
        """Adopt a TCP socket fd (for example one handed over by another task).

        A rejected fd is left open and the caller's.

        JSRE equivalent: ``Tcp.createByFd(sockFd)``.

        Raises:
            ValueError: ``fd`` is not a TCP (IPv4 or IPv6 stream) socket.
        """
        family, sock_type = kind(fd)
        if sock_type != SOCK_STREAM or family not in (AF_INET, AF_INET6):
            raise ValueError(f"fd {fd} is not a TCP socket")
        return cls(entry(fd).fd)

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
                    if exc.errno in _CAPACITY_ERRNOS:
                        LOGGER.warning(
                            "accept: %s; retrying in %s s",
                            errno.errorcode[exc.errno],
                            _CAPACITY_BACKOFF,
                        )
                        await trio.sleep(_CAPACITY_BACKOFF)
                    elif exc.errno != errno.ECONNABORTED:
                        raise
                    continue
                assert isinstance(remote, SockAddr)
                nursery.start_soon(_run_handler, handler, Tcp(fd), remote)

    async def send(self, data: object, *, timeout: float | None = None) -> int:
        """Send once; return the bytes the kernel took. JSRE equivalent: ``tcp.send()``."""
        return await fdio.send(self._live(), data, timeout=timeout)

    async def send_all(self, data: object, *, timeout: float | None = None) -> None:
        """Send all of ``data`` within ``timeout``.

        Raises:
            Timeout: time ran out; its ``bytes_sent`` says how much was sent.

        JSRE equivalent: ``tcp.send()`` in a loop until everything is written.
        """
        timeout = check_timeout(timeout)
        payload = outgoing(data)
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            payload = b"".join(payload)
        view = memoryview(payload).cast("B")
        fd = self._live()
        sent = 0
        try:
            with timeout_scope(timeout, "send_all"):
                while sent < len(view):
                    sent += await fdio.send(fd, view[sent:])
        except Timeout as exc:
            exc.bytes_sent = sent
            raise

    async def sendto(self, addr: object, data: object, *, timeout: float | None = None) -> int:
        """Send once on the connection; ``addr`` is ignored, as in JSRE.

        JSRE equivalent: ``tcp.sendto(saddr, data, timeout)``.
        """
        return await self.send(data, timeout=timeout)

    async def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Receive up to ``max_bytes``; ``b""`` at end of stream. JSRE: ``tcp.recv()``."""
        return await fdio.recv(self._live(), max_bytes, timeout=timeout)

    async def recv_into(
        self,
        buffer: object,
        offset: int = 0,
        length: int | None = None,
        *,
        timeout: float | None = None,
    ) -> int:
        """Receive into ``buffer[offset:offset + length]``. JSRE: ``tcp.recv(buffer, ...)``."""
        return await fdio.recv_into(self._live(), buffer, offset, length, timeout=timeout)

    async def recvfrom(
        self, max_bytes: int = 65536, *, timeout: float | None = None
    ) -> tuple[bytes, SockAddr | str]:
        """Receive, with the peer's address. JSRE equivalent: ``tcp.recvfrom()``."""
        return await fdio.recvfrom(self._live(), max_bytes, timeout=timeout)

    def pending(self) -> int:
        """Bytes queued for reading. JSRE equivalent: ``tcp.pending()``."""
        return fdb.pending(self._live())

    def shutdown(self, how: str = "rw") -> None:
        """Shut down ``"r"``, ``"w"`` or ``"rw"``. JSRE equivalent: ``tcp.shutdown(how)``."""
        fdb.shutdown(self._live(), how)

    def mports(self, count: int) -> None:
        """Also listen on the next ``count`` ports. JSRE equivalent: ``tcp.mports()``."""
        fdb.mports(self._live(), count)

    def is_eof(self) -> bool:
        """Whether the last receive met the end of stream. JSRE: ``tcp.isEOF()``."""
        return fdb.is_eof(self._live())

    def set_keep_alive(
        self,
        enable: bool,
        idle: float | None = None,
        interval: float | None = None,
        count: int = 3,
    ) -> None:
        """Keep-alive probes, times in seconds. JSRE: ``tcp.setKeepAlive()`` (ms there)."""
        fdo.set_keep_alive(self._live(), enable, idle, interval, count)

    def set_no_delay(self, enable: bool) -> None:
        """Disable Nagle's algorithm. JSRE equivalent: ``tcp.setNoDelay()``."""
        fdo.set_no_delay(self._live(), enable)

    def set_linger(self, enabled: bool, seconds: float = 0) -> None:
        """Set ``SO_LINGER``. JSRE equivalent: ``tcp.setLinger()``."""
        fdo.set_linger(self._live(), enabled, seconds)

    def set_ipv6_only(self, enable: bool) -> None:
        """Restrict an IPv6 socket to IPv6. JSRE equivalent: ``tcp.setIPv6Only()``."""
        fdo.set_ipv6_only(self._live(), enable)

    def get_state(self) -> TcpState:
        """The TCP state. JSRE equivalent: ``tcp.getState()``."""
        return fdo.get_tcp_state(self._live())


async def _run_handler(handler: Handler, connection: Tcp, remote: SockAddr) -> None:
    try:
        await handler(connection, remote)
    finally:
        connection.close()
