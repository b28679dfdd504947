"""DTLS associations: ``DtlsChannel`` and the client's ``connect``.

A DTLS association is one peer's encrypted datagram conversation over a
``trio.DTLSEndpoint`` (one UDP socket, many associations). A client owns its
endpoint; a server's associations share the server's. Each
``DtlsChannel.send`` is one record in one datagram and each
``DtlsChannel.recv`` returns one record, so message boundaries survive,
as with ``Udp``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import cast, final

import trio
from OpenSSL import SSL

from ._core._addr import SockAddr, from_os, ip_domain, to_sockaddr
from ._core._args import outgoing
from ._core._timeout import Timeout, check_timeout, timeout_scope
from ._dtls_tls import client_context
from ._dtls_watch import (
    Watch,
    close_notify,
    handshake,
    info_callback,
    report_verify_error,
    send_raw,
)
from ._tls_options import TlsOptions
from ._types import SendData

__all__ = ["DtlsChannel", "check_tls", "connect", "peer_of"]


def check_tls(tls: object) -> TlsOptions | SSL.Context:
    """``tls=`` must be ``TlsOptions`` or a pyOpenSSL context."""
    if not isinstance(tls, (TlsOptions, SSL.Context)):
        raise TypeError(
            f"tls must be a dtls.TlsOptions or an OpenSSL.SSL.Context, not {type(tls).__name__}"
        )
    return tls


def peer_of(channel: trio.DTLSChannel) -> SockAddr:
    """The peer of a trio channel as a ``SockAddr`` (DTLS runs over IP only)."""
    return cast(SockAddr, from_os(channel.peer_address))


@contextlib.contextmanager
def _attempt_scope(timeout: float | None, what: str) -> Iterator[None]:
    """``timeout_scope``, except that ``0`` still makes the first attempt.

    trio's channel operations check for cancellation before they look at
    their queue, so a zero deadline would fail even with a record waiting.
    Instead the cancel is requested through the scheduler: it cannot land
    before this task next yields, which is after the first attempt.
    """
    if timeout != 0:
        with timeout_scope(timeout, what):
            yield
        return
    with trio.CancelScope() as scope:
        trio.lowlevel.current_trio_token().run_sync_soon(scope.cancel)
        yield
    if scope.cancelled_caught:
        raise Timeout(f"{what} timed out after 0 s")


@final
class DtlsChannel:
    """One DTLS association, after a successful handshake.

    Made by ``connect`` (client) or handed to a server's handler. Use it
    as ``async with`` to close it on exit.

    JSRE equivalent: an object of JSRE's ``dtls`` module, whose API is not
    among trionet's sources; the names follow JSRE ``tcp``. Node has no DTLS.
    """

    def __init__(
        self, channel: trio.DTLSChannel, watch: Watch, endpoint: trio.DTLSEndpoint | None
    ) -> None:
        self._channel = channel
        self._watch = watch
        self._endpoint = endpoint
        self._peer = peer_of(channel)
        self._eof = False
        self._receiving = False
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<trionet.dtls.DtlsChannel {state} peer={self._peer}>"

    @property
    def closed(self) -> bool:
        """``True`` once ``close`` or ``aclose`` ran."""
        return self._closed

    def peer_name(self) -> SockAddr:
        """The peer's address (stays readable after close)."""
        return self._peer

    def sock_name(self) -> SockAddr:
        """The local address of the UDP socket under this association."""
        self._check_open()
        return cast(SockAddr, from_os(self._channel.endpoint.socket.getsockname()))

    @property
    def alpn_protocol(self) -> str | None:
        """The protocol both sides agreed on through ALPN, or ``None``."""
        conn = self._watch.conn
        name = conn.get_alpn_proto_negotiated() if conn is not None else b""
        return name.decode() if name else None

    def get_cleartext_mtu(self) -> int:
        """The largest ``send`` that fits in one datagram of the path MTU trio assumes."""
        self._check_open()
        return self._channel.get_cleartext_mtu()

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the DTLS channel is closed")

    async def send(self, data: SendData, *, timeout: float | None = None) -> int:
        """Encrypt ``data`` as one record and send it in one datagram.

        Args:
            data: Bytes-like, ``str`` (UTF-8) or a list of bytes-like objects
                (joined into one record). Must not be empty.
            timeout: Seconds; a datagram send waits only for the socket and
                for another association's send on the same endpoint.

        Returns:
            The number of cleartext bytes sent.

        Raises:
            Timeout: The send did not finish in time. The record may already
                be encrypted; it then goes out with the next send.
            trio.ClosedResourceError: The channel is closed.
            trio.BrokenResourceError: The peer started a new association
                from the same address.

        JSRE equivalent: ``tcp.send``, by analogy.
        """
        limit = check_timeout(timeout)
        payload = _record(data)
        self._check_open()
        with _attempt_scope(limit, "DTLS send"):
            await self._channel.send(payload)
        return len(payload)

    async def recv(self, *, timeout: float | None = None) -> bytes:
        """The next record from the peer (one datagram's cleartext).

        Returns ``b""`` once the peer has closed the association with
        ``close_notify`` (a record is never empty). Cancelling a ``recv``
        loses nothing. ``timeout=0`` returns a record that has already
        arrived, or raises ``trionet.Timeout``.

        Raises:
            Timeout: Nothing arrived in time.
            trio.ClosedResourceError: The channel is closed (also when closed
                by another task while waiting).
            trio.BusyResourceError: Another task is already in ``recv``.
            trio.BrokenResourceError: The association failed (a new
                association from the same peer address replaced it, or
                OpenSSL rejected a record).

        JSRE equivalent: ``tcp.recv``, by analogy.
        """
        limit = check_timeout(timeout)
        self._check_open()
        if self._eof:
            return b""
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this channel")
        self._receiving = True
        try:
            with _attempt_scope(limit, "DTLS recv"):
                return await self._channel.receive()
        except SSL.ZeroReturnError:
            self._eof = True
            return b""
        except SSL.Error as error:
            raise trio.BrokenResourceError(f"DTLS association failed: {error}") from error
        finally:
            self._receiving = False

    def __aiter__(self) -> DtlsChannel:
        return self

    async def __anext__(self) -> bytes:
        data = await self.recv()
        if not data:
            raise StopAsyncIteration
        return data

    def close(self) -> None:
        """Close at once, without telling the peer. A second close does nothing."""
        if self._closed:
            return
        self._closed = True
        self._channel.close()
        if self._endpoint is not None:
            self._endpoint.close()

    async def aclose(self) -> None:
        """Send ``close_notify`` (best effort, as UDP is), then close."""
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        notify = b"" if self._eof else close_notify(self._watch)
        try:
            await send_raw(self._channel, notify)
        finally:
            self.close()

    async def __aenter__(self) -> DtlsChannel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.aclose()
        else:
            self.close()


