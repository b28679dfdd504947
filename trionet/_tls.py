"""TLS over a byte transport: an ``ssl.SSLObject`` between two memory BIOs.

Theory of operation
===================

``TlsTransport`` offers the transport protocol of ``net.Socket``
(``trionet._net_transport.Transport``) over another transport, so a
socket runs over TLS with its reader and writer tasks unchanged. It is not
``trio.SSLStream``: that class has no ``send_eof`` (TLS half-close is the
heart of ``end()`` over TLS, SPEC 8.23) and wants a ``trio.abc.Stream``
underneath, while ours sits on the fd-level transport directly. The
technique is trio's (``trio/_ssl.py``; read its opening comment):

1. Every ``SSLObject`` call is synchronous and talks only to the BIOs.
   ``_drive`` calls one, then moves ciphertext: what OpenSSL put in the
   outgoing BIO goes to the inner transport, or, when the call raised
   ``SSLWantReadError``, one inner read feeds the incoming BIO, and the call
   is retried. Only one of the two per round, then look again: another task
   may have moved bytes meanwhile.
2. Two tasks use a transport at once (the reader and the writer), and
   either may need the other direction: a handshake started by the writer
   reads, a TLS 1.3 key update met by the reader writes. Ciphertext must
   reach the wire in the order OpenSSL produced it, so inner sends hold a
   strict FIFO lock taken right after the outgoing BIO is emptied. Inner
   reads hold a lock too, and a task that waited for it while another task
   read retries its call instead of reading again (the new bytes may be
   all it needed; reading again could wait for data that never comes).
3. The handshake runs once, started by ``do_handshake`` or by the first
   send or receive; other tasks wait for it. It always runs before any data
   (letting OpenSSL handshake inside a read would skip Python's host-name
   check, bpo-30141). A TLS 1.3 server's session tickets, written when its
   handshake ends, are held back until it first sends: sent at once they
   can reach a client that already closed and turn its FIN into a reset
   that destroys data in flight (trio issue 819).
4. Failure breaks the transport for good: an ``ssl.SSLError``, an
   ``OSError`` while sending, or a cancellation during the handshake or
   while ciphertext is half sent (OpenSSL has already counted those
   records). Later calls raise ``ssl.SSLError`` chained to the first
   failure. Cancelling a receive that waits for data is safe. When a
   handshake fails, the alert OpenSSL prepared is sent if the kernel takes
   it at once, so the peer learns why ("unknown ca") instead of seeing EOF.
5. Half-close (SPEC 8.23). ``send_eof`` sends ``close_notify`` with
   ``unwrap()`` (whose second ``SSL_shutdown`` raises ``SSLWantReadError``:
   the peer's answer, if any, comes through the reader) and reading goes
   on. Careful: that second ``SSL_shutdown`` reads the incoming BIO, and a
   complete application-data record there makes OpenSSL fail the whole
   connection (``APPLICATION_DATA_AFTER_CLOSE_NOTIFY``). So records already
   received are decrypted first into a stash the next receives return.
   ``SSL_read`` after our ``close_notify`` still returns the peer's data.
   The peer's ``close_notify`` reads as ``b""``; writing after it is still
   allowed. TLS 1.3 defines that half-close; on TLS 1.2 OpenSSL allows the
   same, so two trionet peers half-close on either version, but RFC 5246
   tells a 1.2 peer to answer ``close_notify`` and close at once, so there
   ``send_eof`` usually ends in a full close (``b""`` soon after).
6. A TCP end of stream without ``close_notify`` (a "ragged EOF", what the
   stdlib's ``SSLSocket.close()`` and many HTTPS peers do) after the
   handshake reads as ``b""`` when ``suppress_ragged_eofs`` is true (the
   default, as in the stdlib and Node), else raises ``ssl.SSLEOFError``;
   after our own ``send_eof`` it always reads as ``b""``.
   ``close_notify_received`` tells the two ends apart.
7. ``try_send`` is the fast path of ``net.Socket.write``: when nothing
   else is in flight (handshake done, no send holding the lock, no
   ciphertext waiting) it encrypts and offers the records to the kernel at
   once, with no task switch; a message then costs what it costs trio's
   ``SSLStream``. OpenSSL counts the records as sent once encrypted, so
   what the kernel does not take is ``held``: it goes out first with the
   next send, and the socket's writer task ``flush``es it without waiting
   for one.
8. ``try_read`` is the read side of rule 7: the socket's read hook
   (``trionet._net_read``, reading inline) calls it when ciphertext arrives
   while the reader task waits for it (in ``_feed``, holding the receive
   lock), so a message is decrypted and handed to the ``'data'``
   listeners with no task switch. It reads for the reader: the bytes go to
   the incoming BIO as the reader's own read would put them. Whatever needs
   a task (OpenSSL wrote a reply, such as a key update's; the stream
   ended; an error; another task waits for the receive lock; no finished
   handshake) wakes the reader instead, with ``ReadInterrupted`` marked as
   ours, and the reader retries its step with the bytes already fed.
"""

