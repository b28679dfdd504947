"""STARTTLS on a ``net.Socket``, and what a protocol library asks of a connection.

``start_tls`` swaps the socket's transport for a ``TlsTransport`` over the
same fd while the socket runs. The socket's tasks only ever look up
``self._transport`` between operations, so the swap is safe once:

1. the queue is flushed (plaintext written before the upgrade goes out as
   plaintext), and ``send_all`` is kept out meanwhile (``_sending``);
2. the reader is out of its read: the socket stops flowing (or reading
   ahead) for the upgrade, a read waiting for the peer is interrupted
   (``ReadInterrupted``: nothing was read) and awaited; a chunk it took as
   it stopped is already the peer's handshake, so the TLS layer gets it;
3. the fd's read hook is removed (TLS is not read inline, ``_net_read``
   rule 6).

Then the handshake runs in the caller's task; ``write()`` meanwhile queues,
and the writer's send waits for the handshake. A failed or cancelled
handshake destroys the socket (OpenSSL's state is lost), as it would on
connect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from ._net_core import CLOSED_MESSAGE, OPEN
from ._net_flow import SocketFlow
from ._net_tls import start_tls_setup
from ._net_transport import FdTransport
from ._types import TlsConfig

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["SocketSecure"]


class SocketSecure(SocketFlow):
    """``start_tls`` and ``is_readable`` of ``net.Socket`` (a mixin)."""

    __slots__ = ()

    async def start_tls(
        self,
        tls: TlsConfig,
        *,
        server_side: bool = False,
        server_name: str | None = None,
    ) -> Self:
        """Upgrade this open plain connection to TLS in place (STARTTLS); return the socket.

        Call it when the protocol says so (SMTP's ``220 go ahead``,
        PostgreSQL's ``S``). Queued writes go out in plaintext first; the
        handshake then runs in the calling task, and the socket's events and
        reading mode go on as before, over TLS: ``encrypted`` becomes
        ``True``. A client checks the certificate against ``server_name``,
        else ``tls.server_name``, else the host it connected to. A failed or
        cancelled handshake destroys the socket.

        Node equivalent: ``new tls.TLSSocket(socket, {isServer, ...})``.

        Raises:
            TypeError, ValueError: a bad argument (nothing changed).
            RuntimeError: not connected, already TLS, or ended.
            trio.BusyResourceError: another task is sending or receiving.
            ssl.SSLError, OSError: the handshake failed (after ``'error'``
                listeners got it, the socket closes).
            trio.ClosedResourceError: the socket was destroyed.
        """
        setup = start_tls_setup(tls, server_side, server_name, self._peer_host)
        if self._destroyed:
            raise trio.ClosedResourceError(CLOSED_MESSAGE)
        if self._status != OPEN or self._tls is not None or self._ended:
            what = "not connected" if self._status != OPEN else "already TLS or ended"
            raise RuntimeError(f"start_tls: the socket is {what}")
        if self._sending or self._receiving:
            raise trio.BusyResourceError("start_tls: another task is using this socket")
        flowing = self._flowing
        # Both directions are ours until the handshake is done; the reader
        # parks, also one that would read ahead (_net_read rule 7).
        self._sending = self._receiving = True
        try:
            await self._wait_idle()
            plain = await self._stop_reading()
            secured = setup.wrap(plain)
            if self._stash is not None:
                secured.feed(self._stash)
                self._stash = None
            self._transport, self._tls = secured, setup
            try:
                await secured.do_handshake(timeout=setup.handshake_timeout)
            except OSError as exc:
                self._destroy(exc, reported=True)
                raise
            except BaseException:
                self._destroy()
                raise
        finally:
            self._sending = self._receiving = False
            if not self._destroyed:
                self._restore_flowing(flowing)
        return self

    async def _stop_reading(self) -> FdTransport:
        """Rule 2 and 3 of the module docstring; the plain transport, quiet."""
        if self._flowing:
            self._pause_reading()
        transport = self._transport
        if self._in_read and transport is not None:
            transport.interrupt_read()
        while self._in_read:
            left = self._read_left = self._read_left or trio.Event()
            await left.wait()
        if self._destroyed:
            raise trio.ClosedResourceError(CLOSED_MESSAGE)
        transport = self._transport
        assert isinstance(transport, FdTransport)
        transport.hook_reads(None)
        return transport

    def is_readable(self) -> bool:
        """Whether a read would not wait: data or the end of the stream is pending.

        How a pool tells that an idle keep-alive connection died: the
        server closed it (or sent what nobody asked for). ``True`` once the
        socket is destroyed; ``False`` before it is connected.
        """
        if self._destroyed or self._eof or self._stash is not None:
            return True
        transport = self._transport
        return transport is not None and self._status == OPEN and transport.is_readable()
