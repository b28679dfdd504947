"""The reader of ``net.Socket``: its main task, and who runs its ``'data'`` listeners.

Theory of operation
===================

The main task (``SocketReader._run``) reads while the socket flows and
hands each chunk to the ``'data'`` listeners (or the ``onread`` callback);
at the end of the stream it emits ``'end'``; once the socket is destroyed it
emits ``'error'`` and ``'close'`` (``SocketCore._emit_close``). Between
chunks it waits on the readiness layer (``trionet._core._readiness``).

**Reading inline.** Waking the reader for every chunk costs a trio task
switch per message, which is most of what a small request/response costs
in Python. So a plain (not TLS) socket is the *read hook* of its fd's
readiness state: when its fd turns readable while its reader waits as a
follower in its flowing read, the task that is dispatching the layer's
events (the leader) calls ``read_ready``, which makes the ``recv`` and calls
the ``'data'`` listeners right there, as Node's event loop does. The reader
stays asleep. The rules:

1. Only the flowing read of the reader task, with no ``onread``, is read
   for; anything else (a ``receive_some``, another task) is woken as usual.
2. Listeners run in the reader task's ``contextvars`` context, so they
   see what the connection's code set. ``trio.lowlevel.current_task()``
   is the dispatching task; a listener should not rely on it.
3. A socket with an ``async`` ``'data'`` listener is not read for: the
   reader reads and awaits it as before (handing each chunk over would cost
   more than the task switch it saves). Otherwise a listener that raises,
   or returns an awaitable all the same, needs the reader:
   the rest is *handed* to it (``_hand``). Its read is interrupted
   (``ReadInterrupted``: nothing was read in it), and it raises the
   exception, or awaits the awaitable and calls the remaining listeners,
   as if it had emitted the chunk itself. Listeners after one that raised
   are not called, as in an emit by the reader.
4. ``pause()``, ``destroy()`` or a close during a listener end the
   reader's wait as they always do (``ReadInterrupted``, or ``ClosedResourceError``);
   the listeners of the chunk at hand still all run, as in Node's emit.
5. After a read that filled the buffer (more may be waiting) the layer
   wakes the reader to read on. The end of the stream is the reader's to
   handle: an event for it wakes the reader, and an inline read that
   finds it reads nothing and wakes the reader. A read error the inline
   ``recv`` took destroys the socket with it, as the reader would.
6. A TLS socket is read inline too: its transport's ``try_read`` feeds
   the ciphertext to OpenSSL and decrypts. What needs a task (OpenSSL has
   a reply to send, such as a key update's; the end of the stream; an
   error) wakes the reader, which finishes its read with the bytes
   already fed (``trionet._tls``, rule 8). After STARTTLS a socket is not
   read inline (``trionet._net_starttls``).

**Reading ahead** (SPEC rule 12). A socket nobody reads yet (no ``'data'``
listener, no ``onread``, never paused, resumed or pulled) is not idle in
Node: its stream reads into its buffer, so it sees the peer's FIN and
emits ``'end'``. Node's goodbye server, ``createServer((s) =>
s.end('goodbye\n'))``, closes each connection that way.

7. Such a socket's reader reads one chunk ahead, into the stash: the
   chunk waits there for a ``'data'`` listener or a pull, and no more is
   read until then (the peer feels backpressure). An end of the stream
   read ahead with nothing unread is the FIN seen: ``'end'``, and a socket
   whose side has ended closes. A read ahead is not read inline (it keeps
   what it reads), and a pull interrupts it (``ReadInterrupted``) and
   reads itself, so pulling costs the reader nothing from then on. A
   connection error met reading ahead destroys the socket as any other
   (``'error'`` listeners get it, ``'close'`` follows) but counts as
   reported: nobody asked for that read, so the error is raised by the
   next ``send_all`` or ``receive_some`` (``BrokenResourceError``, as trio
   has it), not out of the block while the user's code sends.
8. Only a flowing socket ends its own side on the FIN without
   ``allow_half_open``, as in Node. A socket read by pulling follows
   trio's ``HalfCloseableStream`` (SPEC rule 29), and one never read does
   not end its side by itself either: it has said nothing it could
   finish.

Inline reading takes a server's 64-byte ping-pong from 13.4 to 8.3 µs of
CPU time per round trip (``docs/benchmarks.md``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from trio.lowlevel import Task

from ._emitter import Entries, Once, unwrap
from ._net_core import OPEN, SocketCore
from ._net_transport import FdTransport, ReadInterrupted
from ._tls import TlsTransport

__all__ = ["SocketReader"]

# What the reader asks of one read: 64 KiB, as Node (libuv) and trio ask;
# after a read that filled what it asked (a backlog waits), 256 KiB, as
# asyncio's transports always ask, so a server behind a stream catches up
# in a quarter of the reads. Not 256 KiB for every read: glibc serves a
# request that size with a mapping of its own, and shrinking it to a small
# message's size would cost an mmap, an mremap and a munmap per message
# (docs/benchmarks.md#read-size).
_READ_SIZE = 65536
_BACKLOG_READ_SIZE = 262144


class SocketReader(SocketCore):
    """The main task of a ``net.Socket`` and its read hook (a mixin)."""

    __slots__ = ()

    async def _run(self) -> None:
        """The main task: read until destroyed, then emit the closing events.

        The read loop and its read are written inline: this coroutine stays
        suspended for a connection's whole life, and each frame more is idle
        memory.
        """
        self._reader = trio.lowlevel.current_task()
        self._read_size = _READ_SIZE
        transport = self._transport
        if isinstance(transport, (FdTransport, TlsTransport)):  # rule 6
            transport.hook_reads(self)
        try:
            await self._announced()  # a client's 'connect' (_net_core rule 6)
            while not self._destroyed:
                ahead = self._reads_ahead()
                if (
                    not (self._flowing or ahead)
                    or self._receiving
                    or (self._eof and self._stash is None)
                ):
                    await self._park()
                    continue
                stash = self._stash
                if stash is not None:
                    self._stash = None
                    await self._deliver(stash)
                    continue
                pending: bytes | memoryview | None = None
                while (self._flowing or ahead) and not self._destroyed:
                    transport = self._transport
                    assert transport is not None
                    self._in_read = True
                    data: bytes | memoryview
                    try:
                        onread = self._onread
                        if onread is None:
                            size = self._read_size
                            data = await transport.read(size)
                            self._read_size = _next_size(len(data), size)
                        else:
                            buffer = onread[0]() if callable(onread[0]) else onread[0]
                            view = memoryview(buffer).cast("B")
                            data = view[: await transport.receive_into(view)]
                    except ReadInterrupted:
                        break  # paused, or handed something (rule 3): nothing was read
                    except trio.ClosedResourceError:
                        if not self._destroyed:
                            raise
                        break  # destroyed: the outer loop ends too
                    except OSError as exc:
                        # Met reading ahead, it is the next call's to raise
                        # (rule 7), not the block's.
                        self._destroy(exc, reported=ahead and not self._flowing)
                        break
                    finally:
                        self._read_ended()
                    ahead = False  # one chunk ahead at most (rule 7)
                    if not self._flowing:
                        if not data and self._flowing is None and not self._pulled:
                            await self._got_eof(flowing=False)  # rule 7: seen, as Node sees it
                            break
                        pending = data  # paused, or read ahead: kept for later
                        break
                    await self._deliver(data)
                    if not data:
                        break
                    del data  # an idle connection must not keep its last chunk alive
                handed = self._handed
                if handed is not None:
                    self._handed = None
                    await self._finish_handed(handed)
                if pending is not None:
                    self._stash = bytes(pending)
        except BaseException as exc:
            if not self._ended_by_peer(exc):
                self._abandon()
                raise
        await self._emit_close()

    def read_ready(self, task: Task) -> bool:
        """The readiness layer's read hook: read and emit for the waiting reader.

        Called when the socket's fd turns readable while ``task`` waits on
        it as a follower. Returns ``False``, having done nothing, unless
        ``task`` is this socket's reader waiting in its flowing read (see
        the module docstring).
        """
        if (
            task is not self._reader
            or not self._in_read
            or not self._flowing  # a read ahead (rule 7) keeps what it reads
            or self._onread is not None
        ):
            return False
        events = self._events
        entries = events.get("data") if events is not None else None
        if entries and not self._all_plain(entries):
            return False
        transport = self._transport
        assert isinstance(transport, (FdTransport, TlsTransport))  # the ones with this hook
        try:
            size = self._read_size
            data = transport.try_read(size)
        except BlockingIOError:
            return True
        except OSError as exc:
            self._destroy(exc)
            return True
        if not data:
            return True  # the end: the reader, woken, reads it again
        self._read_size = _next_size(len(data), size)
        self._bytes_read += len(data)
        self._touch()
        decoder = self._decoder
        chunk: bytes | str = decoder.decode(data) if decoder is not None else data
        if entries and chunk:
            self._emit_inline(task, entries, chunk)
        return True

    def _all_plain(self, entries: Entries) -> bool:
        """Whether no ``'data'`` listener is an ``async`` function (rule 3).

        The listener tuple last found plain is kept (tuples are replaced,
        never changed); a socket with an async listener checks on each chunk,
        which costs little beside the task switch it then makes anyway.
        """
        if entries is self._plain_listeners:
            return True
        if any(inspect.iscoroutinefunction(unwrap(entry)) for entry in entries):
            return False
        self._plain_listeners = entries
        return True

    def _emit_inline(self, task: Task, entries: Entries, chunk: bytes | str) -> None:
        """Call the ``'data'`` listeners in ``task``'s context until one needs the task."""
        run = task.context.run
        for index, entry in enumerate(entries):
            listener = entry if type(entry) is not Once else self._take("data", entry)
            try:
                result = run(listener, chunk)
            except BaseException as exc:
                self._hand(exc)
                return
            if result is not None and inspect.isawaitable(result):
                self._hand((result, entries[index + 1 :], chunk))
                return

    def _hand(self, handed: BaseException | tuple[Awaitable[object], Any, Any]) -> None:
        """Give the reader what only it can do: raise a listener's exception, or await."""
        self._handed = handed
        transport = self._transport
        assert transport is not None
        transport.interrupt_read()  # the reader waits (rule 1); its listeners have run

    async def _finish_handed(
        self, handed: BaseException | tuple[Awaitable[object], Any, Any]
    ) -> None:
        if isinstance(handed, BaseException):
            raise handed
        result, rest, chunk = handed
        await result
        await self._emit_rest("data", rest, (chunk,))

    async def _park(self) -> None:
        wake = self._wake = trio.Event()
        await wake.wait()

    def _read_ended(self) -> None:
        """A flowing read returned: wake a ``receive_some`` waiting for it to unwind."""
        self._in_read = False
        left = self._read_left
        if left is not None:
            self._read_left = None
            left.set()

    async def _deliver(self, data: bytes | memoryview) -> None:
        """Hand one chunk (empty: the end) to the listeners.

        With ``onread`` the chunk is a view of the user's buffer, except a
        chunk kept while paused, which is copied into the buffer first.
        Nothing once the socket is destroyed (rule 30): the writer may have
        failed while this chunk was being read.
        """
        if self._destroyed:
            return
        if not data:
            await self._got_eof(flowing=True)
            return
        self._bytes_read += len(data)
        self._touch()
        onread = self._onread
        if onread is not None:
            if isinstance(data, memoryview):
                buffer = data.obj
            else:
                buffer = onread[0]() if callable(onread[0]) else onread[0]
                memoryview(buffer).cast("B")[: len(data)] = data
            if await _returns_false(onread[1], len(data), buffer):
                self._pause_reading()
            return
        decoder = self._decoder
        chunk: bytes | memoryview | str = decoder.decode(data) if decoder is not None else data
        if chunk:
            await self._emit("data", (chunk,))

    def _reads_ahead(self) -> bool:
        """Whether the reader reads one chunk ahead for a socket nobody reads yet (rule 7)."""
        return (
            self._flowing is None
            and not self._pulled
            and self._stash is None
            and not self._eof
            and self._status == OPEN
        )

    async def _got_eof(self, *, flowing: bool) -> None:
        """The peer's FIN is read: ``'end'``; a flowing socket may end its side (rule 8)."""
        if not self._saw_eof():
            return
        decoder = self._decoder
        if decoder is not None:
            rest = decoder.decode(b"", True)
            if rest:
                await self._emit("data", (rest,))
        await self._emit("end", ())
        if flowing and not self._allow_half_open:
            self._end()
        self._close_if_done()


def _next_size(got: int, asked: int) -> int:
    """What the read after one that got ``got`` of ``asked`` bytes asks (see ``_READ_SIZE``)."""
    return _BACKLOG_READ_SIZE if got == asked else _READ_SIZE


async def _returns_false(callback: Callable[..., Any], *args: Any) -> bool:
    result = callback(*args)
    if result is not None and inspect.isawaitable(result):
        result = await result
    return result is False
