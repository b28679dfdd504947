"""Node's stream methods of ``net.Socket``: writing, and the reading modes.

``write()`` never blocks. When nothing is queued and the socket is open,
it offers the bytes to the kernel at once (the transport's ``try_send``,
as Node's ``writeGeneric`` does) and queues only what the kernel did not
take; the writer task of ``trionet._net_core`` sends the queue. A
chunk with a callback always goes through the queue, because its callback
runs in the writer task. ``end()`` and ``drain()`` are built on the same
queue.

Reading is push (the socket *flows*, and the reader task emits
``'data'``) or pull (``receive_some``, in ``trionet._net_stream``). A
socket starts neither: the first ``'data'`` listener, an ``onread``
handler or ``resume()`` makes it flow (SPEC 8.12); ``pause()`` stops
reading from the kernel. Meanwhile its reader reads one chunk ahead, to see
the peer's FIN as Node does (``trionet._net_read`` rule 7).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import trio

from ._core._checks import check_bool
from ._net_core import CLOSED_MESSAGE, OPEN, WriteCallback
from ._net_dial import check_callable
from ._net_errors import WriteAfterEndError
from ._net_stream import StreamMethods

if TYPE_CHECKING:
    from typing_extensions import Self

    from ._types import Buffer, OnRead

__all__ = ["SocketFlow"]

_Dest = TypeVar("_Dest", bound="SocketFlow")


def _payload(data: object, encoding: object) -> Buffer:
    if isinstance(data, str):
        if not isinstance(encoding, str):
            raise TypeError(f"encoding must be a str, not {type(encoding).__name__}")
        return data.encode(encoding)
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, memoryview):
        return data.cast("B") if data.format != "B" or data.ndim != 1 else data
    raise TypeError(f"data must be bytes-like or str, not {type(data).__name__}")


class SocketFlow(StreamMethods):
    """``write``, ``end``, ``drain`` and the reading modes of a ``net.Socket`` (a mixin)."""

    __slots__ = ()

    # -- writing ------------------------------------------------------------

    def write(
        self,
        data: bytes | bytearray | memoryview | str,
        encoding: str = "utf-8",
        callback: WriteCallback | None = None,
    ) -> bool:
        """Send ``data`` without blocking; ``False`` once ``buffer_size >= high_water_mark``.

        What the kernel takes at once goes at once; the rest is queued for
        the writer task, and ``'drain'`` follows a ``False`` once the queue
        is empty. ``callback(err)`` runs (in the writer task) when this
        chunk reached the kernel, with ``None``, or failed. Before the
        connection is made, everything is queued.

        Node equivalent: ``socket.write(data[, encoding][, callback])``.

        Once the connection failed (a reset, a broken pipe: not one's own
        ``destroy()``) it returns ``False`` and ``callback`` gets the error,
        as in Node; ``'error'`` and ``'close'`` follow as usual (rule 30).
        So does the write that takes ``buffer_size`` past the socket's
        ``max_buffer_size``: it destroys the socket with a
        ``net.BufferLimitError``. A callback is never called inside
        ``write()``: after ``'close'`` a task of the socket's nursery, or
        of its server's, calls it (Node's next tick), plain or async.

        Raises:
            WriteAfterEndError: after ``end()``.
            trio.ClosedResourceError: after ``destroy()``, or with a
                ``callback`` after ``'close'`` once the socket's nursery
                (and its server's) has exited.
            TypeError: ``data`` is not bytes-like or ``str``.
        """
        check_callable("callback", callback)
        payload = _payload(data, encoding)
        if self._failed(callback):
            return False
        size = len(payload)
        self._bytes_written += size
        if callback is None and self._queue is None and self._status == OPEN:
            if not size:
                return True
            transport = self._transport
            assert transport is not None
            try:
                sent = transport.try_send(payload)
            except OSError:
                sent = 0  # would block, or failed: the writer retries and reports
            else:
                self._touch()
                if sent == size:
                    if transport.held:
                        self._start_writer()  # TLS kept records the kernel refused
                    return self._below_mark()
            payload = memoryview(payload)[sent:]
        self._enqueue(payload, callback)
        # Past max_buffer_size the socket is gone: its callback gets the error.
        return not self._destroyed and self._below_mark()

    def _below_mark(self) -> bool:
        """``write()``'s answer; a ``False`` promises a ``'drain'`` (Node's ``needDrain``)."""
        if self._buffer_size < self._high_water_mark:
            return True
        self._promise_drain()
        # Nothing may be queued (high_water_mark=0): the writer still emits it.
        self._start_writer()
        return False

    def _failed(self, callback: WriteCallback | None) -> bool:
        """Whether the connection failed, so a write goes nowhere (its callback gets the error).

        Raises:
            WriteAfterEndError: after ``end()``.
            trio.ClosedResourceError: after the user's own ``destroy()``.
        """
        if self._ended:
            raise WriteAfterEndError("write after end(): the socket is no longer writable")
        if not self._destroyed:
            return False
        error = self._error
        if error is None or self._user_closed:
            raise trio.ClosedResourceError(CLOSED_MESSAGE)
        if callback is not None:
            if self._closed:
                # The queued callbacks were failed already: nobody else will call it.
                self._late_callback(callback, error)
            else:
                # The main task fails every queued callback before 'error'.
                self._enqueue_callback(callback)
        return True

    def end(
        self,
        data: bytes | bytearray | memoryview | str | None = None,
        encoding: str = "utf-8",
        callback: Callable[[], object] | None = None,
    ) -> Self:
        """Queue ``data``, then send FIN once the queue is flushed (``'finish'``).

        ``callback`` becomes a ``'finish'`` listener. Twice, or after the
        socket closed, it does nothing.

        Node equivalent: ``socket.end([data[, encoding]][, callback])``.
        """
        check_callable("callback", callback)
        if self._ended or self._destroyed:
            return self
        if data is not None:
            self.write(data, encoding)
        if callback is not None:
            self.once("finish", callback)
        self._end()
        return self

    async def drain(self) -> None:
        """Wait until every queued byte has been handed to the kernel.

        Raises:
            trio.ClosedResourceError: the socket was destroyed with bytes still queued.
        """
        await trio.lowlevel.checkpoint()
        await self._wait_idle()
        if self._destroyed and self._buffer_size:
            raise trio.ClosedResourceError("the socket was destroyed before the queue drained")

    # -- reading ------------------------------------------------------------

    def _added(self, event: str) -> None:
        if event == "data":
            self._flow_by_default()

    def _set_onread(self, onread: OnRead) -> None:
        self._onread = (onread["buffer"], onread["callback"])
        self._flow_by_default()

    def pause(self) -> Self:
        """Stop reading from the kernel (the peer feels TCP backpressure).

        A read already waiting is abandoned; a chunk it had already taken is
        kept and delivered first on ``resume()`` (or to ``receive_some``).

        Node equivalent: ``socket.pause()``.
        """
        self._pause_reading()
        transport = self._transport
        if self._in_read and transport is not None:
            transport.interrupt_read()
        return self

    def resume(self) -> Self:
        """Read again (and flow even without a ``'data'`` listener, as Node).

        Node equivalent: ``socket.resume()``.
        """
        if not self._destroyed:
            self._resume_reading()
        return self

    def is_paused(self) -> bool:
        """Whether ``pause()`` was called more recently than ``resume()``.

        Node equivalent: ``readable.isPaused()``.
        """
        return self._flowing is False

    def pipe(self, destination: _Dest, *, end: bool = True) -> _Dest:
        """Write everything this socket receives to ``destination``; return ``destination``.

        The ``'data'`` listener this adds makes the socket flow. Backpressure
        as in Node: when ``destination.write()`` returns ``False`` this socket
        pauses, and resumes on the destination's ``'drain'``. With ``end``,
        this socket's ``'end'`` ends ``destination``. Once the destination
        has ended or closed nothing more is written to it, and its
        ``'close'`` takes the pipe apart (as Node's ``unpipe``). For a trio
        stream, copy with ``receive_some`` / ``send_all`` instead.

        Node equivalent: ``readable.pipe(destination[, options])``; Node's
        echo server is ``c.pipe(c)``.

        Raises:
            TypeError: ``destination`` is not a ``net.Socket``.
        """
        if not isinstance(destination, SocketFlow):
            raise TypeError(f"destination must be a net.Socket, not {type(destination).__name__}")
        check_bool("end", end)
        waiting = False

        def on_drain() -> None:
            nonlocal waiting
            waiting = False
            self.resume()

        def on_data(chunk: bytes | str) -> None:
            nonlocal waiting
            if destination._ended or destination._destroyed:
                return  # nothing may be written to it any more
            if not destination.write(chunk) and not waiting:
                waiting = True
                self.pause()
                destination.once("drain", on_drain)

        def on_end() -> None:
            destination.end()

        def unpipe(_had_error: bool) -> None:
            self.off("data", on_data)
            self.off("end", on_end)
            if waiting:
                on_drain()

        self.on("data", on_data)
        if end:
            self.once("end", on_end)
        destination.once("close", unpipe)
        return destination

    def set_encoding(self, encoding: str | None = "utf-8") -> Self:
        """Emit ``'data'`` chunks as ``str``, decoded incrementally; ``None`` for bytes.

        Invalid input becomes U+FFFD, as Node's decoder does.

        Node equivalent: ``socket.setEncoding([encoding])``.

        Raises:
            ValueError: an unknown encoding.
        """
        if encoding is None:
            self._decoder = None
            return self
        if not isinstance(encoding, str):
            raise TypeError(f"encoding must be a str or None, not {type(encoding).__name__}")
        try:
            factory = codecs.getincrementaldecoder(encoding)
        except LookupError:
            raise ValueError(f"encoding {encoding!r} is not known") from None
        self._decoder = factory("replace")
        return self
