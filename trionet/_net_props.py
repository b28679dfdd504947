"""The options and properties of ``net.Socket``: its settings and what it reports.

Setters (``set_timeout``, ``set_keep_alive``, ``set_no_delay``, ``ref``,
``unref``) return the socket, as Node's do, and are harmless no-ops once it
is closed (SPEC 8.3). A TCP option set before the connection exists is kept
and applied when the fd arrives; Unix-domain sockets ignore TCP options.
The properties read the core's counters and flags, and the fd's addresses.
On a TLS socket, what the handshake agreed on (``alpn_protocol``,
``get_protocol``, ``get_cipher``, ``get_peer_certificate``) reads as ``None``
until the handshake is done, and on plain sockets.
"""

from __future__ import annotations

import socket as _stdsocket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import trio

from ._core._addr import SockAddr, from_os
from ._core._checks import check_bool, check_seconds, whole_seconds
from ._core._constants import AF_INET, AF_INET6
from ._core._fdtable import entry
from ._net_address import AddressInfo
from ._net_core import CONNECTING, OPEN, SocketCore
from ._net_dial import check_callable
from ._tls import TlsTransport

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["SocketProps", "family_name"]

_MAX_KEEPALIVE_SECONDS = 32767


def family_name(domain: int) -> str:
    """``'IPv6'`` or ``'IPv4'``, as Node names an address family."""
    return "IPv6" if domain == AF_INET6 else "IPv4"


class SocketProps(SocketCore):
    """Option setters and properties of a ``net.Socket`` (a mixin of it)."""

    __slots__ = ("_options", "_refed", "_remote", "_unix")

    def __init__(self, allow_half_open: bool, high_water_mark: int) -> None:
        super().__init__(allow_half_open, high_water_mark)
        self._options: list[Callable[[], None]] | None = None  # waiting for the fd
        self._refed = True
        self._remote: tuple[str | None, str | None, int | None] = (None, None, None)
        self._unix = False

    def _fd_arrived(self, sock: _stdsocket.socket) -> None:
        """The transport is set: note the peer, apply the options set before."""
        self._unix = sock.family not in (AF_INET, AF_INET6)
        if not self._unix:
            # SPEC rule 28: Nagle off by default, unlike Node (trio, asyncio
            # and Go do the same): h11 writes a response in several sends,
            # and each waited for the peer's delayed ACK, 40 ms a response.
            # Options set before the connection (set_no_delay(False)) follow.
            sock.setsockopt(_stdsocket.IPPROTO_TCP, _stdsocket.TCP_NODELAY, 1)
            try:
                peer = from_os(sock.getpeername())
            except OSError:
                peer = None  # already reset by the peer: no address, as in Node
            if isinstance(peer, SockAddr):
                # Kept after close (SPEC 8.18).
                self._remote = (peer.addr, family_name(peer.domain), peer.port)
        for apply in self._options or ():
            apply()
        self._options = None

    # -- options --------------------------------------------------------------

    def set_timeout(self, seconds: float, callback: Callable[[], object] | None = None) -> Self:
        """Emit ``'timeout'`` after ``seconds`` without reads or writes.

        The socket stays open. The timer fires once per idle stretch: any
        activity (or another ``set_timeout``) re-arms it. ``0`` disables it.
        ``callback`` becomes a ``'timeout'`` listener, once.

        Node equivalent: ``socket.setTimeout(timeout[, callback])`` (ms there).

        Raises:
            TypeError: ``seconds`` is not a number, or ``callback`` not callable.
            ValueError: ``seconds`` is negative or not finite.
        """
        seconds = check_seconds("seconds", seconds)
        check_callable("callback", callback)
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
        return self._tls is not None

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
            return AddressInfo(local.addr, family_name(local.domain), local.port)
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
        return family_name(local.domain) if isinstance(local, SockAddr) else None

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

    # -- TLS (Node's tls.TLSSocket) -------------------------------------------

    def _secured(self) -> TlsTransport | None:
        transport = self._transport
        if isinstance(transport, TlsTransport) and transport.handshake_done:
            return transport
        return None

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The ``ssl.SSLObject`` of a TLS socket once its handshake is done, else ``None``.

        What ``trio.SSLStream`` and asyncio offer under the same name: the
        negotiated protocol, the peer's certificate chain, channel binding.
        """
        secured = self._secured()
        return None if secured is None else secured.ssl_object

    @property
    def alpn_protocol(self) -> str | None:
        """The protocol ALPN agreed on (``TlsOptions(alpn=...)``), else ``None``.

        Node equivalent: ``tlsSocket.alpnProtocol`` (``false`` there).
        """
        secured = self._secured()
        return None if secured is None else secured.selected_alpn_protocol()

    def get_protocol(self) -> str | None:
        """``'TLSv1.3'``, ``'TLSv1.2'``...; ``None`` on a plain or unsecured socket.

        Node equivalent: ``tlsSocket.getProtocol()``.
        """
        secured = self._secured()
        return None if secured is None else secured.version()

    def get_cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)`` as ``ssl`` reports them; ``None`` without TLS.

        Node equivalent: ``tlsSocket.getCipher()`` (an object there).
        """
        secured = self._secured()
        return None if secured is None else secured.cipher()

    @overload
    def get_peer_certificate(
        self, binary_form: Literal[False] = False
    ) -> dict[str, Any] | None: ...

    @overload
    def get_peer_certificate(self, binary_form: Literal[True]) -> bytes | None: ...

    def get_peer_certificate(self, binary_form: bool = False) -> dict[str, Any] | bytes | None:
        """The peer's certificate, as ``ssl.SSLSocket.getpeercert`` gives it.

        A dict of its fields (empty when it was not verified), or the DER
        bytes with ``binary_form=True``; ``None`` when the peer sent none
        (a client without a certificate), and on a plain or unsecured socket.

        Node equivalent: ``tlsSocket.getPeerCertificate()`` (raw DER there is
        ``cert.raw``).
        """
        secured = self._secured()
        if secured is None:
            return None
        return secured.getpeercert(True) if binary_form else secured.getpeercert()
