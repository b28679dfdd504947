"""The engine of ``net.Socket``: its tasks, its write queue and its end of life.

Theory of operation
===================

A socket lives in a nursery of its own. Its *main task* runs
``SocketReader._run`` (``trionet._net_read``), the reader: it reads while the socket flows, emits
``'data'`` and ``'end'``, and when the socket is destroyed it emits
``'error'`` and ``'close'``, last and once. For a client that task is a
child of the nursery opened by ``async with``; for a server connection it is
the connection's own task, which first emitted ``'connection'``. An idle
connection is that one task.

The *writer task* is started only when bytes must wait: ``write()`` hands
data to the kernel at once when nothing is queued (as Node does), and queues
only the remainder. The writer sends the queue (gathering small chunks into
one ``sendmsg``), runs write callbacks, emits ``'drain'``, sends the FIN
after ``end()`` and then ends. A write that takes the queue past
``max_buffer_size`` destroys the socket with a ``BufferLimitError``
instead (rule 3). A *timer task* exists only while
``set_timeout`` is on.

State is a handful of flags (``STATE``), written only in this module and
only by plain methods (no I/O), so the rules are in one place; the other
modules of ``net.Socket`` call those methods (``tests/test_net_state.py``
checks that no other module assigns them). ``_sending`` and ``_receiving``
are not state but trio's busy guards: each stream method sets and clears
its own in one ``try``/``finally``, on the hot path.

1. ``_eof``: the peer's FIN was read; ``_ended``: ``end()`` was called;
   ``_finished``: our FIN went out after the queue was flushed.
2. ``_eof and _finished`` destroys the socket (Node's "both sides done").
   Without ``allow_half_open``, ``_eof`` on a flowing socket calls
   ``end()``; a pulled (or unread) socket never does (SPEC rule 29).
3. ``_destroy(error)`` is the only way down: it closes the transport, which
   wakes every task waiting on it with ``trio.ClosedResourceError``, and
   kicks a parked reader. The main task then emits the events.
4. An error is *reported* when it was raised to a caller (``send_all``,
   ``receive_some``, ``connect``); it is still given to ``'error'``
   listeners, but never raised a second time. An unreported error without a
   listener is logged on a server's socket and raised out of a client's
   ``async with`` block.
5. Exceptions from listeners and callbacks are not caught: they leave the
   main task (destroying the socket on the way), and take the nursery down.
6. ``'connect'`` and ``'ready'`` come on a later tick, as in Node: a
   connect that succeeded sets ``_announce``, and the first task to emit
   anything (the main task as it starts, or the writer, or the timer)
   emits them first. So listeners added right after ``await
   sock.connect()``, or in the block of ``async with net.connect(...) as
   sock``, still hear them, and a ``'connect'`` listener may use ``sock``.
   A socket destroyed before then never emits them (Node's ``afterConnect``
   checks ``destroyed`` too).
"""

from __future__ import annotations

import codecs
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from ._core._fdtable import close as close_fd
from ._net_errors import BufferLimitError
from ._net_events import Events, SocketListen
from ._net_transport import Transport
from ._peer import ends_connection

if TYPE_CHECKING:
    from ._net_tls import TlsSetup
    from ._types import Buffer

__all__ = ["CLOSED_MESSAGE", "LOGGER", "STATE", "SocketCore", "call"]

LOGGER = logging.getLogger("trionet.net")

CLOSED_MESSAGE = "the socket is closed"

NEW, CONNECTING, OPEN = 0, 1, 2

# The attributes only this module assigns (the module docstring).
STATE = frozenset(
    {
        "_status",
        "_announce",
        "_eof",
        "_ended",
        "_finished",
        "_destroyed",
        "_closed",
        "_user_closed",
        "_error",
        "_error_reported",
        "_flowing",
        "_pulled",
        "_need_drain",
    }
)

_GATHER = 64  # queued chunks sent with one sendmsg

WriteCallback = Callable[[BaseException | None], object]


async def call(function: Callable[..., Any], *args: Any) -> None:
    """Call a plain or async callback, awaiting it if it returned an awaitable."""
    result = function(*args)
    if result is not None and inspect.isawaitable(result):
        await result


