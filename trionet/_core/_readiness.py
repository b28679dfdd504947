"""Readiness: one edge-triggered epoll per trio run.

Who waits here: net's reader and writer (``perform_tracked``, which keep
the ready bits), accepts (several ``mports`` fds, which may change), and
virtual sockets (whose fd shows readiness only as edges). Every other
call of the fd level waits in trio's own ``wait_readable`` /
``wait_writable``, which measured faster there (``trionet._core._drive_trio``).

Theory of operation
===================

trio waits for an fd with a one-shot epoll registration: every
``wait_readable`` costs an ``epoll_ctl`` system call before the task sleeps.
On a busy server that is one extra system call per message. This module
keeps, for each trio run, one epoll instance of its own in which every fd is
registered once, edge-triggered, for both directions. trio itself watches
only that epoll fd.

Leader and followers. Of the tasks waiting on the layer, one, the *leader*,
waits in ``trio.lowlevel.wait_readable(epoll)``; the others, *followers*,
sleep in ``wait_task_rescheduled`` until the leader hands them an event.
When the epoll fd becomes readable the leader drains it with
``epoll_wait(0)``, reschedules every follower whose fd is ready, and goes on
with its own work if its fd was among them, first promoting a follower to
lead. So a lone waiter (a client with one connection) costs what trio's own
wait costs, and a busy server wakes one task per batch of events instead of
asking trio for one ``epoll_ctl`` per message.

Edge-triggered events are reported once per change, so none may be lost.
Each fd has, per direction, a *ready bit* (may the system call succeed?)
and at most one waiting task:

1. A new state starts ready: the first operation just tries.
2. An operation that fails with ``EAGAIN``, or a stream read or write that
   moved fewer bytes than asked (the kernel buffer ran dry or full), clears
   the bit; the next operation then waits instead of making a system call
   that would fail. This saves one failed system call per message.
3. An event for a direction with a waiter wakes that waiter; without one it
   sets the bit.
4. Clearing and the next wait happen with no checkpoint in between, and
   events are handled only by a leader, which runs only at checkpoints; so
   every edge that follows the observation "not ready" is seen (rule 3). A
   bit that is set while the data was already taken costs one failed system
   call, never a lost wake-up.
5. End of stream, a reset or an error is a lasting condition, reported
   once: such an event makes the bit *sticky* for that direction, so rule 2
   can never put to sleep a task whose next call would return at once.
6. While any follower sleeps there is a leader, or one is being promoted.
7. An fd's state may have a *read hook* (``ReadHook``): an event that makes
   the fd readable, while a follower waits to read it, is first offered to
   the hook, which may read for the follower (``net.Socket`` calls its
   ``'data'`` listeners there: ``trionet._net_read``). If it did, the
   follower sleeps on, unless the read left the bit set (rule 2), which
   wakes it. The end of a stream and errors (rule 5) always wake the
   follower. A leader is never read for: it is running already. After a
   drain in which hooks read, the leader drains again at once (hooks
   answer, and a peer on this CPU may have replied already), until a
   drain finds nothing for them or the budget says to yield.

8. No close loses a wake-up, from any thread. A waiter names its *owner*
   (the fd table's entry, whose ``closed`` is set before the close calls
   ``release``), records itself in the fd's state, and only then looks at
   ``owner.closed``: closed, it raises ``trio.ClosedResourceError`` instead
   of sleeping. Otherwise the close comes later, and ``forget`` finds the
   state (it was in the table before the look) and wakes the waiter. Without
   the look the window was: ``forget`` found no state yet, the waiter then
   registered the still-open fd, and the close took it out of the epoll
   with no event, so the waiter slept forever.

``interrupt`` wakes the task waiting on an fd in one direction by
raising an exception in it, consuming nothing (``net.Socket.pause()``).

Closing an fd (``release``) removes it from every run's epoll, forgets
its state and wakes its waiters with ``trio.ClosedResourceError``: directly
on the run's own thread, through the run's ``TrioToken`` from any other. A
leader blocked in trio's ``wait_readable`` cannot be rescheduled, so when
another task settles the leader's own wait (a close, or a task that drained
the epoll just before sleeping) the leader is *kicked* with
``trio.lowlevel.notify_closing(epoll)``: trio wakes it, and it finds its
outcome recorded. Forgetting happens at once in every run, so a
run that later gets the same fd number for a new socket never trusts a
stale registration.

A layer lives exactly as long as its run: a system task (which only
sleeps) is cancelled when the run ends and closes the epoll on its way out.
Leaders wait through trio and followers through ``wait_task_rescheduled``
with an abort function, so cancellation and ``MockClock`` work exactly as
with trio's own waits; a cancelled leader promotes a follower on its way out.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Coroutine
from typing import Final, Literal, Protocol, TypeAlias

import outcome
import trio
from trio.lowlevel import Abort, RaiseCancelT, RunVar, Task

__all__ = [
    "READ",
    "WRITE",
    "Direction",
    "FdState",
    "Layer",
    "Owner",
    "current_layer",
    "release",
    "spend",
]

# Which way a call waits: the index into an fd's per-direction pairs (ready,
# sticky, waiter; compat's timeo and streak). Plain ints, not an IntEnum:
# CPython specialises list indexing for exact ints only, and this is the
# path every system call takes.
Direction: TypeAlias = Literal[0, 1]
READ: Final = 0
WRITE: Final = 1

# Successful operations the process may complete before one of them yields
# to the scheduler (``spend``): cheap operations keep their cache-warm task
# running, yet a busy socket cannot starve the others for more than this
# many operations.
_BUDGET: Final = 32
_spent = 0


def spend() -> bool:
    """Count one successful operation; ``True`` when it is time to yield.

    One counter for every run and thread, with no lock and no run-local
    lookup: it only paces yields, so a count lost to a race costs nothing.
    """
    global _spent
    _spent += 1
    if _spent < _BUDGET:
        return False
    _spent = 0
    return True


_REGISTER_MASK: Final = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_READ_MASK: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_WRITE_MASK: Final = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
_READ_END: Final = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_WRITE_END: Final = select.EPOLLHUP | select.EPOLLERR
_MAX_EVENTS: Final = 512


_LEAD: Final = object()  # the value a promoted follower is woken with


class _Waiter:
    """A task waiting on one or more (fd, direction) slots; the first event wakes it."""

    __slots__ = ("layer", "leading", "result", "slots", "task")

    def __init__(self, task: Task, layer: Layer) -> None:
        self.task = task
        self.layer = layer
        self.slots: list[tuple[FdState, Direction]] = []
        self.leading = False
        self.result: outcome.Outcome[None] | None = None

    def abort(self, _: RaiseCancelT) -> Abort:
        """Cancelled while following: let go of every slot."""
        self.detach()
        del self.layer._followers[self]
        return Abort.SUCCEEDED

    def detach(self) -> None:
        for state, direction in self.slots:
            if state.waiter[direction] is self:
                state.waiter[direction] = None


class Owner(Protocol):
    """Who an fd belongs to: its ``closed`` is set before it is released (rule 8)."""

    @property
    def closed(self) -> bool:
        """Whether a close of the fd has begun."""


class ReadHook(Protocol):
    """Who may read for a following waiter when its fd turns readable (rule 7)."""

    def read_ready(self, task: Task) -> bool:
        """Read for ``task``, which waits to read; ``False`` if it did nothing."""


class FdState:
    """Per-fd, per-direction ready bits and waiters (see the module docstring)."""

    __slots__ = ("hook", "ready", "sticky", "waiter")

    def __init__(self) -> None:
        self.hook: ReadHook | None = None
        self.ready = [True, True]
        self.sticky = [False, False]
        self.waiter: list[_Waiter | None] = [None, None]

    def clear(self, direction: Direction) -> None:
        """Record that ``direction`` is not possible now (rule 2 of the module docstring)."""
        self.ready[direction] = self.sticky[direction]

    def blocked(self, direction: Direction) -> None:
        """After ``EAGAIN``: not ready, and no lasting condition pending either.

        An end of stream or an error would have made the call return at
        once, so a sticky bit is stale (say, an error another call already
        took). Kept, it would make every wait return at once: a retry loop
        without a checkpoint, which freezes the whole run.
        """
        self.ready[direction] = self.sticky[direction] = False

    def moved(self, direction: Direction, short: bool) -> None:
        """After a success: still ready, unless the call moved fewer bytes than asked (rule 2).

        ``short`` means the kernel buffer ran dry (or full), so the next
        call would block. Called before any checkpoint after the system
        call, so no edge that came meanwhile is wiped out.
        """
        if short:
            self.ready[direction] = self.sticky[direction]
        else:
            self.ready[direction] = True


def _closed_outcome() -> outcome.Error:
    return outcome.Error(trio.ClosedResourceError("the socket was closed while waiting on it"))


class Layer:
    """The readiness layer of one trio run (see the module docstring)."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._states: dict[int, FdState] = {}
        self._leader: _Waiter | None = None
        self._followers: dict[_Waiter, None] = {}
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.get_ident()

    def state(self, fd: int) -> FdState:
        """The readiness state of ``fd``, registering it on first use.

        Raises:
            trio.ClosedResourceError: ``fd`` is not open.
        """
        return self._states.get(fd) or self._register(fd)

    def wait(self, fd: int, direction: Direction, owner: Owner) -> Coroutine[object, None, None]:
        """Sleep until ``fd`` may be ready for ``direction`` (``READ`` or ``WRITE``).

        Returns at once, clearing the bit, if it is already set. ``owner``
        is the fd's entry in the fd table: a close it has begun is never
        slept through (rule 8).

        Raises:
            trio.BusyResourceError: another task waits on ``fd`` the same way.
            trio.ClosedResourceError: the fd was closed before or while waiting.
        """
        return self.wait_any((fd,), direction, owner)

    async def wait_any(self, fds: tuple[int, ...], direction: Direction, owner: Owner) -> None:
        """Like ``wait``, for the first of several fds of one ``owner``."""
        states = [self._states.get(fd) or self._register(fd) for fd in fds]
        if _take_ready(states, direction):
            return
        # An edge may already wait in the epoll (a peer on this CPU answered
        # while we ran): one epoll_wait(0) is cheaper than sleeping for it,
        # through trio as a leader or behind the leader as a follower. Once
        # followers already wait, the leader will drain for all of them in
        # one batch: an epoll_wait per waiter would then be a system call
        # per message for nothing.
        if self._leader is None or not self._followers:
            self._dispatch()
            if _take_ready(states, direction):
                return
        waiter = _Waiter(trio.lowlevel.current_task(), self)
        for state in states:
            if state.waiter[direction] is not None:
                waiter.detach()
                raise trio.BusyResourceError(_busy_message(direction))
            state.waiter[direction] = waiter
            waiter.slots.append((state, direction))
        # Rule 8: recorded first, then the look; a close after it finds us.
        if owner.closed:
            waiter.detach()
            raise trio.ClosedResourceError("the socket was closed while waiting on it")
        if self._leader is None:
            await self._lead(waiter)
        else:
            self._followers[waiter] = None
            if await trio.lowlevel.wait_task_rescheduled(waiter.abort) is _LEAD:
                await self._lead(waiter)

    async def _lead(self, waiter: _Waiter) -> None:
        """Watch the epoll fd through trio until ``waiter``'s own slot fires."""
        self._leader = waiter
        waiter.leading = True
        try:
            while waiter.result is None:
                # ClosedResourceError: kicked, our outcome is recorded (see _fire).
                with contextlib.suppress(trio.ClosedResourceError):
                    await trio.lowlevel.wait_readable(self._epoll)
                # Hooks that read also answered: a peer on this CPU may have
                # replied already, and draining again is cheaper than a trip
                # through trio's scheduler and its epoll_ctl (within the budget).
                while self._dispatch() and waiter.result is None and not spend():
                    pass
        finally:
            waiter.detach()
            self._leader = None
            if self._followers:
                heir = next(iter(self._followers))
                del self._followers[heir]
                heir.leading = True
                self._leader = heir
                trio.lowlevel.reschedule(heir.task, outcome.Value(_LEAD))
        waiter.result.unwrap()

    def _dispatch(self) -> bool:
        """Handle the events waiting in the epoll; whether a read hook took any."""
        hooked = False
        states = self._states
        for fd, mask in self._epoll.poll(0, _MAX_EVENTS):
            state = states.get(fd)
            if state is None:
                continue
            if mask & _READ_MASK:
                if mask & _READ_END:
                    state.sticky[READ] = True
                if not mask & _READ_END and self._hooked(state):
                    hooked = True
                else:
                    self._fire(state, READ, outcome.Value(None))
            if mask & _WRITE_MASK:
                if mask & _WRITE_END:
                    state.sticky[WRITE] = True
                self._fire(state, WRITE, outcome.Value(None))
        return hooked

    def _hooked(self, state: FdState) -> bool:
        """Let ``state.hook`` read for a following waiter; ``False`` if it did not."""
        waiter = state.waiter[READ]
        hook = state.hook
        if waiter is None or waiter.leading or hook is None or not hook.read_ready(waiter.task):
            return False
        # Still waiting, yet the read left the bit set (more to read, or the
        # end): the waiter reads on itself.
        if state.waiter[READ] is waiter and state.ready[READ]:
            self._fire(state, READ, outcome.Value(None))
        return True

    def _fire(self, state: FdState, direction: Direction, result: outcome.Outcome[None]) -> None:
        waiter = state.waiter[direction]
        if waiter is None:
            state.ready[direction] = True
            return
        waiter.detach()
        if waiter.leading:
            if waiter.result is None:
                waiter.result = result
                if trio.lowlevel.current_task() is not waiter.task:
                    # The leader may sleep in trio's wait: kick it (see module docstring).
                    trio.lowlevel.notify_closing(self._epoll)
        else:
            del self._followers[waiter]
            trio.lowlevel.reschedule(waiter.task, result)

    def _wake_all(self, state: FdState, retry: bool) -> None:
        for direction in (READ, WRITE):
            if state.waiter[direction] is not None:
                self._fire(state, direction, outcome.Value(None) if retry else _closed_outcome())

    def interrupt(self, fd: int, direction: Direction, error: BaseException) -> None:
        """Wake the task waiting on ``fd`` for ``direction`` by raising ``error`` in it.

        Nothing was consumed for it. Does nothing when no task waits.
        """
        state = self._states.get(fd)
        if state is not None and state.waiter[direction] is not None:
            self._fire(state, direction, outcome.Error(error))

    def forget(self, fd: int, retry: bool = False) -> None:
        """Drop ``fd`` from this layer and wake its waiters; callable from any thread.

        The waiters raise ``trio.ClosedResourceError``, or with ``retry``
        simply retry their system call (the fd stays open but changed).
        """
        state = self._states.pop(fd, None)
        if state is None:
            return
        # OSError: gone with its file; ValueError: the layer closed with its run.
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        if threading.get_ident() == self._thread:
            self._wake_all(state, retry)
        else:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._wake_all, state, retry)

    def _register(self, fd: int) -> FdState:
        try:
            self._epoll.register(fd, _REGISTER_MASK)
        except FileExistsError:
            # Registered by a run that forgot it without our epoll knowing
            # (cannot normally happen): take over the existing registration.
            self._epoll.modify(fd, _REGISTER_MASK)
        except OSError as exc:
            raise trio.ClosedResourceError(f"fd {fd} is not open") from exc
        state = self._states[fd] = FdState()
        return state

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the layer open until the run ends, then close its epoll."""
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            _unlist(self)
            self._states.clear()
            self._epoll.close()


def _take_ready(states: list[FdState], direction: Direction) -> bool:
    for state in states:
        if state.ready[direction]:
            state.clear(direction)
            return True
    return False


def _busy_message(direction: Direction) -> str:
    verb = "reading from" if direction == READ else "writing to"
    return f"another task is already {verb} this socket"


_layer_var: RunVar[Layer] = RunVar("trionet_readiness")
_layers: tuple[Layer, ...] = ()
_layers_lock = threading.Lock()


def current_layer() -> Layer:
    """The readiness layer of the current trio run, started on first use."""
    try:
        return _layer_var.get()
    except LookupError:
        pass
    layer = Layer()
    _layer_var.set(layer)
    global _layers
    with _layers_lock:
        _layers = (*_layers, layer)
    trio.lowlevel.spawn_system_task(layer.run, name="trionet readiness layer")
    return layer


def _unlist(layer: Layer) -> None:
    global _layers
    with _layers_lock:
        _layers = tuple(other for other in _layers if other is not layer)


def release(fd: int, retry: bool = False) -> None:
    """Forget ``fd`` in every run's layer, waking its waiters (before a close or handoff).

    With ``retry`` the waiters retry instead of raising ``ClosedResourceError``.
    """
    for layer in _layers:
        layer.forget(fd, retry)