from __future__ import annotations

import contextlib
import errno
import ssl
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast, final, overload

import trio

from ._core._checks import check_bool
from ._core._readiness import ReadHook
from ._core._timeout import check_timeout, timeout_scope
from ._net_transport import FdTransport, ReadInterrupted, Transport
from ._types import Buffer

__all__ = ["TlsTransport"]

T = TypeVar("T")

_RECEIVE_SIZE = 65536  # ciphertext asked of the inner transport per read
_SEND_CHUNK = 131072  # plaintext encrypted per send(): bounds the ciphertext held at once
_RECORD = 16384  # the largest TLS record's plaintext


@final
class TlsTransport:
    """A TLS connection over ``inner``, with the transport methods of ``net.Socket``.

    The transport owns ``inner`` from now on: ``close`` closes it. The
    handshake runs on first use, or explicitly with ``do_handshake``.
    Cancelling a receive that waits for data is safe; cancelling the
    handshake or a send breaks the connection (later calls raise
    ``ssl.SSLError``).

    Args:
        inner: The transport that carries the ciphertext (``FdTransport``).
        context: From ``client_context`` / ``server_context``, or the caller's.
        server_side: ``True`` on the accepting side.
        server_hostname: The name a client sends (SNI) and checks the
            certificate against; required when ``context.check_hostname``.
        suppress_ragged_eofs: Read a TCP end of stream without
            ``close_notify`` as ``b""`` (the stdlib's default) instead of
            raising ``ssl.SSLEOFError``.

    Node equivalent: ``tls.TLSSocket`` under a ``net.Socket``.
    """

    __slots__ = (
        "_broken",
        "_close_notify",
        "_closed",
        "_deferred",
        "_delayed",
        "_ended",
        "_eof_sent",
        "_fed_inline",
        "_handshake",
        "_handshake_done",
        "_held",
        "_incoming",
        "_inner",
        "_outgoing",
        "_recv_count",
        "_recv_lock",
        "_recv_waiters",
        "_send_lock",
        "_ssl",
        "_stash",
        "_suppress_ragged",
        "_transport_eof",
        "fd",
    )

    encrypted = True
    """Always ``True`` (Node: ``tlsSocket.encrypted``)."""

    def __init__(
        self,
        inner: Transport,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
        suppress_ragged_eofs: bool = True,
    ) -> None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"context must be an ssl.SSLContext, not {type(context).__name__}")
        check_bool("server_side", server_side)
        check_bool("suppress_ragged_eofs", suppress_ragged_eofs)
        if server_hostname is not None and not isinstance(server_hostname, str):
            kind = type(server_hostname).__name__
            raise TypeError(f"server_hostname must be a str or None, not {kind}")
        if not server_side and context.check_hostname and not server_hostname:
            raise ValueError("server_hostname is required: the context checks host names")
        self._inner = inner
        self.fd = inner.fd
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side else server_hostname,
        )
        self._suppress_ragged = suppress_ragged_eofs
        self._send_lock = trio.StrictFIFOLock()
        self._recv_lock = trio.Lock()
        self._recv_count = 0  # inner reads so far (rule 2)
        self._recv_waiters = 0  # tasks waiting for the receive lock (rule 8)
        self._fed_inline = False  # the reader's wait was ended by try_read (rule 8)
        self._handshake: trio.Event | None = None  # set when the handshake has ended
        self._handshake_done = False
        # Ciphertext due before the next send: a TLS 1.3 server's session
        # tickets (rule 3), or what the kernel left of a try_send (rule 7).
        self._delayed = b""
        self._held = False  # _delayed holds a try_send's records: flush soon
        self._deferred: ssl.SSLError | None = None  # met while gathering records
        self._stash = bytearray()  # plaintext decrypted by send_eof (rule 5)
        self._closed = False
        self._broken: BaseException | None = None
        self._eof_sent = False
        self._ended = False  # the incoming stream ended (close_notify, or a tolerated EOF)
        self._close_notify = False
        self._transport_eof = False

    # -- what the connection is ---------------------------------------------

    @property
    def server_side(self) -> bool:
        """Whether this is the accepting side."""
        return self._ssl.server_side

    @property
    def server_hostname(self) -> str | None:
        """The name a client sent and checked (``None`` on a server)."""
        return self._ssl.server_hostname

    @property
    def handshake_done(self) -> bool:
        """Whether the handshake has completed."""
        return self._handshake_done

    @property
    def close_notify_received(self) -> bool:
        """Whether the peer ended its side with ``close_notify`` (not a bare EOF)."""
        return self._close_notify

    @property
    def context(self) -> ssl.SSLContext:
        """The context in use (on a server, the one SNI picked)."""
        return self._ssl.context

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The stdlib object doing the TLS (what ``ssl.SSLSocket`` would offer)."""
        return self._ssl

    def selected_alpn_protocol(self) -> str | None:
        """The protocol ALPN agreed on, or ``None``. Node: ``tlsSocket.alpnProtocol``."""
        return self._ssl.selected_alpn_protocol()

    def version(self) -> str | None:
        """``'TLSv1.3'``, ``'TLSv1.2'``, ...; ``None`` before the handshake."""
        return self._ssl.version()

    def cipher(self) -> tuple[str, str, int] | None:
        """``(name, protocol, secret bits)``; ``None`` before the handshake."""
        return self._ssl.cipher()

    @overload
    def getpeercert(self, binary_form: Literal[False] = False) -> dict[str, Any] | None: ...

    @overload
    def getpeercert(self, binary_form: Literal[True]) -> bytes | None: ...

    def getpeercert(self, binary_form: bool = False) -> dict[str, Any] | bytes | None:
        """The peer's certificate, as ``ssl.SSLSocket.getpeercert`` returns it.

        Node equivalent: ``tlsSocket.getPeerCertificate()``.
        """
        return self._ssl.getpeercert(binary_form)

    # -- the transport protocol ---------------------------------------------

    async def do_handshake(self, *, timeout: float | None = None) -> None:
        """Complete the handshake now (it also runs on first send or receive).

        Returns at once if it is done; waits if another task runs it.

        Raises:
            ssl.SSLCertVerificationError: the peer's certificate or name
                did not verify.
            ssl.SSLError: the handshake failed otherwise.
            OSError: the connection failed.
            trionet.Timeout: ``timeout`` ran out (the connection is broken).
            trio.ClosedResourceError: the transport was closed.
        """
        seconds = check_timeout(timeout)
        self._check()
        if self._handshake_done:
            await trio.lowlevel.checkpoint()
            return
        with timeout_scope(seconds, "TLS handshake"):
            await self._ensure_handshake()

    def try_send(self, data: Buffer) -> int:
        """Encrypt up to 128 KiB of ``data`` and hand it to the kernel now (rule 7).

        Returns how many bytes of ``data`` were encrypted. Ciphertext the
        kernel did not take at once is ``held``: it goes out ahead of
        anything else on the next ``send``, ``flush`` or ``send_eof``.

        Raises:
            BlockingIOError: the transport cannot encrypt without waiting
                (handshake, a send in progress, EOF sent, closed, failed):
                ``send`` does it, and reports what is wrong.
            ssl.SSLError: encryption failed (the transport is broken).
        """
        if (
            not self._handshake_done
            or self._held
            or self._eof_sent
            or self._closed
            or self._broken is not None
            or self._send_lock.locked()
            or self._outgoing.pending
        ):
            raise BlockingIOError(errno.EAGAIN, "TLS data must wait for the writer task")
        chunk = _chunk(data)
        if not chunk:
            return 0
        try:
            self._ssl.write(chunk)
        except ssl.SSLWantReadError as exc:
            # Nothing was taken (a renegotiation wants the peer first); the
            # writer's ``send`` retries with the same bytes, as OpenSSL asks.
            raise BlockingIOError(errno.EAGAIN, "TLS must read before it writes") from exc
        except ssl.SSLError as exc:
            self._fail(exc)
            raise
        ciphertext = self._delayed + self._outgoing.read()
        self._delayed = b""
        try:
            sent = self._inner.try_send(ciphertext)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._broken = exc  # records OpenSSL counted as sent are lost (rule 4)
            raise
        if sent < len(ciphertext):
            self._delayed = ciphertext[sent:]
            self._held = True
        return len(chunk)

    @property
    def held(self) -> bool:
        """Whether ciphertext of a ``try_send`` still waits for ``flush``."""
        return self._held

    async def flush(self) -> None:
        """Send the ciphertext ``try_send`` left ``held``.

        Raises:
            ssl.SSLError, OSError: the connection failed.
            trio.ClosedResourceError: the transport was closed.
        """
        self._check()
        await self._send_raw(b"")

    async def send(self, data: Buffer | Sequence[Buffer]) -> int:
        """Encrypt and send up to 128 KiB of ``data``; return how many bytes that was.

        Raises:
            BrokenPipeError: after ``send_eof``.
            ssl.SSLError, OSError: the connection failed.
            trio.ClosedResourceError: the transport was closed.
        """
        self._check()
        if self._eof_sent:
            raise BrokenPipeError(errno.EPIPE, "cannot send after send_eof()")
        await self._ensure_handshake()
        chunk = _chunk(data)
        if not chunk:  # nothing to encrypt, and write(b"") is not a no-op in OpenSSL
            await trio.lowlevel.checkpoint()
            return 0
        await self._drive(self._ssl.write, chunk)
        return len(chunk)

    async def receive(self, max_bytes: int) -> bytes:
        """Receive and decrypt up to ``max_bytes``; ``b""`` at the end of the stream.

        Raises:
            ssl.SSLError, OSError: the connection failed.
            trio.ClosedResourceError: the transport was closed.
        """
        self._check()
        await self._ensure_handshake()
        return await self._drive(self._read, max_bytes, reading=True)

    async def read(self, max_bytes: int) -> bytes:
        """``receive`` for the socket's reader task, which needs no schedule point per chunk.

        Its inner read is one whenever it waits for the peer, and every few
        reads otherwise (the driver's budget), as on a plain socket.
        """
        self._check()
        await self._ensure_handshake()
        return await self._drive(self._read, max_bytes, reading=True, reader=True)

    async def receive_into(self, view: memoryview) -> int:
        """Receive and decrypt into ``view``; ``0`` at the end of the stream."""
        self._check()
        await self._ensure_handshake()
        return await self._drive(self._read_into, view, reading=True)

    def hook_reads(self, reader: ReadHook | None) -> None:
        """Let the readiness layer call ``reader.read_ready(task)`` when ciphertext arrives.

        ``reader`` then reads with ``try_read`` (rule 8). Only over an
        ``FdTransport``; over any other inner transport, nothing is read inline.
        """
        inner = self._inner
        if isinstance(inner, FdTransport):
            inner.hook_reads(reader)

    def try_read(self, max_bytes: int) -> bytes:
        """For the reader waiting for ciphertext: read it now, decrypt up to ``max_bytes``.

        Returns the plaintext, or ``b""`` when the TCP stream ended (the
        reader, woken by that end, reads it itself). See rule 8.

        Raises:
            BlockingIOError: no plaintext now: the kernel had nothing, the
                record is not complete yet (the reader waits on), or what
                came needs the reader task (it is woken).
        """
        inner = self._inner
        assert isinstance(inner, FdTransport)  # the hook is set on one only
        ciphertext = inner.try_read(_RECEIVE_SIZE)
        if not ciphertext:
            return ciphertext
        self._recv_count += 1
        self._incoming.write(ciphertext)
        data = b""
        if self._recv_waiters or not self._handshake_done or self._broken is not None:
            self._wake_reader()
        else:
            try:
                data = self._read(max_bytes)
            except ssl.SSLWantReadError:
                pass  # a partial record: the reader waits for the rest
            except ssl.SSLError as exc:
                self._deferred = exc  # for the reader to raise, as it would have
            if self._outgoing.pending or self._ended or self._deferred is not None:
                self._wake_reader()
        if not data:
            raise BlockingIOError(errno.EAGAIN, "no TLS plaintext to hand over now")
        return data

    def _wake_reader(self) -> None:
        """End the reader's wait for ciphertext: it goes on with the bytes fed (rule 8)."""
        self._fed_inline = True
        self._inner.interrupt_read()

    def feed(self, ciphertext: bytes) -> None:
        """Take bytes the peer sent before this transport existed (STARTTLS) as received."""
        self._incoming.write(ciphertext)

    def is_readable(self) -> bool:
        """Whether a receive would not wait for the peer.

        Also ``True`` when only TLS records that carry no data (a session
        ticket) are pending, as the raw socket is then readable: a pool
        that asks this of an idle connection drops it, which is safe.
        """
        return bool(
            self._stash
            or self._ended
            or self._closed
            or self._ssl.pending()
            or self._incoming.pending
            or self._transport_eof
            or self._inner.is_readable()
        )

    def interrupt_read(self) -> None:
        """End a read waiting for ciphertext with ``ReadInterrupted``.

        Only a read waiting on the inner transport is ended (OpenSSL's state
        is as before the wait); one busy sending, or waiting for the
        handshake, finishes first.
        """
        self._inner.interrupt_read()

    async def wait_writable(self) -> None:
        """Return once the inner transport may take bytes without blocking."""
        self._check()
        async with self._send_lock:
            await self._inner.wait_writable()

    async def send_eof(self) -> None:
        """Send ``close_notify``; receiving goes on until the peer ends too. Twice is a no-op.

        See the module docstring (rule 5) for TLS 1.2 peers.

        Raises:
            ssl.SSLError, OSError: the connection failed.
            trio.ClosedResourceError: the transport was closed.
        """
        self._check()
        if not self._eof_sent:
            await self._ensure_handshake()
        if self._eof_sent:
            await trio.lowlevel.checkpoint()
            return
        self._eof_sent = True
        self._drain()
        await self._drive(self._shutdown)

    def close(self) -> None:
        """Close the inner transport now (no ``close_notify``); waiters wake. Twice is a no-op."""
        if self._closed:
            return
        self._closed = True
        self._inner.close()

    # -- the SSLObject steps (synchronous) ----------------------------------

    def _read(self, max_bytes: int) -> bytes:
        stash = self._stash
        if stash:
            data = bytes(stash[:max_bytes])
            del stash[:max_bytes]
            return data
        if self._at_end():
            return b""
        try:
            # A record at a time: asking more only makes CPython allocate more.
            data = self._ssl.read(min(max_bytes, _RECORD))
        except ssl.SSLError as exc:
            self._end_of_stream(exc)
            return b""
        if not data:
            self._end_of_stream(None)
            return data
        # One SSL_read returns one record (16 KiB at most): take the other
        # complete records already received too, as one chunk for the reader.
        parts = [data]
        size = len(data)
        while size < max_bytes and self._incoming.pending:
            more = self._next(self._ssl.read, min(max_bytes - size, _RECORD))
            if not more:
                break
            parts.append(more)
            size += len(more)
        return data if len(parts) == 1 else b"".join(parts)

    def _read_into(self, view: memoryview) -> int:
        stash = self._stash
        if stash:
            size = min(len(view), len(stash))
            view[:size] = stash[:size]
            del stash[:size]
            return size
        if self._at_end():
            return 0
        try:
            # With a buffer the stdlib returns a count (typeshed says bytes).
            size = cast(int, self._ssl.read(len(view), view))
        except ssl.SSLError as exc:
            self._end_of_stream(exc)
            return 0
        if not size:
            self._end_of_stream(None)
        while 0 < size < len(view) and self._incoming.pending:
            rest = view[size:]
            more = cast("int | None", self._next(self._ssl.read, len(rest), rest))
            if not more:
                break
            size += more
        return size

    def _next(self, read: Callable[..., T], *args: Any) -> T | None:
        """``read(*args)`` once more without waiting for the peer.

        ``None`` when no complete record is here; an end of stream is noted
        and an error kept, both for the next read to report (the bytes
        gathered so far go first).
        """
        try:
            more = read(*args)
        except ssl.SSLWantReadError:
            return None
        except ssl.SSLError as exc:
            self._deferred = exc
            return None
        if not more:
            self._end_of_stream(None)
        return more

    def _at_end(self) -> bool:
        """Whether the incoming stream has ended; raises an error ``_more`` kept."""
        exc = self._deferred
        if exc is not None:
            self._deferred = None
            self._end_of_stream(exc)
        return self._ended

    def _end_of_stream(self, exc: ssl.SSLError | None) -> None:
        """Note the end of the incoming stream, or re-raise ``exc`` if it is no end."""
        if exc is None or isinstance(exc, ssl.SSLZeroReturnError):
            self._ended = self._close_notify = True
            return
        ragged = self._transport_eof and isinstance(exc, (ssl.SSLEOFError, ssl.SSLSyscallError))
        if ragged and self._handshake_done and (self._suppress_ragged or self._eof_sent):
            self._ended = True
            return
        raise exc

    def _drain(self) -> None:
        """Decrypt the complete records already received into the stash (rule 5)."""
        while not self._ended:
            try:
                data = self._ssl.read(_RECORD)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLError as exc:
                try:
                    self._end_of_stream(exc)
                except ssl.SSLError:
                    self._fail(exc)
                    raise
                return
            if not data:
                self._end_of_stream(None)
                return
            self._stash += data

    def _shutdown(self) -> None:
        try:
            self._ssl.unwrap()
        except ssl.SSLWantReadError:
            pass  # close_notify is written; the peer's answer comes through the reader
        except ssl.SSLError:
            if not self._transport_eof:
                raise
            # The peer's TCP side is gone already: nobody is left to tell, and
            # the reader reports that end.

    # -- moving ciphertext ---------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the TLS connection is closed")
        broken = self._broken
        if broken is not None:
            raise ssl.SSLError(f"the TLS connection failed earlier: {broken!r}") from broken

    async def _ensure_handshake(self) -> None:
        if self._handshake_done:
            return
        event = self._handshake
        if event is not None:
            await event.wait()
            self._check()
            return
        event = self._handshake = trio.Event()
        try:
            await self._drive(self._ssl.do_handshake, handshake=True)
        except BaseException as exc:
            if self._broken is None:
                self._broken = exc
            raise
        finally:
            event.set()
        self._handshake_done = True

    async def _drive(
        self,
        step: Callable[..., T],
        *args: Any,
        handshake: bool = False,
        reading: bool = False,
        reader: bool = False,
    ) -> T:
        """Call ``step(*args)`` until it stops wanting to read, moving ciphertext (rule 1).

        With ``reading`` (``step`` is a read), a step that could only fail
        is not tried: with nothing received and nothing decrypted, the
        first ``SSL_read`` of every message would raise ``SSLWantReadError``.
        The call is a schedule point (trio's contract for a receive) unless
        it is the ``reader`` task's, whose inner reads are enough (``read``).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        yielded = False
        while True:
            self._check()
            want_read = False
            if reading and self._starved():
                want_read = True
            else:
                try:
                    result = step(*args)
                except ssl.SSLWantReadError:
                    want_read = True
                except ssl.SSLError as exc:
                    self._fail(exc)
                    raise
            to_send = self._outgoing.read()
            if handshake and not want_read and self.server_side and self.version() == "TLSv1.3":
                self._delayed += to_send
                to_send = b""
            if to_send:
                yielded = True
                await self._send_raw(to_send)
            elif want_read:
                fed_with_yield = await self._feed()
                yielded = yielded or fed_with_yield or reader
            if not want_read:
                break
        if not yielded:
            await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    def _starved(self) -> bool:
        """Whether a read can only want more ciphertext: nothing received, kept or ended.

        OpenSSL keeps a partial record to itself, so an empty incoming BIO
        with nothing decrypted and unread means the peer must send first.
        """
        return not (
            self._incoming.pending
            or self._stash
            or self._ended
            or self._transport_eof
            or self._deferred is not None
            or self._ssl.pending()
        )

    async def _send_raw(self, data: bytes) -> None:
        try:
            async with self._send_lock:
                self._check()
                if self._delayed:
                    data = self._delayed + data
                    self._delayed = b""
                    self._held = False
                view = memoryview(data)
                while view:
                    view = view[await self._inner.send(view) :]
        except BaseException as exc:
            # Records OpenSSL counted as sent are lost: the stream is unusable.
            if self._broken is None and not self._closed:
                self._broken = exc
            raise

    async def _feed(self) -> bool:
        """One inner read into the incoming BIO; whether it surely was a schedule point.

        Uncontended, the lock is taken without trio's schedule point: the
        reader's inner read is enough of one (``read``), and a forced yield
        per message is a task switch per message.
        """
        count = self._recv_count
        lock = self._recv_lock
        contended = lock.locked()
        if contended:
            self._recv_waiters += 1
            try:
                await lock.acquire()
            finally:
                self._recv_waiters -= 1
        else:
            lock.acquire_nowait()
        try:
            if count != self._recv_count:
                return contended  # another task read meanwhile: retry with its bytes first
            if self._transport_eof:
                raise ssl.SSLEOFError(ssl.SSL_ERROR_EOF, "EOF occurred in violation of protocol")
            try:
                data = await self._inner.read(_RECEIVE_SIZE)
            except ReadInterrupted:
                if not self._fed_inline:
                    raise  # pause(): nothing was read
                self._fed_inline = False
                return contended  # try_read fed the BIO for us (rule 8)
            self._recv_count += 1
            if data:
                self._incoming.write(data)
            else:
                self._transport_eof = True
                self._incoming.write_eof()
        finally:
            lock.release()
        return contended

    def _fail(self, exc: BaseException) -> None:
        """Break the connection, and send OpenSSL's alert if the kernel takes it now."""
        if self._broken is None:
            self._broken = exc
        alert = self._outgoing.read()
        if alert and not self._closed:
            with contextlib.suppress(OSError, trio.ClosedResourceError):
                self._inner.try_send(self._delayed + alert)
            self._delayed = b""
            self._held = False


def _chunk(data: Buffer | Sequence[Buffer]) -> Buffer:
    """The first ``_SEND_CHUNK`` bytes of ``data``, one buffer or several."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        return view if len(view) <= _SEND_CHUNK else view[:_SEND_CHUNK]
    parts: list[memoryview] = []
    left = _SEND_CHUNK
    for item in data:
        view = memoryview(item).cast("B")[:left]
        parts.append(view)
        left -= len(view)
        if not left:
            break
    return b"".join(parts)
