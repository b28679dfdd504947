"""The sync driver: runs a ``trionet._calls.Call`` in the calling thread.

The async API and this one share everything but the wait. A call first
tries the system call; when it would block, the thread sleeps in ``poll``
on the socket's fds and on its own wake-up fd (an ``eventfd``, one per
thread, made on first use), bounded by what is left of the timeout, then
tries again. Closing the socket from any thread or trio run signals the
wake-up fds of the threads sleeping on it (``trionet._fdtable.close``),
which then raise ``trio.ClosedResourceError`` — a thing a stdlib socket
blocked in another thread cannot be told.

Trying first costs a failed system call (and its exception) whenever the
socket is not ready, as for a server's ``recv`` waiting for the next
request. So once calls in one direction on a socket have found it not
ready ``_STREAK`` times in a row, its calls in that direction sleep in
``poll`` first, as a stdlib socket with a timeout does; every
``_PROBE``-th of them tries first again, to notice when that changes.
A client whose peer answers before it asks (a ping-pong on one CPU)
keeps trying first, which measured faster there.

No other thread takes part: a round trip through a trio portal costs more
than a loopback round trip itself.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import threading
import time
from typing import TypeVar

import trio

from trionet._calls import Call
from trionet._fdtable import close_wake_fd, open_wake_fd, sleep_on
from trionet._ops import Connect, RetryLater, later
from trionet._timeout import Timeout

__all__ = ["Deadline", "block", "wake_fd"]

T = TypeVar("T")

_IN = select.POLLIN
# poll events by direction: trionet._readiness.READ (0), WRITE (1).
_EVENTS = (_IN, select.POLLOUT)
_MAX_POLL_MS = 2**31 - 1
# Poll first after this many calls in a row found the socket not ready: a
# client whose peer mostly answers before it asks misses now and then, in
# short runs, and polling first costs it a system call each time (2 in a
# row measured 2% slower there; a server waiting for requests misses always).
_STREAK = 4
# One call in this many of those polling first tries first again: the probe
# costs a failed system call when the socket is still not ready.
_PROBE = 32
_local = threading.local()


class _Sleeper:
    """A thread's wake-up fd and ``poll`` object; closed with the thread's locals.

    The socket fds last slept on stay registered in the ``poll`` object
    until the thread sleeps on others: a thread mostly waits on one socket
    again and again, and the poll object then needs no change. Only this
    thread polls it, after ``watch`` has set the fds of the socket at hand.
    """

    __slots__ = ("events", "fd", "fds", "poll", "poller")

    def __init__(self) -> None:
        self.fd = open_wake_fd()
        self.poller = select.poll()
        self.poller.register(self.fd, _IN)
        self.poll = self.poller.poll
        self.fds: tuple[int, ...] = ()
        self.events = 0

    def __del__(self) -> None:
        close_wake_fd(self.fd)

    def watch(self, fds: tuple[int, ...], events: int) -> None:
        """Make ``fds`` (for ``events``) the socket fds that ``poll`` watches."""
        if fds == self.fds and events == self.events:
            return
        for fd in self.fds:
            self.poller.unregister(fd)
        self.fds = ()
        for fd in fds:
            self.poller.register(fd, events)
        self.fds, self.events = fds, events


def _sleeper() -> _Sleeper:
    try:
        sleeper: _Sleeper = _local.sleeper
    except AttributeError:
        sleeper = _local.sleeper = _Sleeper()
    return sleeper


def wake_fd() -> int:
    """This thread's wake-up fd, made on first use."""
    return _sleeper().fd


class Deadline:
    """When a call (or several calls sharing one ``timeout``) must end, on the monotonic clock."""

    __slots__ = ("at", "timeout")

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.at = None if timeout is None else time.monotonic() + timeout

    def left(self, what: str) -> float | None:
        """Seconds left, or ``None`` for no limit.

        Raises:
            Timeout: none are left.
        """
        if self.at is None:
            return None
        left = self.at - time.monotonic()
        if left <= 0:
            raise Timeout(f"{what} timed out after {self.timeout:g} s")
        return left


