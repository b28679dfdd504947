"""Readiness: one edge-triggered epoll per trio run.

Theory of operation
===================

trio waits for an fd with a one-shot epoll registration: every
``wait_readable`` costs an ``epoll_ctl`` system call before the task sleeps.
On a busy server that is one extra system call per message. This module
keeps, for each trio run, one epoll instance of its own in which every fd is
registered once, edge-triggered, for both directions. trio itself watches
only that epoll fd; a system task (the *poller*) wakes when it becomes
readable, drains it with ``epoll_wait(0)`` and reschedules the tasks that
were waiting, many per wake-up on a loaded server.

Edge-triggered events are reported once per change, so none may be lost.
Each fd has, per direction, a waiting task or a *ready bit*:

1. An event for a direction with a waiter wakes that waiter.
2. An event for a direction without a waiter sets the ready bit.
3. A task that is about to wait first takes (clears) the ready bit; if it was
   set, it returns at once and retries its system call instead of sleeping.
4. Tasks always try their system call first and wait only after it reported
   ``EAGAIN``. Between that failure and the wait there is no checkpoint, so
   every edge that can matter arrives after the task is registered (rule 1)
   or is already in the ready bit (rule 3). A stale bit costs one extra
   failed system call, never a lost wake-up.

Closing an fd (:func:`release`) removes it from every run's epoll, forgets
its state and wakes its waiters with ``trio.ClosedResourceError``: directly
on the run's own thread, through the run's ``TrioToken`` from any other.
Forgetting happens at once in every run, so a run that later gets the same
fd number for a new socket never trusts a stale registration.

A layer lives exactly as long as its run: the poller is a system task, so
it is cancelled when the run ends, and it closes the epoll on its way out.
All waiting is ``wait_task_rescheduled`` with an abort function, so
cancellation and ``MockClock`` work exactly as with trio's own waits.
"""

from __future__ import annotations

import contextlib
import select
import threading
from typing import Final

import outcome
import trio
from trio.lowlevel import Abort, RaiseCancelT, RunVar, Task

__all__ = ["READ", "WRITE", "Layer", "current_layer", "release"]

READ: Final = 0
WRITE: Final = 1

# Successful operations a run may complete before one of them yields to the
# scheduler: cheap operations keep their cache-warm task running, yet a busy
# socket cannot starve the others for more than this many operations.
_BUDGET: Final = 32

_REGISTER_MASK: Final = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
_READ_MASK: Final = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR
_WRITE_MASK: Final = select.EPOLLOUT | select.EPOLLHUP | select.EPOLLERR
_MAX_EVENTS: Final = 512


class _Group:
    """A task waiting on several fds at once; the first event wakes it."""

    __slots__ = ("slots", "task")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.slots: list[tuple[_FdState, int]] = []

    def detach(self) -> None:
        for state, want in self.slots:
            if state.waiter[want] is self:
                state.waiter[want] = None


_Waiter = Task | _Group


class _FdState:
    __slots__ = ("ready", "waiter")

    def __init__(self) -> None:
        self.ready = [False, False]
        self.waiter: list[_Waiter | None] = [None, None]


def _wake(waiter: _Waiter, result: outcome.Outcome[None]) -> None:
    if isinstance(waiter, _Group):
        waiter.detach()
        trio.lowlevel.reschedule(waiter.task, result)
    else:
        trio.lowlevel.reschedule(waiter, result)


def _closed_outcome() -> outcome.Error:
    return outcome.Error(trio.ClosedResourceError("the socket was closed while waiting on it"))