def _record(data: object) -> bytes:
    value = outgoing(data)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = [value]
    payload = b"".join(value)
    if not payload:
        raise ValueError("data must not be empty: DTLS has no empty records")
    return payload


def _client_setup(tls: object, host: str) -> tuple[SSL.Context, Watch]:
    options = TlsOptions() if tls is None else check_tls(tls)
    if isinstance(options, SSL.Context):
        ctx, name = options, None
    else:
        ctx, name = client_context(options, host, report_verify_error), options.server_name
    ctx.set_info_callback(info_callback)
    # RFC 6066: SNI carries host names only, never address literals.
    return ctx, Watch(sni=name if name and ip_domain(name) is None else None)


async def connect(
    addr: object,
    *,
    tls: TlsOptions | SSL.Context | None = None,
    timeout: float | None = None,
    local_addr: object = None,
) -> DtlsChannel:
    """Open a DTLS association with the server at ``addr``.

    The handshake is done when this returns. The client verifies the
    server's certificate and name by default (against ``tls.ca``, else the
    system store; the name is ``tls.server_name``, else the address).

    Args:
        addr: The server's numeric address, a ``SockAddr`` or ``(host, port)``.
        tls: ``dtls.TlsOptions``, or a pyOpenSSL ``DTLS_METHOD`` context used
            as it is (trionet adds its info callback to it).
        timeout: Seconds for binding and the whole handshake.
        local_addr: Bind the client's socket to this address first.

    Raises:
        Timeout: No handshake in time (for example, nobody answers).
        ssl.SSLCertVerificationError: The server's certificate was refused.
        ssl.SSLError: The server refused the handshake (a fatal alert).
        OSError: Binding or sending failed.

    JSRE equivalent: ``Tcp.createClient``, by analogy.
    """
    remote = to_sockaddr(addr)
    local = None if local_addr is None else to_sockaddr(local_addr, "local_addr")
    if local is not None and local.domain != remote.domain:
        raise ValueError("local_addr and addr must be of the same address family")
    limit = check_timeout(timeout)
    ctx, watch = _client_setup(tls, remote.addr)
    endpoint = trio.DTLSEndpoint(trio.socket.socket(remote.domain, trio.socket.SOCK_DGRAM))
    try:
        with timeout_scope(limit, "DTLS connect"):
            if local is not None:
                await endpoint.socket.bind(local.to_os())
            # trio annotates (host, port) only; IPv6 peers need the 4-tuple
            # recvfrom reports, or replies would not match the association.
            channel = endpoint.connect(cast("tuple[str, int]", remote.to_os()), ctx)
            await handshake(channel, watch)
    except BaseException:
        endpoint.close()
        raise
    return DtlsChannel(channel, watch, endpoint)
