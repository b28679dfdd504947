"""The sync driver: runs a ``trionet._core._prepare.Call`` in the calling thread.

The async API and this one share everything but the wait.

A receive or a send with a timeout other than 0 tries the system call
first, non-blocking; when it would block, it blocks in the system call
itself, as a stdlib socket in blocking mode does. The first such wait
clears the fd's ``O_NONBLOCK`` (the shared attempts pass ``MSG_DONTWAIT``,
so async code on the same fd never blocks), and a timeout is the kernel's
``SO_RCVTIMEO`` / ``SO_SNDTIMEO``, set only when it changes. Once calls in
one direction have found the socket not ready ``STREAK`` times in a row,
they block in the kernel at once (every ``_PROBE``-th tries first again):
so a server thread waiting for the next request makes one system call per
message, as the stdlib's does. Closing the socket from another thread
shuts it down, which wakes the blocked call, and the fd is closed only
once that call has returned (``trionet._core._fdtable.close``), so its number
cannot be reused under it. The call then raises
``trio.ClosedResourceError``, a thing a stdlib socket blocked in another
thread cannot be told.

Everything else (accept, connect, a timeout of 0, a socket of the virtual
network) tries the system call first and, when it would block, sleeps in
``poll`` on the socket's fds and on the thread's own wake-up fd (an
``eventfd``, one per thread, made on first use), bounded by what is left of
the timeout, then tries again. Closing the socket signals the wake-up fds
of the threads sleeping on it. Waiting for a connection or for a connect
is rare beside a data call, and an accept must see an ``mports``
listener's every port.

No other thread takes part: a round trip through a trio portal costs more
than a loopback round trip itself.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import select
import socket as _stdsocket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from trionet._core import _attempts
from trionet._core._attempts import RetryLater, later
from trionet._core._fdtable import (
    Entry,
    check_alone,
    close_wake_fd,
    left_closed,
    open_wake_fd,
    remove_sleeper,
    sleep_on,
)
from trionet._core._prepare import Call
from trionet._core._readiness import Direction
from trionet._core._seam import SimulatedSocket
from trionet._core._timeout import Timeout, poll_ms

__all__ = ["Deadline", "SyncState", "block", "state", "states", "wake_fd"]

T = TypeVar("T")

_IN = select.POLLIN
# poll events by direction: trionet._core._readiness.READ (0), WRITE (1).
_EVENTS = (_IN, select.POLLOUT)
# The attempts that may block in the kernel (they take ``flags``).
_IN_KERNEL = frozenset(
    (
        _attempts.recv,
        _attempts.recv_into,
        _attempts.recvfrom,
        _attempts.recvfrom_into,
        _attempts.send,
        _attempts.sendto,
    )
)
_DONTWAIT = _stdsocket.MSG_DONTWAIT
# The kernel's time limit by direction, and how it is passed (a struct timeval).
_TIMEO = (_stdsocket.SO_RCVTIMEO, _stdsocket.SO_SNDTIMEO)
_TIMEVAL = struct.Struct("@ll")
_NO_LIMIT = _TIMEVAL.pack(0, 0)
# The kernel's limit is what is left of the timeout, rounded down to this
# grid, so that calls with the same timeout set it once, not every time.
_GRID = 0.001
# A longer limit is set as this one (68 years); the call then sets it again.
_MAX_SECONDS = 2**31 - 1
# Block in the kernel at once after this many calls in a row in one
# direction found the socket not ready: trying first then costs a failed
# system call and its exception each time (a server waiting for requests),
# while a call that finds data ready (a client whose peer answered already,
# a send) costs less tried first than registered as a sleeper.
STREAK = 4
# One call in this many of those blocking at once tries first again, to
# notice when the socket is ready again.
_PROBE = 32
# A limit compat did not set (someone else's setsockopt): set it again.
_UNKNOWN = -1.0
_get_ident = threading.get_ident
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


class SyncState:
    """compat's own state of one fd, kept by this driver, not on the shared ``Entry``.

    Attributes:
        entry: The fd's entry in ``trionet._core._fdtable``; a closed one
            means this state is stale (the number may be someone else's now).
        blocking: Whether this driver cleared the fd's ``O_NONBLOCK``.
        timeo: Per direction, the ``SO_RCVTIMEO`` / ``SO_SNDTIMEO`` it set
            last (``None``: none, the default).
        streak: Per direction, how many calls in a row found the socket not
            ready: after ``STREAK`` of them, calls block in the kernel at once.
        sock, stream: The entry's, which never change: read here, they
            save a call an attribute read.
    """

    __slots__ = ("blocking", "entry", "sock", "streak", "stream", "timeo")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.sock = entry.sock
        self.stream = entry.stream
        self.blocking = False
        self.timeo: list[float | None] = [None, None]
        self.streak = [0, 0]

    def io(
        self,
        direction: Direction,
        what: str,
        timeout: float | None,
        deadline: Deadline | None,
        call: Callable[[Any, int], T],
        arg: Any,
    ) -> T:
        """``call(arg, flags)``: a receive or send of a stream or a datagram socket.

        ``call`` is the socket's own method (``recv``, ``send``), or a shared
        attempt with all its arguments but the last two bound; ``arg`` (a
        size, a buffer, an address) and ``timeout`` are already checked.
        ``deadline``, if given, bounds the call instead of ``timeout``.

        It tries first with ``MSG_DONTWAIT``, then blocks in the system
        call (flags 0) once the fd is in blocking mode, bounded by the
        kernel's timeout, after a registration that a close from another
        thread finds (``trionet._core._fdtable.check_alone`` says in what
        order). The hot path of a thread-per-connection server: a few
        attribute reads, the registration, and the call.
        """
        kernel = deadline is not None or timeout != 0
        if kernel and self.streak[direction] >= STREAK and self.blocking:
            return self.wait(direction, what, timeout, deadline, call, arg)
        try:
            result = call(arg, _DONTWAIT)
        except BlockingIOError:
            return self.not_ready(direction, what, timeout, deadline, call, arg)
        except OSError as exc:
            raise closed_error(exc, self.entry) from exc
        self.streak[direction] = 0
        return result

    def not_ready(
        self,
        direction: Direction,
        what: str,
        timeout: float | None,
        deadline: Deadline | None,
        call: Callable[[Any, int], T],
        arg: Any,
    ) -> T:
        """``io`` after its first try found the socket not ready: wait, then call again."""
        if (deadline is not None or timeout != 0) and (self.blocking or self.make_blocking()):
            return self.wait(direction, what, timeout, deadline, call, arg)
        self.streak[direction] += 1
        entry = self.entry
        try:
            return _retry(
                Call(entry, direction, timeout, what, call, arg, _DONTWAIT), deadline, 0.0
            )
        except OSError as exc:
            raise closed_error(exc, entry) from exc

    def wait(
        self,
        direction: Direction,
        what: str,
        timeout: float | None,
        deadline: Deadline | None,
        call: Callable[[Any, int], T],
        arg: Any,
    ) -> T:
        """``call(arg, 0)`` on the fd in blocking mode: for ``io``, or a call that must wait.

        Counts the call in its direction's streak: after ``STREAK`` in a
        row, calls wait at once, and every ``_PROBE``-th of those tries first
        again.
        """
        streaks = self.streak
        streak = streaks[direction] + 1
        streaks[direction] = STREAK - 1 if streak >= STREAK + _PROBE else streak
        entry = self.entry
        try:
            limit = timeout if deadline is None else _left(what, deadline)
            key = ~_get_ident()
            # add_sleeper and remove_sleeper inline, one frame each less per
            # message: register, then look at ``closed`` (``check_alone``
            # says why in that order); the rare cases go through them.
            sleepers = entry.sleepers
            sleepers[key] = direction
            if entry.closed or len(sleepers) > 1:
                _settle(entry, key, direction)
            try:
                timeo = self.timeo
                while True:
                    if timeo[direction] != limit:
                        self._set_limit(direction, limit)
                    try:
                        result = call(arg, 0)
                    except BlockingIOError:
                        limit = self._would_block(direction, what, timeout, deadline, limit)
                        continue
                    if entry.closed:
                        # What a shut-down socket returns (b"", a short count) is not data.
                        raise trio.ClosedResourceError("the socket was closed while waiting")
                    return result
            finally:
                del sleepers[key]
                if entry.closed:
                    left_closed(entry)
        except OSError as exc:
            raise closed_error(exc, entry) from exc

    def make_blocking(self) -> bool:
        """Clear the fd's ``O_NONBLOCK`` for ``io``; False for a virtual socket."""
        entry = self.entry
        if type(self.sock) is not _stdsocket.socket or entry.closed:
            return False
        os.set_blocking(entry.fd, True)
        self.blocking = True
        return True

    def _would_block(
        self,
        direction: Direction,
        what: str,
        timeout: float | None,
        deadline: Deadline | None,
        limit: float | None,
    ) -> float | None:
        """After a blocking call said ``EAGAIN``: the limit to try again with.

        Raises:
            trio.ClosedResourceError: the socket was closed meanwhile.
            Timeout: the kernel's limit ran out, and with it the time.
        """
        entry = self.entry
        if entry.closed:
            raise trio.ClosedResourceError("the socket was closed while waiting")
        if not os.get_blocking(entry.fd):
            # Another process sharing the fd (SCM_RIGHTS) made it non-blocking.
            os.set_blocking(entry.fd, True)
        elif limit is None:
            # A limit set behind compat's back (setsockopt on the socket): unset it.
            self.timeo[direction] = _UNKNOWN
        elif deadline is None:
            # The kernel waited the whole timeout (it rounds up, never down).
            raise Timeout(f"{what} timed out after {timeout:g} s")
        return limit if deadline is None else _left(what, deadline)

    def _set_limit(self, direction: Direction, limit: float | None) -> None:
        if limit is None:
            value = _NO_LIMIT
        else:
            # Clamped first: the microseconds of a huge float would be infinite.
            limit = min(limit, _MAX_SECONDS)
            seconds = int(limit)
            value = _TIMEVAL.pack(seconds, max(int((limit - seconds) * 1e6), 0 if seconds else 1))
        self.sock.setsockopt(_stdsocket.SOL_SOCKET, _TIMEO[direction], value)
        self.timeo[direction] = limit


def _settle(entry: Entry, key: int, direction: Direction) -> None:
    """What ``add_sleeper`` does after registering ``key``, for ``SyncState.wait``.

    Raises:
        trio.ClosedResourceError: ``entry`` is already closed.
        trio.BusyResourceError: another thread waits on ``entry`` the same way.
    """
    if entry.closed:
        remove_sleeper(entry, key)
        raise trio.ClosedResourceError("the socket was closed")
    try:
        check_alone(entry, key, direction)
    except trio.BusyResourceError:
        remove_sleeper(entry, key)
        raise


# compat's state of each fd it has run a call on, by number. A state whose
# entry is closed is stale: the next call on the number makes a new one.
states: dict[int, SyncState] = {}
_states_lock = threading.Lock()


def state(entry: Entry) -> SyncState:
    """compat's state of ``entry``'s fd, made on first use (or after the number's reuse)."""
    found = states.get(entry.fd)
    if found is not None and found.entry is entry:
        return found
    with _states_lock:
        found = states.get(entry.fd)
        if found is None or found.entry is not entry:
            found = states[entry.fd] = SyncState(entry)
        return found


def closed_error(exc: OSError, entry: Entry) -> Exception:
    """What an ``OSError`` of a call on ``entry`` means: a close, or itself."""
    if exc.errno == errno.EBADF or entry.closed:
        return trio.ClosedResourceError("the socket is closed")
    return exc


def block(call: Call[T], deadline: Deadline | None = None) -> T:
    """Run ``call`` to completion in this thread.

    Args:
        call: The prepared call; its ``timeout`` bounds it unless ``deadline`` is given.
        deadline: A deadline shared by several calls (``send_all``,
            ``create_client``), overriding ``call.timeout``.
    """
    entry = call.entry
    attempt, args = call.attempt, call.args
    if attempt in _IN_KERNEL:
        # The attempt's last argument before the flags is io's own.
        bound = functools.partial(attempt, *args[:-1])
        result = state(entry).io(call.direction, call.what, call.timeout, deadline, bound, args[-1])
    else:
        # An accept or a connect: never in blocking mode, which a listener,
        # or a socket that has not connected yet, would block in.
        try:
            try:
                result = attempt(*args)
            except RetryLater:
                result = _retry(call, deadline, later(0))
            except BlockingIOError:
                result = _retry(call, deadline, 0.0)
        except OSError as exc:
            raise closed_error(exc, entry) from exc
    return result


def _left(what: str, deadline: Deadline) -> float | None:
    """What is left of ``deadline`` on ``_GRID``, at least 1 µs (0 would mean no limit).

    Raises:
        Timeout: nothing is left.
    """
    left = deadline.left(what)
    if left is None:
        return None
    return max(left - left % _GRID, 1e-6) if left > _GRID else max(left, 1e-6)


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
    sleep: the back-off after ``trionet._core._attempts.RetryLater``.

    Returns whether to attempt ``call`` again: after an event on one of
    the socket's fds, or after a wake-up (``Tcp.serve``'s failing handler
    wakes its accept so that the attempt raises), but not after a time-out.
    Every attempt says itself when it would still block, a connect in
    progress included.
    """
    entry = call.entry
    direction = call.direction
    sleeper = _sleeper()
    if not watch:
        sleeper.watch((), 0)
    elif entry.extras:
        # -1: an mports listener that a close in another thread has just
        # closed; its port is gone, and the close signals the wake-up fd.
        sleeper.watch(tuple(fd for fd in entry.all_fds() if fd >= 0), _EVENTS[direction])
    elif _EVENTS[direction] == select.POLLOUT and isinstance(entry.sock, SimulatedSocket):
        # A virtual socket's fd shows "neither readable nor writable" as
        # writable (docs/design/vnet.md): poll its write fd, or spin.
        sleeper.watch((entry.sock.write_fd(),), _EVENTS[direction])
    else:
        sleeper.watch((entry.fd,), _EVENTS[direction])
    # poll() takes an int of milliseconds: a longer timeout waits in slices.
    wait = None if seconds is None else poll_ms(seconds)
    wake = sleeper.fd
    ready = sleep_on(entry, wake, direction, sleeper.poll, wait)
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
    return event or woken
