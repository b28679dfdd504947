"""What the async and the sync ``Tcp`` share: everything that never waits.

``TcpBase`` holds the constructors and options of a TCP object;
``trionet.tcp.Tcp`` adds the async calls and ``trionet.compat.tcp.Tcp``
the blocking ones, so both behave alike by construction.

``create_client`` is split the same way. ``Dial`` does its
non-blocking steps: it validates the arguments, tells a numeric address
from a ``(host, port)`` to resolve, turns resolved addresses into targets
of the right family, and opens, binds and closes the socket of each
address tried (``Attempt``). A driver only resolves and waits::

    dial = Dial(addr, timeout, local_addr, dev)
    for target in dial.targets(<getaddrinfo of dial.lookup, if any>):
        with dial.attempt(target) as attempt:
            <wait for attempt.call>
            return cls(attempt.fd)
    raise dial.failure()

An address that refuses (any ``OSError`` but a ``Timeout``) is recorded
and the next one is tried; the last such error is raised when none is left.
A ``Timeout`` or a cancellation ends the dial at once: the one ``timeout``
covers every address.
"""

from __future__ import annotations

import logging
import ssl
from types import TracebackType
from typing import Any, Protocol, TypeVar

from . import _fd_basic as fdb
from . import _fd_options as fdo
from ._core import _prepare
from ._core._accept_errors import retry_delay
from ._core._addr import SockAddr, to_sockaddr
from ._core._args import outgoing
from ._core._checks import check_int, check_port
from ._core._constants import AF_INET, AF_INET6, SOCK_STREAM, TcpState
from ._core._fdtable import Entry, entry, kind
from ._core._timeout import Timeout, check_timeout
from ._net_tls import TlsSetup, client_setup, server_certificates, server_setup
from ._sockobj import SocketObject
from ._types import Address, TlsConfig

__all__ = ["LOGGER", "Attempt", "Dial", "SendAll", "Secured", "TcpBase", "accept_retry_delay"]

_T = TypeVar("_T", bound="TcpBase")

LOGGER = logging.getLogger("trionet.tcp")


def accept_retry_delay(error: OSError) -> float | None:
    """``serve``'s wait before accepting again after ``error`` (``None``: raise it).

    The one table of ``trionet._core._accept_errors``, logged on ``trionet.tcp``.
    """
    return retry_delay(error, LOGGER)


def _new_socket(family: int, dev: str | None) -> int:
    fd = fdb.socket(family, SOCK_STREAM)
    try:
        if dev is not None:
            fdo.bind_to_device(fd, dev)
    except BaseException:
        fdb.close(fd)
        raise
    return fd


