"""TLS for the blocking ``Tcp``: an ``ssl.SSLObject`` between memory BIOs, driven in-thread.

The async ``trionet._tls.TlsTransport`` drives OpenSSL from trio tasks;
this class drives the same kind of ``SSLObject`` with the blocking calls of
``._drive_sync``: call the step, send what OpenSSL wrote, or (when it wants to
read) receive once into its incoming BIO, and try again. Contexts,
certificate checks and names come from the same ``trionet._net_tls``
settings as ``net`` and the async ``Tcp``. One thread at a time may send
and one receive (as on the plain ``Tcp``, no lock is taken: a step that
needs the other direction does it itself); a close from another thread
wakes both with ``trio.ClosedResourceError``.

Failures break the connection for good (later calls raise
``ssl.SSLError`` chained to the first): an ``ssl.SSLError``, or a send that
timed out with records half sent. A receive that times out while waiting
for the peer is harmless. A TCP end of stream without ``close_notify``
reads as ``b""``, as the stdlib's ``suppress_ragged_eofs`` does.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar, final

import trio

from trionet._core import _prepare
from trionet._core._fdtable import Entry, entry
from trionet._core._timeout import Timeout
from trionet._net_tls import TlsSetup
from trionet._types import Buffer

from ._drive_sync import Deadline, block

__all__ = ["SyncTls"]

T = TypeVar("T")

_RECEIVE_SIZE = 65536  # ciphertext asked per read
_SEND_CHUNK = 131072  # plaintext encrypted per send


@final
class SyncTls:
    """One TLS connection over a connected fd, for blocking calls."""

    __slots__ = ("_broken", "_entry", "_incoming", "_outgoing", "_ssl")

    def __init__(self, fd: int, setup: TlsSetup) -> None:
        self._entry: Entry = entry(fd)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = setup.context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=setup.server_side,
            server_hostname=setup.server_hostname,
        )
        self._broken: BaseException | None = None

    @property
    def ssl_object(self) -> ssl.SSLObject:
        """The stdlib object doing the TLS."""
        return self._ssl

    def handshake(self, deadline: Deadline) -> None:
        """Complete the handshake within ``deadline``."""
        self._drive(self._ssl.do_handshake, deadline)

    def send(self, data: Buffer, deadline: Deadline) -> int:
        """Encrypt and send up to 128 KiB of ``data``; return how many bytes that was."""
        chunk = memoryview(data).cast("B")[:_SEND_CHUNK]
        if chunk:
            self._drive(self._ssl.write, deadline, chunk)
        return len(chunk)

    def recv(self, max_bytes: int, deadline: Deadline) -> bytes:
        """Up to ``max_bytes`` of plaintext; ``b""`` once the peer has ended."""
        return self._drive(self._read, deadline, max_bytes) if max_bytes else b""

    def recv_into(self, view: memoryview, deadline: Deadline) -> int:
        """Plaintext into ``view``; ``0`` once the peer has ended."""
        return self._drive(self._read_into, deadline, view) if view else 0

    def _read(self, max_bytes: int) -> bytes:
        try:
            return self._ssl.read(max_bytes)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # close_notify, or a TCP end without it (ragged)

    def _read_into(self, view: memoryview) -> int:
        try:
            return int(self._ssl.read(len(view), view))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return 0

    def _drive(self, step: Callable[..., T], deadline: Deadline, *args: Any) -> T:
        """Call ``step`` until OpenSSL stops wanting to read, moving ciphertext."""
        broken = self._broken
        if broken is not None:
            raise ssl.SSLError(f"the TLS connection failed earlier: {broken!r}") from broken
        while True:
            try:
                result = step(*args)
            except ssl.SSLWantReadError:
                want_read = True
            except ssl.SSLError as exc:
                self._fail(exc)
                raise
            else:
                want_read = False
            ciphertext = self._outgoing.read()
            if ciphertext:
                self._send_raw(ciphertext, deadline)
            elif want_read:
                self._feed(deadline)
            if not want_read:
                return result

    def _send_raw(self, data: bytes, deadline: Deadline) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[block(_prepare.send_checked(self._entry, view), deadline) :]
        except BaseException as exc:
            self._broken = exc  # OpenSSL counted those records as sent: the stream is lost
            raise

    def _feed(self, deadline: Deadline) -> None:
        data = block(_prepare.recv(self._entry.fd, _RECEIVE_SIZE, None), deadline)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    def _fail(self, exc: BaseException) -> None:
        """Break the connection; send OpenSSL's alert if the kernel takes it now."""
        self._broken = exc
        alert = self._outgoing.read()
        if alert:
            with contextlib.suppress(OSError, Timeout, trio.ClosedResourceError):
                block(_prepare.send_checked(self._entry, alert), Deadline(0))