class Layer:
    """The readiness layer of one trio run (see the module docstring)."""

    def __init__(self) -> None:
        self.budget = _BUDGET
        self._epoll = select.epoll()
        self._states: dict[int, _FdState] = {}
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.get_ident()

    def spend(self) -> bool:
        """Count one successful operation; ``True`` when it is time to yield."""
        self.budget -= 1
        if self.budget > 0:
            return False
        self.budget = _BUDGET
        return True

    async def wait(self, fd: int, want: int) -> None:
        """Sleep until ``fd`` may be ready for ``want`` (``READ`` or ``WRITE``).

        Raises:
            trio.BusyResourceError: another task waits on ``fd`` the same way.
            trio.ClosedResourceError: the fd was closed before or while waiting.
        """
        state = self._states.get(fd) or self._register(fd)
        if state.ready[want]:
            state.ready[want] = False
            return
        if state.waiter[want] is not None:
            raise trio.BusyResourceError(_busy_message(want))
        state.waiter[want] = trio.lowlevel.current_task()

        def abort(_: RaiseCancelT) -> Abort:
            state.waiter[want] = None
            return Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    async def wait_any(self, fds: tuple[int, ...], want: int) -> None:
        """Like :meth:`wait`, for the first of several fds."""
        states = [self._states.get(fd) or self._register(fd) for fd in fds]
        for state in states:
            if state.ready[want]:
                state.ready[want] = False
                return
        if any(state.waiter[want] is not None for state in states):
            raise trio.BusyResourceError(_busy_message(want))
        group = _Group(trio.lowlevel.current_task())
        for state in states:
            state.waiter[want] = group
            group.slots.append((state, want))

        def abort(_: RaiseCancelT) -> Abort:
            group.detach()
            return Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def forget(self, fd: int) -> None:
        """Drop ``fd`` from this layer and wake its waiters; callable from any thread."""
        state = self._states.pop(fd, None)
        if state is None:
            return
        # OSError: gone with its file; ValueError: the layer closed with its run.
        with contextlib.suppress(OSError, ValueError):
            self._epoll.unregister(fd)
        if threading.get_ident() == self._thread:
            _close_waiters(state)
        else:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(_close_waiters, state)

    def _register(self, fd: int) -> _FdState:
        try:
            self._epoll.register(fd, _REGISTER_MASK)
        except FileExistsError:
            # Registered by a run that forgot it without our epoll knowing
            # (cannot normally happen): take over the existing registration.
            self._epoll.modify(fd, _REGISTER_MASK)
        except OSError as exc:
            raise trio.ClosedResourceError(f"fd {fd} is not open") from exc
        state = self._states[fd] = _FdState()
        return state

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The poller: forward epoll events to waiting tasks until the run ends."""
        states = self._states
        try:
            task_status.started()
            while True:
                await trio.lowlevel.wait_readable(self._epoll)
                for fd, mask in self._epoll.poll(0, _MAX_EVENTS):
                    state = states.get(fd)
                    if state is None:
                        continue
                    if mask & _READ_MASK:
                        _fire(state, READ)
                    if mask & _WRITE_MASK:
                        _fire(state, WRITE)
        finally:
            _unlist(self)
            for state in states.values():
                _close_waiters(state)
            states.clear()
            self._epoll.close()


def _fire(state: _FdState, want: int) -> None:
    waiter = state.waiter[want]
    if waiter is None:
        state.ready[want] = True
    else:
        state.waiter[want] = None
        _wake(waiter, outcome.Value(None))


def _close_waiters(state: _FdState) -> None:
    for want in (READ, WRITE):
        waiter = state.waiter[want]
        if waiter is not None:
            state.waiter[want] = None
            _wake(waiter, _closed_outcome())


def _busy_message(want: int) -> str:
    verb = "reading from" if want == READ else "writing to"
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
    trio.lowlevel.spawn_system_task(layer.run, name="trionet readiness poller")
    return layer


def _unlist(layer: Layer) -> None:
    global _layers
    with _layers_lock:
        _layers = tuple(other for other in _layers if other is not layer)


def release(fd: int) -> None:
    """Forget ``fd`` in every run's layer, waking its waiters (before a close or handoff)."""
    for layer in _layers:
        layer.forget(fd)