class Dial:
    """The non-blocking steps of ``create_client``, shared by its async and sync drivers.

    Attributes:
        timeout: The validated ``timeout``, which covers resolving and every address.
        lookup: ``(host, port)`` to resolve, or ``None`` when ``addr`` is numeric.
        tls: The TLS client settings of ``tls=``, checking the certificate
            against ``server_name`` or else the host of ``addr``; ``None``
            for a plain connection.
    """

    __slots__ = ("_failure", "_local", "_numeric", "dev", "lookup", "timeout", "tls")

    def __init__(
        self,
        addr: Address,
        timeout: object,
        local_addr: Address | None,
        dev: object,
        tls: object = None,
    ) -> None:
        self.timeout = check_timeout(timeout)
        self._local = None if local_addr is None else to_sockaddr(local_addr, "local_addr")
        self.dev = None if dev is None else fdo.check_ifname("dev", dev)
        self._numeric: list[SockAddr] = []
        self.lookup: tuple[str, int] | None = None
        if isinstance(addr, tuple) and len(addr) == 2 and isinstance(addr[0], str):
            check_port("addr port", addr[1])
            try:
                self._numeric = [to_sockaddr(addr)]
            except ValueError:
                self.lookup = addr  # a host name, for the driver to resolve
        else:
            self._numeric = [to_sockaddr(addr)]
        host = self.lookup[0] if self.lookup is not None else self._numeric[0].addr
        self.tls = client_setup(tls, host)
        self._failure: OSError | None = None

    def targets(self, infos: list[Any] | None = None) -> list[SockAddr]:
        """The addresses to try in turn.

        Args:
            infos: What ``getaddrinfo`` (trio's or the stdlib's) returned for
                ``lookup``; ``None`` when ``addr`` was numeric.

        Raises:
            ValueError: ``local_addr`` is of another family than every address.
        """
        found = self._numeric
        if infos is not None:
            assert self.lookup is not None
            port = self.lookup[1]
            found = list(dict.fromkeys(SockAddr(str(info[4][0]), port) for info in infos))
        local = self._local
        if local is not None:
            found = [target for target in found if target.domain == local.domain]
            if not found:
                raise ValueError("local_addr is not of the family of any address of addr")
        return found

    def attempt(self, target: SockAddr) -> Attempt:
        """A socket for ``target`` (on ``dev``, bound to ``local_addr``) and its connect.

        Raises:
            OSError: the socket could not be made or bound (it is closed again).
        """
        fd = _new_socket(target.domain, self.dev)
        try:
            if self._local is not None:
                fdb.bind(fd, self._local)
            call = _prepare.connect(fd, target, None)
        except BaseException:
            fdb.close(fd)
            raise
        return Attempt(self, fd, target, call)

    def failed(self, error: OSError) -> None:
        """Record why an address failed; ``failure`` raises the last one."""
        self._failure = error

    def failure(self) -> OSError:
        """The error of the last address tried, once every address failed."""
        assert self._failure is not None
        return self._failure


class Attempt:
    """One address being tried: its socket is closed unless the connect succeeds.

    As a context manager, an ``OSError`` other than ``Timeout`` leaving the
    block is recorded on the ``Dial`` and suppressed, so the driver's
    loop goes on to the next address; anything else closes the socket and
    propagates.

    Attributes:
        fd: The socket; the caller's once the connect succeeded.
        target: The address being connected to.
        call: The prepared connect, for the driver to wait on.
    """

    __slots__ = ("_dial", "call", "fd", "target")

    def __init__(self, dial: Dial, fd: int, target: SockAddr, call: _prepare.Call[None]) -> None:
        self._dial = dial
        self.fd = fd
        self.target = target
        self.call = call

    def fail(self, error: BaseException) -> bool:
        """Close the socket; return whether ``error`` lets the next address be tried."""
        fdb.close(self.fd)
        if isinstance(error, OSError) and not isinstance(error, Timeout):
            self._dial.failed(error)
            return True
        return False

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return exc is not None and self.fail(exc)


class SendAll:
    """The progress of a ``send_all``; a ``Timeout`` leaving its block gets ``bytes_sent``.

    The one ``send_all`` of both APIs: a driver runs ``call(target)`` (or,
    over TLS, sends ``rest()``) until it is ``None``, adding each send's
    count to ``sent``, inside ``with`` this object. ``data`` is checked
    once, here, not again for each rest.

    Raises:
        TypeError: ``data`` is not bytes-like, ``str`` or a list of bytes-like objects.
    """

    __slots__ = ("_data", "_size", "sent")

    def __init__(self, data: object) -> None:
        payload = outgoing(data)
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            payload = b"".join(payload)
        self._data = payload
        self._size = payload.nbytes if isinstance(payload, memoryview) else len(payload)
        self.sent = 0

    def rest(self) -> bytes | bytearray | memoryview | None:
        """What is left to send, or ``None`` once everything was sent."""
        sent = self.sent
        if sent >= self._size:
            return None
        # Most sends go whole at the first try: a view is made only for a rest.
        return memoryview(self._data).cast("B")[sent:] if sent else self._data

    def call(self, target: Entry) -> _prepare.Call[int] | None:
        """The ``send`` of what is left on ``target``, or ``None`` once everything was sent."""
        rest = self.rest()
        return None if rest is None else _prepare.send_checked(target, rest)

    def __enter__(self) -> SendAll:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Timeout):
            exc.bytes_sent = self.sent


