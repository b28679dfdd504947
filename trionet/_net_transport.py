"""The byte transport under a ``net.Socket``: how its bytes reach the kernel.

A ``Socket`` holds its state machine (events, queue, half-close) and asks
its transport only to move bytes. ``FdTransport`` moves them with the
fd level's attempts (``trionet._core._attempts``) run by its driver
(``trionet._core._drive_trio``), with no ``trio.SocketStream`` in between. TLS is
``trionet._tls.TlsTransport``, which offers the same methods over an
``FdTransport`` (an ``ssl.SSLObject`` between memory BIOs; see
``trionet._net_tls`` for how a socket gets one).

``try_send`` is what lets ``write()`` hand data to the kernel at once, as
Node does: it makes the system call only when the readiness layer's bit
says it may succeed, and keeps that bit exactly as the driver would (see
``trionet._core._readiness``). TLS encrypts there and may keep ciphertext the
kernel did not take (``held``), which the writer task ``flush``es; when it
cannot encrypt without waiting it raises ``BlockingIOError``, and the
writer task sends instead.

The receive and send methods return the driver's coroutine instead of
being ``async`` themselves: one frame fewer on every waiting reader.
"""

from __future__ import annotations

import errno
import select
import socket as _stdsocket
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

import trio

from ._core._attempts import recv as _recv
from ._core._attempts import recv_into as _recv_into
from ._core._attempts import send as _send
from ._core._drive_trio import perform, perform_tracked
from ._core._fdtable import close as _close_fd
from ._core._fdtable import entry as _entry
from ._core._prepare import Call
from ._core._readiness import READ, WRITE, ReadHook, current_layer
from ._types import Buffer

__all__ = ["FdTransport", "ReadInterrupted", "Transport"]


class ReadInterrupted(Exception):
    """Raised in a read that ``interrupt_read`` ended; nothing was read."""


class Transport(Protocol):
    """What a ``Socket`` needs from the thing that moves its bytes."""

    fd: int

    def try_send(self, data: Buffer) -> int:
        """Send without waiting; ``BlockingIOError`` when nothing can go now."""

    @property
    def held(self) -> bool:
        """Whether bytes ``try_send`` took still wait for ``flush``."""

    async def flush(self) -> None:
        """Send what ``try_send`` left ``held``."""

    def send(self, data: Buffer | Sequence[Buffer]) -> Coroutine[Any, Any, int]:
        """Send some of ``data``, waiting until at least one byte can go."""

    def receive(self, max_bytes: int) -> Coroutine[Any, Any, bytes]:
        """Receive up to ``max_bytes``; ``b""`` at the end of the stream."""

    def read(self, max_bytes: int) -> Coroutine[Any, Any, bytes]:
        """``receive`` for the reader task, which always asks the same size."""

    def receive_into(self, view: memoryview) -> Coroutine[Any, Any, int]:
        """Receive into ``view``; ``0`` at the end of the stream."""

    def interrupt_read(self) -> None:
        """End a read that waits for the peer with ``ReadInterrupted`` (none waits: nothing)."""

    def is_readable(self) -> bool:
        """Whether a receive would not wait: data, or the end of the stream, is pending."""

    async def wait_writable(self) -> None:
        """Return once a send may not block."""

    async def send_eof(self) -> None:
        """Half-close: nothing more will be sent."""

    def close(self) -> None:
        """Close now, waking every task waiting on the transport."""