def block(call: Call[T], deadline: Deadline | None = None) -> T:
    """Run ``call`` to completion in this thread.

    Args:
        call: The prepared call; its ``timeout`` bounds it unless ``deadline`` is given.
        deadline: A deadline shared by several calls (``send_all``,
            ``create_client``), overriding ``call.timeout``.
    """
    entry = call.entry
    want = call.want
    streaks = entry.streak
    streak = streaks[want]
    try:
        # Polling first needs a limit that is not 0 (which tries once) and
        # whose start is this call's: a shared deadline may have run out.
        if streak < _STREAK or deadline is not None or call.timeout == 0:
            try:
                result = call.attempt(*call.args)
            except RetryLater:
                result = _retry(call, deadline, later(0))
            except BlockingIOError:
                streaks[want] = streak + 1
                result = _retry(call, deadline, 0.0)
            else:
                streaks[want] = 0
        else:
            streak += 1
            streaks[want] = _STREAK - 1 if streak == _STREAK + _PROBE else streak
            result = _retry(call, None, 0.0)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the socket is closed") from exc
        raise
    # A hint for the async driver about the attempt it just made; left set,
    # it would mislead that driver's next call on this socket.
    entry.drained = False
    return result


def _retry(call: Call[T], deadline: Deadline | None, delay: float) -> T:
    if deadline is None:
        if call.timeout == 0:
            raise Timeout(f"{call.what} would block (timeout=0)")
        if call.timeout is not None:
            deadline = Deadline(call.timeout)
    while True:
        left = None if deadline is None else deadline.left(call.what)
        if delay:
            _sleep(call, delay if left is None else min(delay, left), False)
        elif not _sleep(call, left):
            continue
        try:
            return call.attempt(*call.args)
        except RetryLater:
            delay = later(delay)
        except BlockingIOError:
            delay = 0.0


def _sleep(call: Call[T], seconds: float | None, watch: bool = True) -> bool:
    """Sleep until ``call``'s socket may be ready, is closed, or ``seconds`` pass.

    With ``watch=False`` only a close, a wake-up (or the time) ends the
    sleep: the back-off after ``trionet._ops.RetryLater``.

    Returns whether to attempt ``call`` again: after an event on one of
    the socket's fds, or after a wake-up (``Tcp.serve``'s failing handler
    wakes its accept so that the attempt raises), but not after a time-out
    nor, for a connect, after a wake-up: an attempt then would read a
    connect still in progress as done.
    """
    entry = call.entry
    want = call.want
    sleeper = _sleeper()
    if not watch:
        sleeper.watch((), 0)
    elif entry.extras:
        # -1: an mports listener that a close in another thread has just
        # closed; its port is gone, and the close signals the wake-up fd.
        sleeper.watch(tuple(fd for fd in entry.all_fds() if fd >= 0), _EVENTS[want])
    else:
        sleeper.watch((entry.fd,), _EVENTS[want])
    # poll() takes an int of milliseconds: a longer timeout waits in slices.
    wait = None if seconds is None else min(math.ceil(seconds * 1000), _MAX_POLL_MS)
    wake = sleeper.fd
    ready = sleep_on(entry, wake, want, sleeper.poll, wait)
    event = woken = False
    for fd, _ in ready:
        if fd == wake:
            # Reset it; a wake meant for a socket this thread left earlier is
            # harmless: the call is attempted and, not ready, sleeps again.
            with contextlib.suppress(BlockingIOError):
                os.eventfd_read(wake)
            woken = True
        else:
            event = True
    if entry.closed:
        raise trio.ClosedResourceError("the socket was closed while waiting")
    return event or (woken and not isinstance(call.attempt, Connect))