class Secured(Protocol):
    """The TLS layer of a ``Tcp`` connection (async or blocking): what both expose."""

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The stdlib object doing the TLS."""


class TcpBase(SocketObject):
    """A TCP socket owning one fd: constructors and options, without the waiting calls.

    Subclassed by ``trionet.tcp.Tcp`` (async) and
    ``trionet.compat.tcp.Tcp`` (blocking).

    JSRE equivalent: the ``Tcp`` object of the ``tcp`` module.
    """

    # A TLS listener's settings for the connections it accepts (TLS on the
    # object level, as JSRE's tls module is its tcp module with TLS).
    _accept_tls: TlsSetup | None = None
    _secure: Secured | None = None  # a TLS connection's layer, once its handshake is done

    def __init__(self, fd: int) -> None:
        super().__init__(-1)
        if fd >= 0:
            self._take(fd)

    def _take(self, fd: int) -> None:
        """Own ``fd`` from now on, with Nagle off.

        SPEC rule 28, as trio, asyncio and Go have it: otherwise a small
        write after a small write waits for the peer's delayed ACK (up to
        40 ms), and request/response protocols stall on every reply. A
        listener gets it too, harmlessly; its connections are set anew.
        """
        fdo.set_no_delay(fd, True)
        self._fd = fd

    @property
    def encrypted(self) -> bool:
        """Whether this connection speaks TLS (for a listener: whether it accepts TLS).

        Node equivalent: ``tlsSocket.encrypted``.
        """
        return self._secure is not None or self._accept_tls is not None

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """A TLS connection's ``ssl.SSLObject`` (the peer's certificate, ALPN), else ``None``."""
        secure = self._secure
        return None if secure is None else secure.ssl_object

    def fly_away(self) -> int:
        """Give up the fd without closing it (see ``SocketObject.fly_away``).

        Raises:
            RuntimeError: a TLS connection: its TLS state cannot go with the fd.
        """
        if self._secure is not None:
            raise RuntimeError("a TLS connection cannot fly away: its TLS state stays here")
        return super().fly_away()

    @classmethod
    def create_server(
        cls: type[_T],
        addr: object,
        backlog: int = 5,
        dev: str | None = None,
        *,
        tls: TlsConfig | None = None,
    ) -> _T:
        """Bind and listen on ``addr`` (``SO_REUSEADDR`` on), optionally only on ``dev``.

        With ``tls`` (``net.TlsOptions`` with ``cert`` and ``key``, or an
        ``ssl.SSLContext``) every accepted connection speaks TLS: ``accept``
        returns it once its handshake is done.

        JSRE equivalent: ``Tcp.createServer(saddr, backlog, dev)``; with
        ``tls``, the ``tls`` module's server.

        Raises:
            TypeError: ``tls`` is neither ``TlsOptions`` nor ``ssl.SSLContext``.
            ValueError: ``addr`` is not a numeric address, ``backlog`` is out
                of range, or ``tls`` has no certificate (or it did not load).
            OSError: the address is taken (``EADDRINUSE``) and the like.
        """
        certificates = server_certificates(tls)
        local = to_sockaddr(addr)
        check_int("backlog", backlog, 0, 65535)
        if dev is not None:
            fdo.check_ifname("dev", dev)
        fd = _new_socket(local.domain, dev)
        try:
            fdo.set_reuse_addr(fd, True)
            fdb.bind(fd, local)
            fdb.listen(fd, backlog)
        except BaseException:
            fdb.close(fd)
            raise
        server = cls(fd)
        if certificates is not None:
            server._accept_tls = server_setup(certificates)
        return server

    @classmethod
    def create_by_fd(cls: type[_T], fd: int) -> _T:
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