class FdTransport:
    """A transport straight over a connected stream fd of the fd level."""

    __slots__ = ("_entry", "_read", "_state", "fd")

    def __init__(self, fd: int) -> None:
        self._entry = _entry(fd)
        self.fd = fd
        self._state = current_layer().state(fd)
        self._read: Call[bytes] | None = None  # the receiving call, made once, reused

    def read(self, max_bytes: int) -> Coroutine[Any, Any, bytes]:
        """``receive`` for the reader, keeping the ready bits; the ``Call`` is kept.

        The reader asks the same size every time, and so does a puller
        (``receive_some``, ``net.Stream``), which only reads once the
        reader has stopped: one ``Call`` per connection, not per message.
        """
        call = self._read
        if call is None or call.args[1] != max_bytes:
            call = self._read = Call(self._entry, READ, None, "read", _recv, self._entry, max_bytes)
        return perform_tracked(call, self._state, max_bytes)

    def hook_reads(self, reader: ReadHook | None) -> None:
        """Let the readiness layer call ``reader.read_ready(task)`` when the fd turns readable.

        See ``trionet._net_read`` (reading inline); ``reader`` reads with
        ``try_read``. ``None`` removes the hook (STARTTLS: TLS is not read inline).
        """
        self._state.hook = reader

    def try_read(self, max_bytes: int) -> bytes:
        """Receive without waiting, keeping the ready bit as the driver would.

        Raises:
            BlockingIOError: nothing to read now.
        """
        state = self._state
        try:
            data = _recv(self._entry, max_bytes)
        except BlockingIOError:
            state.blocked(READ)
            raise
        if data:
            state.moved(READ, len(data) < max_bytes)
        else:
            state.sticky[READ] = True  # the end stays readable (rule 5 of _readiness)
            state.ready[READ] = True
        return data

    def interrupt_read(self) -> None:
        current_layer().interrupt(self.fd, READ, ReadInterrupted())

    def is_readable(self) -> bool:
        return _ready_now(self.fd, select.POLLIN)

    def try_send(self, data: Buffer) -> int:
        state = self._state
        if not state.ready[WRITE]:
            raise BlockingIOError("the kernel's send buffer is full")
        try:
            sent = _send(self._entry, data)
        except BlockingIOError:
            state.blocked(WRITE)
            raise
        state.moved(WRITE, 0 < sent < len(data))
        return sent

    held = False  # the kernel took each try_send's bytes, or none of them

    async def flush(self) -> None:
        await trio.lowlevel.checkpoint()

    def send(self, data: Buffer | Sequence[Buffer]) -> Coroutine[Any, Any, int]:
        entry = self._entry
        size = len(data) if type(data) is bytes else _nbytes(data)
        return perform_tracked(
            Call(entry, WRITE, None, "write", _send, entry, data), self._state, size
        )

    def receive(self, max_bytes: int) -> Coroutine[Any, Any, bytes]:
        """``read`` for a puller, system call first: its data is usually there already.

        The ready bit is left as it was, as the fd level leaves it: no
        system call leaves it falsely clear (only a wait takes an edge, and
        the driver sets the bit after one), so a stale bit costs the next
        tracked call one ``EAGAIN`` at most. Tracked, a pulled ping-pong
        cost 1.0-1.4 us more server CPU per round trip (docs/benchmarks.md).
        """
        call = self._read
        if call is None or call.args[1] != max_bytes:
            call = self._read = Call(self._entry, READ, None, "read", _recv, self._entry, max_bytes)
        return perform(call)

    def receive_into(self, view: memoryview) -> Coroutine[Any, Any, int]:
        entry = self._entry
        call = Call(entry, READ, None, "read", _recv_into, entry, view)
        return perform_tracked(call, self._state, len(view))

    async def wait_writable(self) -> None:
        state = self._state
        # The bit only says "may be ready": ask the kernel, so that a full
        # buffer is waited for (trio's wait_send_all_might_not_block contract).
        if state.ready[WRITE] and _ready_now(self.fd, select.POLLOUT):
            await trio.lowlevel.checkpoint()
            return
        state.blocked(WRITE)
        await trio.lowlevel.checkpoint_if_cancelled()
        # The layer returns at once, with no checkpoint, when an edge already waits.
        await current_layer().wait(self.fd, WRITE, self._entry)
        state.ready[WRITE] = True
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_eof(self) -> None:
        try:
            self._entry.sock.shutdown(_stdsocket.SHUT_WR)
        except OSError as exc:
            if self._entry.sock.fileno() < 0:
                raise trio.ClosedResourceError("the socket is closed") from exc
            # ENOTCONN: the peer reset the connection already; a FIN is moot
            # (Node ignores it too), and the reset is reported by the reader.
            if exc.errno != errno.ENOTCONN:
                raise

    def close(self) -> None:
        _close_fd(self.fd)


def _ready_now(fd: int, events: int) -> bool:
    """Whether ``fd`` is ready for ``events`` now (an end of stream or an error counts)."""
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(0))


def _nbytes(data: Buffer | Sequence[Buffer]) -> int:
    """How many bytes a send asks to move; ``len`` counts items, not bytes, of a typed view."""
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, memoryview):
        return data.nbytes
    return sum(memoryview(chunk).nbytes for chunk in data)
