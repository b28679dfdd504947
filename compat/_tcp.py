"""``Tcp`` for sync code: JSRE's ``tcp`` object, each call blocking the calling thread.

The constructors and options are ``trionet._tcp_base.TcpBase``'s, the
same code as the async ``trionet.tcp.Tcp``; this class adds the blocking
calls, each the async call's ``trionet._core._prepare.Call`` run by
``._drive_sync.block``, and JSRE's callback mode on ``._iosched``:

- ``create_client(addr, callback=fn)`` returns at once with the ``Tcp``
  being connected; inside ``iosched.poll()`` it calls ``fn(tcp, remote)``
  once connected, or ``fn(None, None)`` if every address failed or the
  ``timeout`` ran out (JSRE: "remote is undefined, the connection failed").
  While it tries one address after another, ``sock_fd`` is the socket of
  the address being tried; closing the ``Tcp`` abandons the attempt and
  ``fn`` is not called.
- ``tcp.accept(callback=fn)`` calls ``fn(new_tcp, remote)`` inside
  ``iosched.poll()`` for every connection, until the listener is closed or
  ``fn`` returns ``False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import final, overload

from trionet._core import _prepare
from trionet._core._accept_errors import PEER_ERRNOS
from trionet._core._addr import SockAddr
from trionet._core._args import outgoing, writable_view
from trionet._core._checks import check_bool
from trionet._core._constants import SOCK_STREAM
from trionet._core._named import getaddrinfo_sync
from trionet._core._proxy_header import ProxyHeaderError, log_dropped
from trionet._core._readiness import WRITE
from trionet._core._timeout import Timeout, check_timeout
from trionet._net_tls import HANDSHAKE_TIMEOUT, TlsSetup
from trionet._sockobj import ip_address
from trionet._tcp_base import LOGGER, Attempt, Dial, SendAll, TcpBase
from trionet._types import Address, Buffer, SendData, TlsConfig, WritableBuffer

from . import _fd_io as fdio
from . import _iosched as iosched
from ._drive_sync import Deadline, block, state
from ._proxy import read_proxy_header
from ._serve import serve
from ._sockobj import SyncSocketObject
from ._tls import SyncTls

__all__ = ["AcceptCallback", "ConnectCallback", "Handler", "Tcp"]

Handler = Callable[["Tcp", SockAddr], object]
"""``handler(tcp, remote)`` of ``Tcp.serve``, run in a thread of its own."""

AcceptCallback = Callable[["Tcp", SockAddr], object]
"""``fn(new_tcp, remote)``; returning ``False`` stops accepting."""

ConnectCallback = Callable[["Tcp | None", "SockAddr | None"], object]
"""``fn(tcp, remote)`` once connected, ``fn(None, None)`` on failure or timeout."""


@final
class Tcp(TcpBase, SyncSocketObject):
    """A TCP socket, blocking: a listener or a connection, owning one fd.

    Create one with ``create_server``, ``create_client`` or
    ``create_by_fd``; ``with`` (or ``close``) closes it. Closing it
    from another thread wakes a call blocked on it with
    ``trio.ClosedResourceError``.

    With TLS (``tls=`` of ``create_client`` / ``create_server``) the
    calls move application bytes through ``._tls.SyncTls``; the callback
    forms are plain TCP only.

    JSRE equivalent: the ``Tcp`` object of the ``tcp`` module (and of the
    ``tls`` module, which is ``tcp`` with TLS).
    """

    _secure: SyncTls | None = None

    @classmethod
    def create_client(
        cls,
        addr: Address,
        *,
        timeout: float | None = None,
        local_addr: Address | None = None,
        dev: str | None = None,
        tls: TlsConfig | None = None,
        callback: ConnectCallback | None = None,
    ) -> Tcp:
        """Connect to ``addr``, a ``SockAddr`` or a ``(host, port)`` tuple.

        A host name is resolved with the stdlib's ``getaddrinfo`` in this
        thread (which no timeout can interrupt, but whose time counts), and
        each address is tried in turn, all within the one ``timeout``.

        With ``callback``, this returns at once with the ``Tcp`` being
        connected, and ``callback(tcp, remote)`` (or ``callback(None, None)``
        on failure or timeout) runs inside ``iosched.poll()``; a failure to
        resolve or to connect then goes to ``callback``, not to the caller.

        With ``tls`` (``net.TlsOptions`` or an ``ssl.SSLContext``) the TLS
        handshake follows within the same ``timeout``; the server's
        certificate is checked against ``tls.server_name``, else the host
        of ``addr``.

        JSRE equivalent: ``Tcp.createClient(saddr, timeout)``, and
        ``Tcp.createClient(saddr, callback)`` for the callback form; with
        ``tls``, the ``tls`` module's client.

        Raises:
            Timeout: no connection (or handshake) within ``timeout`` seconds.
            OSError: every address refused (the last address's error);
                ``ssl.SSLCertVerificationError``: the certificate did not verify.
            ValueError: both ``tls`` and ``callback``.
        """
        dial = Dial(addr, timeout, local_addr, dev, tls)
        deadline = Deadline(dial.timeout)
        if callback is not None:
            if dial.tls is not None:
                raise ValueError("tls is not available in the callback form of create_client")
            return _Connecting(dial, deadline, _checked(callback)).start()
        infos = None
        if dial.lookup is not None:
            infos = getaddrinfo_sync(*dial.lookup, type=SOCK_STREAM)
            deadline.left("create_client")
        for target in dial.targets(infos):
            with dial.attempt(target) as attempt:
                block(attempt.call, deadline)
                client = cls(attempt.fd)
                break
        else:
            raise dial.failure()
        if dial.tls is not None:
            client._handshake(dial.tls, deadline)
        return client

    def _handshake(self, setup: TlsSetup, deadline: Deadline) -> None:
        """Speak TLS from now on; a failed handshake closes the socket."""
        secure = SyncTls(self._live(), setup)
        try:
            secure.handshake(deadline)
        except BaseException:
            self.close()
            raise
        self._secure = secure

    @overload
    def accept(self, *, timeout: float | None = None) -> tuple[Tcp, SockAddr]: ...

    @overload
    def accept(self, *, callback: AcceptCallback) -> None: ...

    def accept(
        self, *, timeout: float | None = None, callback: AcceptCallback | None = None
    ) -> tuple[Tcp, SockAddr] | None:
        """Accept a connection, or with ``callback``, every connection in ``iosched.poll()``.

        In the callback form, ``callback(new_tcp, remote)`` runs inside
        ``iosched.poll()`` for each connection (on every ``mports`` port, so
        add those first) until this listener is closed or ``callback``
        returns ``False``. An accept error other than a connection that died
        before it was taken (``ECONNABORTED``, ``EPROTO``, ``ECONNRESET``;
        say ``EMFILE``) comes out of ``iosched.poll()``.

        On a TLS listener the connection is returned once its handshake is
        done (each may take 120 s at most); a client whose handshake fails
        is logged on the ``trionet.tcp`` logger, closed, and the next
        connection is waited for, all within ``timeout``.

        JSRE equivalent: ``tcp.accept(remoteAddr, timeout)``, and
        ``tcp.accept(undefined, callback)`` for the callback form.

        Raises:
            Timeout: no connection within ``timeout`` seconds.
            ValueError: both ``timeout`` and ``callback`` were given, or
                ``callback`` on a TLS listener.
        """
        setup = self._accept_tls
        if callback is None:
            if setup is None:
                fd, remote = fdio.accept(self._live(), timeout=timeout)
                assert isinstance(remote, SockAddr)
                return Tcp(fd), remote
            deadline = Deadline(check_timeout(timeout))
            while True:
                call = _prepare.accept(self._live(), None)
                fd, remote = _prepare.accepted(block(call, deadline))
                assert isinstance(remote, SockAddr)
                connection = Tcp(fd)
                if _secured(connection, setup, remote):
                    return connection, remote
        if timeout is not None:
            raise ValueError("timeout is for the blocking accept, not the callback form")
        if setup is not None:
            raise ValueError("a TLS listener has no callback form of accept")
        _Accepting(self, _checked(callback))
        return None

    def serve(self, handler: Handler, *, proxy_protocol: bool = False) -> None:
        """Accept until closed, running ``handler(tcp, remote)`` per connection in a thread.

        Each connection is closed when its handler returns (unless the
        handler flew it away). Running out of fds or memory (``EMFILE``,
        ``ENFILE``, ``ENOMEM``, ``ENOBUFS``) is logged on the ``trionet.tcp``
        logger and retried after 0.1 s; a connection that died before it was
        taken (``ECONNABORTED``, ``EPROTO``, ``ECONNRESET``) is skipped at once.
        When a handler raises, or the listener is closed (from another
        thread), or ``serve`` is interrupted, the accepting stops, the
        connections still open are closed (which wakes their handlers with
        ``trio.ClosedResourceError``), every handler thread is waited for,
        and the first handler's exception (or the listener's
        ``trio.ClosedResourceError``) comes out bare.

        ``proxy_protocol=True`` reads a PROXY v1 or v2 header first, in the
        handler's thread, as the async ``serve`` does: ``remote`` is then the
        client's, and a connection without a valid header within 10 s is
        logged and closed.

        JSRE equivalent: ``tcp.accept(callback)``, with a thread per
        connection; ``accept`` with ``callback`` is the single-threaded form.
        """
        check_bool("proxy_protocol", proxy_protocol)
        setup = self._accept_tls
        if setup is None and not proxy_protocol:
            serve(self, handler)
            return

        def prepared_handler(connection: Tcp, remote: SockAddr) -> object:
            if proxy_protocol:
                try:
                    header = read_proxy_header(connection.sock_fd)
                except ProxyHeaderError as exc:
                    log_dropped(LOGGER, remote, exc)
                    return None
                remote = header.source or remote
            if setup is not None and not _secured(connection, setup, remote):
                return None
            return handler(connection, remote)

        serve(self, prepared_handler)

    def send(self, data: SendData, *, timeout: float | None = None) -> int:
        """Send once; return the bytes the kernel took. JSRE equivalent: ``tcp.send()``.

        Over TLS: the bytes of ``data`` encrypted and sent (128 KiB at most).
        """
        secure = self._secure
        if secure is None:
            return fdio.send(self._live(), data, timeout=timeout)
        payload = outgoing(data)
        self._live()
        return secure.send(_joined(payload), Deadline(check_timeout(timeout)))

    def send_all(self, data: SendData, *, timeout: float | None = None) -> None:
        """Send all of ``data`` within ``timeout``.

        Raises:
            Timeout: time ran out; its ``bytes_sent`` says how much was sent.

        JSRE equivalent: ``tcp.send()`` in a loop until everything is written.
        """
        deadline = Deadline(check_timeout(timeout))
        job = SendAll(data)
        fd_state = state(self._entry())
        secure = self._secure
        with job:
            if secure is None:
                while (rest := job.rest()) is not None:
                    job.sent += fd_state.io(WRITE, "send", None, deadline, fd_state.sock.send, rest)
            else:
                while (rest := job.rest()) is not None:
                    job.sent += secure.send(rest, deadline)

    def sendto(self, addr: Address, data: SendData, *, timeout: float | None = None) -> int:
        """Send once on the connection; ``addr`` is ignored, as in JSRE.

        JSRE equivalent: ``tcp.sendto(saddr, data, timeout)``.
        """
        return self.send(data, timeout=timeout)

    def recv(self, max_bytes: int = 65536, *, timeout: float | None = None) -> bytes:
        """Receive up to ``max_bytes``; ``b""`` at end of stream. JSRE: ``tcp.recv()``."""
        secure = self._secure
        if secure is None:
            return fdio.recv(self._live(), max_bytes, timeout=timeout)
        size = _prepare.check_recv_size(max_bytes)
        self._live()
        return secure.recv(size, Deadline(check_timeout(timeout)))

    def recv_into(
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
            return fdio.recv_into(self._live(), buffer, offset, length, timeout=timeout)
        view = writable_view(buffer, offset, length)
        self._live()
        return secure.recv_into(view, Deadline(check_timeout(timeout)))

    def recvfrom(
        self, max_bytes: int = 65536, *, timeout: float | None = None
    ) -> tuple[bytes, SockAddr]:
        """Receive, with the peer's address. JSRE equivalent: ``tcp.recvfrom()``."""
        if self._secure is None:
            got, sender = fdio.recvfrom(self._live(), max_bytes, timeout=timeout)
            return got, ip_address(sender)
        return self.recv(max_bytes, timeout=timeout), self.peer_name()