class SocketCore(Events[SocketListen]):
    """The tasks and state of a ``net.Socket`` (see the module docstring)."""

    __slots__ = (
        "_adopt_fd",
        "_allow_half_open",
        "_announce",
        "_buffer_size",
        "_bytes_read",
        "_bytes_written",
        "_closed",
        "_closed_event",
        "_connect_scope",
        "_decoder",
        "_destroyed",
        "_ended",
        "_eof",
        "_error",
        "_error_reported",
        "_finished",
        "_fired_mark",
        "_flowing",
        "_handed",
        "_high_water_mark",
        "_idle_event",
        "_in_read",
        "_last_active",
        "_late_nursery",
        "_max_buffer_size",
        "_need_drain",
        "_nursery",
        "_onread",
        "_peer_host",
        "_plain_listeners",
        "_pulled",
        "_queue",
        "_read_left",
        "_read_size",
        "_reader",
        "_receiving",
        "_sending",
        "_server_owned",
        "_stash",
        "_status",
        "_timeout",
        "_timer_running",
        "_timer_scope",
        "_tls",
        "_transport",
        "_user_closed",
        "_wake",
        "_writer_running",
    )

    def __init__(self, allow_half_open: bool, high_water_mark: int) -> None:
        super().__init__()
        self._allow_half_open = allow_half_open
        self._high_water_mark = high_water_mark
        self._transport: Transport | None = None
        self._tls: TlsSetup | None = None  # wrap the fd's transport in TLS when it arrives
        self._peer_host: str | None = None  # the host connected to: STARTTLS checks it
        self._adopt_fd: int | None = None  # an fd given to us, not attached yet
        self._nursery: trio.Nursery | None = None
        # The server's nursery, which outlives a connection's own (late callbacks).
        self._late_nursery: trio.Nursery | None = None
        self._server_owned = False
        self._status = NEW
        self._announce = False  # 'connect' and 'ready' are due (rule 6)
        self._eof = self._ended = self._finished = False
        self._destroyed = self._closed = self._user_closed = False
        self._error: BaseException | None = None
        self._error_reported = False
        self._closed_event: trio.Event | None = None
        self._connect_scope: trio.CancelScope | None = None
        # Writing
        self._queue: deque[tuple[Buffer, WriteCallback | None]] | None = None
        self._buffer_size = self._bytes_written = self._bytes_read = 0
        self._max_buffer_size: int | None = None  # no bound, as in Node
        self._writer_running = self._need_drain = self._sending = False
        self._idle_event: trio.Event | None = None
        # Reading
        self._flowing: bool | None = None  # None: neither flowing nor paused yet (Node)
        self._wake: trio.Event | None = None
        self._stash: bytes | None = None
        self._in_read = self._receiving = False
        self._pulled = False  # receive_some was called: no reading ahead (_net_read rule 7)
        self._read_size = 0  # what the reader's next read asks: set as it starts (_net_read)
        self._reader: trio.lowlevel.Task | None = None
        # What a listener run by the read hook left for the reader (_net_read rule 3).
        self._handed: Any = None
        # The 'data' listeners last found to have no async one (_net_read rule 3).
        self._plain_listeners: object = None
        self._read_left: trio.Event | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._onread: tuple[Any, Callable[..., Any]] | None = None
        # Idle timeout
        self._timeout: float | None = None
        self._last_active = 0.0
        self._fired_mark: float | None = None
        self._timer_running = False
        self._timer_scope: trio.CancelScope | None = None

    # -- state changes (no I/O) -------------------------------------------

    def _adopted(self, readable: bool, writable: bool) -> None:
        """An fd given to ``Socket(fd=...)`` with a direction already shut."""
        self._eof = not readable
        self._ended = self._finished = not writable

    def _start_connecting(self) -> None:
        self._status = CONNECTING

    def _opened(self) -> None:
        """An adopted fd or an accepted connection is attached: it is open at once."""
        self._status = OPEN

    def _connected(self) -> None:
        """A connect succeeded: open, and ``'connect'`` and ``'ready'`` are due (rule 6)."""
        self._status = OPEN
        self._announce = True

    def _flow_by_default(self) -> None:
        """A ``'data'`` listener or ``onread``: flow, unless pause or resume chose already."""
        if self._flowing is None:
            self._flowing = True
            self._kick()

    def _resume_reading(self) -> None:
        self._flowing = True
        self._kick()

    def _pause_reading(self) -> None:
        self._flowing = False

    def _restore_flowing(self, flowing: bool | None) -> None:
        """Back to the reading mode saved before ``start_tls`` parked the reader."""
        self._flowing = flowing
        self._kick()

    def _start_pulling(self) -> None:
        """``receive_some`` was called: the reader never reads ahead again."""
        self._pulled = True

    def _promise_drain(self) -> None:
        """``write()`` returned ``False``: the writer emits ``'drain'`` once it empties."""
        self._need_drain = True

    def _saw_eof(self) -> bool:
        """The peer's FIN was read (rule 1); ``False`` if it had been already."""
        if self._eof:
            return False
        self._eof = True
        return True

    def _mark_reported(self) -> None:
        """The error is being raised to a caller: ``'error'`` alone never raises it (rule 4)."""
        self._error_reported = True

    def _closing_by_user(self) -> None:
        """``aclose()`` was called: later calls raise ``ClosedResourceError``, not the error."""
        self._user_closed = True

    def _collected(self) -> None:
        """``__del__`` closed the fd itself: destroyed, with no event and no wake-up."""
        self._destroyed = True

    def _kick(self) -> None:
        """Wake the main task if it is parked."""
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    def _wake_idle(self) -> None:
        idle = self._idle_event
        if idle is not None:
            self._idle_event = None
            idle.set()

    def _destroy(self, error: BaseException | None = None, reported: bool = False) -> None:
        """Stop all I/O now (rule 3); the main task emits the events."""
        if self._destroyed:
            return
        self._destroyed = True
        if error is not None:
            self._error = error
            self._error_reported = reported
        transport = self._transport
        if transport is not None:
            transport.close()
        elif self._adopt_fd is not None:
            close_fd(self._adopt_fd)
            self._adopt_fd = None
        for scope in (self._connect_scope, self._timer_scope):
            if scope is not None:
                scope.cancel()
        self._kick()
        self._wake_idle()

    def _ended_by_peer(self, exc: BaseException) -> bool:
        """At a server's per-connection boundary: may ``exc`` end this connection only?

        Yes when the peer caused it (rule 31, ``trionet._peer``): it is
        logged, the socket is destroyed with it, and the caller goes on to
        emit ``'error'`` / ``'close'`` instead of raising.
        """
        if not (self._server_owned and ends_connection(exc, self._destroyed)):
            return False
        LOGGER.info("a listener let its connection's error out; closing it: %r", exc)
        self._destroy(exc)
        return True

    def _abandon(self) -> None:
        """The main task is leaving by an exception: close without events."""
        self._destroy()
        self._closed = True
        if self._closed_event is not None:
            self._closed_event.set()

    def _close_if_done(self) -> None:
        """Rule 2: both directions finished, or the read side ended on a write-only socket."""
        if self._eof and self._finished:
            self._destroy()

    def _touch(self) -> None:
        if self._timeout is not None:
            self._last_active = trio.current_time()

    # -- tasks --------------------------------------------------------------

    def _start_tasks(self) -> None:
        """Start the helpers a newly connected socket needs (not the main task)."""
        if self._queue or self._ended:
            self._start_writer()
        self._start_timer()

    def _start_writer(self) -> None:
        nursery = self._nursery
        if (
            not self._writer_running
            and nursery is not None
            and self._status == OPEN
            and not self._destroyed
        ):
            self._writer_running = True
            nursery.start_soon(self._write_loop)

    def _start_timer(self) -> None:
        nursery = self._nursery
        if (
            self._timeout is not None
            and not self._timer_running
            and nursery is not None
            and self._status == OPEN
            and not self._destroyed
        ):
            self._timer_running = True
            self._last_active = trio.current_time()
            nursery.start_soon(self._timer_loop)

    async def _announced(self) -> None:
        """Emit a new connection's ``'connect'`` and ``'ready'`` if they are due (rule 6)."""
        if self._announce:
            self._announce = False
            if not self._destroyed:
                await self._emit("connect", ())
                await self._emit("ready", ())

    async def _emit_close(self) -> None:
        """Emit ``'error'`` (if any) and ``'close'``, once (rule 4)."""
        if self._closed:
            return
        self._closed = True
        self._announce = False  # destroyed before it was told: never (rule 6)
        try:
            error = self._error
            await self._fail_callbacks()
            unhandled = None
            if error is not None and not await self._emit("error", (error,)):
                if self._server_owned:
                    LOGGER.info("connection closed by an error: %r", error)
                elif not self._error_reported:
                    unhandled = error
            await self._emit("close", (error is not None,))
        finally:
            if self._closed_event is not None:
                self._closed_event.set()
        if unhandled is not None:
            raise unhandled

    async def _fail_callbacks(self) -> None:
        queue = self._queue
        self._queue = None
        self._buffer_size = 0
        items = list(queue or ())
        if queue is not None:
            queue.clear()  # a writer still busy with it must find nothing more
        for _data, callback in items:
            if callback is not None:
                await call(callback, self._error or trio.ClosedResourceError(CLOSED_MESSAGE))

    def _enqueue_callback(self, callback: WriteCallback) -> None:
        """A write's callback, for the main task to fail with the rest (rule 30)."""
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append((b"", callback))

    def _late_callback(self, callback: WriteCallback, error: BaseException) -> None:
        """A write after ``'close'``: a task of the socket's owner gives its callback the error.

        As Node calls it on the next tick, never inside ``write()``; plain
        or async alike. The owner is the socket's nursery (a client's
        block, ``open_socket``'s nursery) or, once a server's connection
        task has ended, the server's.

        Raises:
            trio.ClosedResourceError: every owner has exited: nothing may run for it.
        """
        for nursery in (self._nursery, self._late_nursery):
            if nursery is None:
                continue
            try:
                nursery.start_soon(self._call_late, callback, error)
            except RuntimeError:
                continue  # closed to new arrivals: its block has exited
            return
        raise trio.ClosedResourceError("the socket's nursery has exited: " + CLOSED_MESSAGE)

    async def _call_late(self, callback: WriteCallback, error: BaseException) -> None:
        try:
            await call(callback, error)
        except BaseException as exc:
            # Outside the connection's task, so its boundary is here (rule 31).
            if not self._ended_by_peer(exc):
                raise

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._start_writer()

    def _enqueue(self, data: Buffer, callback: WriteCallback | None) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        if type(data) is not bytes and not (
            isinstance(data, memoryview) and type(data.obj) is bytes
        ):
            data = bytes(data)  # the caller may change its buffer after write() returns
        queue.append((data, callback))
        self._buffer_size += len(data)
        bound = self._max_buffer_size
        if bound is not None and self._buffer_size > bound:
            # The peer does not read and the writer ignores backpressure:
            # end this connection before it holds the process's memory.
            self._destroy(BufferLimitError(bound, self._buffer_size))
            return
        self._start_writer()

    async def _write_loop(self) -> None:
        transport = self._transport
        assert transport is not None
        try:
            while not self._destroyed:
                queue = self._queue
                if queue:
                    await self._send_queued(transport, queue)
                    continue
                if transport.held:
                    await transport.flush()
                    continue
                self._queue = None
                if self._need_drain:
                    self._need_drain = False
                    await self._announced()
                    await self._emit("drain", ())
                    if self._queue:
                        continue
                self._wake_idle()
                if self._ended and not self._finished and not self._destroyed:
                    await transport.send_eof()
                    self._finished = True
                    await self._announced()
                    await self._emit("finish", ())
                    self._close_if_done()
                return
        except trio.ClosedResourceError:
            if not self._destroyed:
                raise
        except OSError as exc:
            self._destroy(exc)
        finally:
            self._writer_running = False
            self._wake_idle()

    async def _send_queued(self, transport: Transport, queue: deque[Any]) -> None:
        if len(queue) == 1:
            sent = await transport.send(queue[0][0])
        else:
            sent = await transport.send([item[0] for item in itertools.islice(queue, _GATHER)])
        self._buffer_size -= sent
        self._touch()
        while queue:
            data, callback = queue[0]
            if len(data) > sent:
                queue[0] = (memoryview(data)[sent:], callback)
                return
            sent -= len(data)
            queue.popleft()
            if callback is not None:
                await call(callback, None)

    async def _wait_idle(self) -> None:
        """Wait until the writer has sent everything it can (or the socket is down)."""
        while not self._destroyed and (
            self._writer_running or (self._queue and self._status == OPEN)
        ):
            idle = self._idle_event
            if idle is None:
                idle = self._idle_event = trio.Event()
            await idle.wait()

    async def _timer_loop(self) -> None:
        """Emit ``'timeout'`` once per idle stretch of ``_timeout`` seconds."""
        try:
            while not self._destroyed:
                timeout = self._timeout
                if timeout is None:
                    return
                now = trio.current_time()
                if self._last_active == self._fired_mark:
                    deadline = now + timeout  # fired already: look again for activity
                else:
                    deadline = self._last_active + timeout
                    if now >= deadline:
                        self._fired_mark = self._last_active
                        await self._announced()
                        await self._emit("timeout", ())
                        continue
                with trio.CancelScope(deadline=deadline) as scope:
                    self._timer_scope = scope
                    await trio.sleep_forever()
                self._timer_scope = None
        finally:
            self._timer_running = False
