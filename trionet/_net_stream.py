"""The ``trio.abc.HalfCloseableStream`` methods of ``net.Socket``.

They let any trio protocol library run over a ``Socket``. They follow
trio's contract, not Node's: ``send_all`` waits until the kernel took
everything, errors of the connection come out as
``trio.BrokenResourceError``, use after ``aclose()`` as
``trio.ClosedResourceError``, and two tasks sending (or receiving) at once
as ``trio.BusyResourceError``. Pulling with ``receive_some`` is the other
reading mode: it is refused while the socket flows (emits ``'data'``).

Checkpoints follow the fd level's rule, as ``Tcp`` and ``net.Stream`` do,
not trio's: every call is a cancel point; one that succeeds without
waiting yields once per the run's budget of operations rather than every
time (two forced yields per message made a pulling echo server cost twice
what ``Tcp`` costs; ``docs/design/net.md``).
"""

from __future__ import annotations

import trio

from ._net_core import CLOSED_MESSAGE, OPEN
from ._net_errors import WriteAfterEndError
from ._net_read import SocketReader

__all__ = ["StreamMethods", "check_max_bytes"]

_DEFAULT_RECEIVE = 65536


class StreamMethods(SocketReader, trio.abc.HalfCloseableStream):
    """trio's stream interface over the socket core."""

    __slots__ = ()

    def _broken(self) -> trio.BrokenResourceError:
        """The error to raise to a caller for the connection's failure.

        Raising it reports the failure (``_net_core`` rule 4), also when
        another task met it first (the reader, reading ahead): the block
        does not raise it a second time.
        """
        self._mark_reported()
        error = trio.BrokenResourceError(f"the connection failed: {self._error!r}")
        error.__cause__ = self._error
        return error

    def _stream_error(self, exc: Exception) -> BaseException:
        """What a stream method raises for ``exc``, in trio's vocabulary.

        Our own close stays ``ClosedResourceError``; a close that the
        connection's failure caused, or the failure itself, is the peer's
        doing: ``BrokenResourceError`` (caused by the connection error).
        """
        if isinstance(exc, trio.ClosedResourceError):
            if self._error is not None and not self._user_closed:
                return self._broken()
            return exc
        self._destroy(exc, reported=True)
        broken = self._broken()
        broken.__cause__ = exc
        return broken

    async def _check_send(self) -> None:
        """Raise (after a checkpoint) unless sending is possible."""
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this socket")
        if self._ended or self._destroyed:
            await trio.lowlevel.checkpoint()
            if self._ended:
                raise WriteAfterEndError("the socket's writable side is finished")
            if self._error is not None and not self._user_closed:
                raise self._broken()
            raise trio.ClosedResourceError(CLOSED_MESSAGE)
        if self._status != OPEN:
            raise RuntimeError("the socket is not connected")

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send all of ``data``, after anything ``write()`` queued.

        Raises:
            trio.BrokenResourceError: the connection failed (the ``OSError`` is its cause).
            trio.ClosedResourceError: the socket was closed or ended.
            trio.BusyResourceError: another task is sending.
        """
        # The checks and the wait for the queue are coroutines: awaited only
        # when they have something to do, as each costs a frame per message.
        if self._sending or self._ended or self._destroyed or self._status != OPEN:
            await self._check_send()
        self._sending = True
        try:
            if self._writer_running or self._queue:
                await self._wait_idle()
            transport = self._transport
            assert transport is not None
            # bytes go as they are: a view is made only if the kernel takes part.
            view: bytes | memoryview = data if type(data) is bytes else memoryview(data).cast("B")
            if not view:
                await trio.lowlevel.checkpoint()
            while view:
                sent = await transport.send(view)
                self._bytes_written += sent
                self._touch()
                if sent == len(view):
                    break
                view = memoryview(view)[sent:]
        except (trio.ClosedResourceError, OSError) as exc:
            raise self._stream_error(exc)  # noqa: B904 - the cause is set there
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        """Return when ``send_all`` may not block (the queue is empty, the kernel has room).

        Raises:
            trio.ClosedResourceError: the socket was closed.
            trio.BusyResourceError: another task is sending.
        """
        await self._check_send()
        self._sending = True
        try:
            if self._queue or self._writer_running:
                await self._wait_idle()
            else:
                transport = self._transport
                assert transport is not None
                await transport.wait_writable()
        finally:
            self._sending = False
        if self._destroyed:  # closed while the queue was draining
            await self._check_send()

    async def send_eof(self) -> None:
        """Flush the queue and send FIN; receiving goes on. Twice is a no-op.

        Node equivalent: ``socket.end()``, awaited.

        Raises:
            trio.ClosedResourceError: the socket was closed.
            trio.BusyResourceError: another task is sending.
        """
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this socket")
        if self._ended:
            await trio.lowlevel.checkpoint()
            return
        await self._check_send()
        self._sending = True
        try:
            self._end()
            await self._wait_idle()
        finally:
            self._sending = False
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """Pull the next chunk (at most ``max_bytes``); ``b""`` after the peer's FIN.

        Receiving the FIN emits ``'end'``, and our side stays open whatever
        ``allow_half_open`` says, as trio's ``HalfCloseableStream``
        promises (SPEC rule 29): ``send_all`` and ``send_eof`` still work.

        Raises:
            trio.BusyResourceError: the socket flows (has a ``'data'``
                listener, ``onread`` or was resumed), or another task receives.
            trio.BrokenResourceError: the connection failed.
            trio.ClosedResourceError: the socket was closed.
        """
        size = check_max_bytes(max_bytes)
        if self._flowing or self._receiving:
            what = "the socket flows ('data' events)" if self._flowing else "another task"
            raise trio.BusyResourceError(f"cannot receive: {what} is reading this socket")
        stash = self._stash
        if stash is not None:
            await trio.lowlevel.checkpoint()
            return await self._take_stash(stash, size)
        if self._eof or self._destroyed:
            await trio.lowlevel.checkpoint()
            if self._user_closed or (self._destroyed and not self._eof and self._error is None):
                raise trio.ClosedResourceError(CLOSED_MESSAGE)
            if self._error is not None:
                raise self._broken()
            return b""
        if self._status != OPEN:
            raise RuntimeError("the socket is not connected")
        self._receiving = True
        if not self._pulled:
            self._start_pulling()
        try:
            if self._in_read:
                await self._reader_out()
                stash = self._stash
                if stash is not None:
                    return await self._take_stash(stash, size)
                if self._eof:  # what the reader read ahead was the end
                    return b""
            transport = self._transport
            assert transport is not None
            data = await transport.receive(size)
        except (trio.ClosedResourceError, OSError) as exc:
            raise self._stream_error(exc)  # noqa: B904 - the cause is set there
        finally:
            self._receiving = False
            # Only a flowing reader waits for a pull to end; waking one that
            # is not flowing would cost a task switch per message for nothing.
            if self._flowing:
                self._kick()
        if not data:
            await self._got_eof(flowing=False)
            return b""
        self._bytes_read += len(data)
        self._touch()
        return data

    async def _reader_out(self) -> None:
        """Wait until the reader's read has unwound; interrupt it if it reads ahead.

        A read ahead (``_net_read`` rule 7) is interrupted: from the first
        pull on, the puller reads. A flowing read that ``pause()`` abandoned
        is unwinding already.
        """
        transport = self._transport
        if self._flowing is None and transport is not None:
            transport.interrupt_read()
        while self._in_read:
            left = self._read_left = self._read_left or trio.Event()
            await left.wait()

    async def _take_stash(self, stash: bytes, size: int) -> bytes:
        if not stash:
            self._stash = None
            await self._got_eof(flowing=False)
            return b""
        self._stash = stash[size:] or None
        chunk = stash[:size]
        self._bytes_read += len(chunk)
        return chunk


def check_max_bytes(max_bytes: object) -> int:
    if max_bytes is None:
        return _DEFAULT_RECEIVE
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"max_bytes must be an int or None, not {type(max_bytes).__name__}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    return max_bytes