def _joined(payload: Buffer | Sequence[Buffer]) -> Buffer:
    """One buffer for ``send``: TLS encrypts one at a time."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return payload
    return b"".join(payload)


def _secured(connection: Tcp, setup: TlsSetup, remote: SockAddr) -> bool:
    """The TLS handshake of an accepted connection; ``False`` (logged, closed) if it failed."""
    try:
        connection._handshake(setup, Deadline(HANDSHAKE_TIMEOUT))
    except OSError as exc:  # ssl.SSLError, a reset, the handshake's Timeout
        LOGGER.info("TLS handshake with %s failed: %r", remote, exc)
        return False
    return True


def _checked(callback: object) -> Callable[..., object]:
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    return callback


class _Connecting:
    """A callback-form ``create_client``: one address at a time, each an iosched event.

    The ``Tcp`` handed out at once holds the socket of the address being
    tried (none before the first, nor after the last).
    """

    __slots__ = ("_attempt", "_callback", "_deadline", "_dial", "_event", "_targets", "tcp")

    def __init__(self, dial: Dial, deadline: Deadline, callback: ConnectCallback) -> None:
        self._dial = dial
        self._deadline = deadline
        self._callback = callback
        self._attempt: Attempt | None = None
        self._event: iosched.Event | None = None
        self.tcp = Tcp(-1)

    def start(self) -> Tcp:
        infos = None
        try:
            if self._dial.lookup is not None:
                infos = getaddrinfo_sync(*self._dial.lookup, type=SOCK_STREAM)
        except OSError as exc:
            self._dial.failed(exc)
            infos = []
        self._targets = iter(self._dial.targets(infos))
        if not self._next():
            # The callback runs inside poll(), never in the caller of create_client.
            report = self._failed
            iosched.add(iosched.expiring(iosched.WRITE, -1, report, time.monotonic(), report))
        return self.tcp

    def _next(self) -> bool:
        """Start connecting to the next address; ``False`` if none is left."""
        for target in self._targets:
            try:
                attempt = self._dial.attempt(target)
            except OSError as exc:
                self._dial.failed(exc)
                continue
            try:
                attempt.call.attempt(*attempt.call.args)
            except BlockingIOError:
                pass  # in progress, as a non-blocking connect usually is
            except OSError as exc:
                attempt.fail(exc)
                continue
            # Connected or not, the socket is writable once the outcome is known.
            self._attempt = attempt
            self.tcp._take(attempt.fd)
            self._event = iosched.expiring(
                iosched.WRITE, attempt.fd, self._ready, self._deadline.at, self._expired
            )
            iosched.add(self._event)
            return True
        return False

    def _abandoned(self, attempt: Attempt) -> bool:
        # The user closed the Tcp: its fd, perhaps already a stranger's, is not ours.
        return self.tcp.sock_fd != attempt.fd

    def _ready(self) -> bool:
        attempt = self._attempt
        assert attempt is not None
        if self._abandoned(attempt):
            return False
        try:
            attempt.call.attempt(*attempt.call.args)
        except BlockingIOError:
            return True
        except OSError as exc:
            self._drop(attempt, exc)
            if not self._next():
                self._failed()
            return False
        # Removed before the callback runs: if it raises, it must not run again.
        assert self._event is not None
        iosched.delete(self._event)
        self._callback(self.tcp, attempt.target)
        return False

    def _expired(self) -> None:
        attempt = self._attempt
        assert attempt is not None
        if not self._abandoned(attempt):
            self._drop(attempt, Timeout("create_client timed out"))
            self._failed()

    def _drop(self, attempt: Attempt, error: OSError) -> None:
        # The event of this attempt goes too, before any callback can raise.
        assert self._event is not None
        iosched.delete(self._event)
        self.tcp._fd = -1
        attempt.fail(error)

    def _failed(self) -> None:
        self._callback(None, None)


class _Accepting:
    """A callback-form ``accept``: one READ event per fd the listener listens on."""

    __slots__ = ("_callback", "_events", "_listener")

    def __init__(self, listener: Tcp, callback: AcceptCallback) -> None:
        self._listener = listener
        self._callback = callback
        fds = listener._entry().all_fds()
        self._events = [iosched.event(iosched.READ, fd, self._ready) for fd in fds]
        for ev in self._events:
            iosched.add(ev)

    def _ready(self) -> bool:
        if self._listener.closed:
            self._stop()
            return False
        call = _prepare.accept(self._listener.sock_fd, None)
        try:
            fd, remote = _prepare.accepted(call.attempt(*call.args))
        except BlockingIOError:
            return True  # another fd of the listener had it, or the peer gave up
        except OSError as exc:
            if exc.errno in PEER_ERRNOS:
                return True
            raise
        assert isinstance(remote, SockAddr)
        if self._callback(Tcp(fd), remote) is False:
            self._stop()
            return False
        return True

    def _stop(self) -> None:
        for ev in self._events:
            iosched.delete(ev)
