"""JSRE's ``iosched``: callbacks run when fds are ready, by ``poll()`` in the calling thread.

Theory of operation. Each thread has its own scheduler (made on first
use, dropped with the thread): the events it was given with ``add``,
a ``select.poll`` object holding, per fd, the union of what its events
wait for, and the events that also expire (the private timers behind
``Tcp.create_client(callback=..., timeout=...)``). ``poll`` waits once,
in ``poll(2)``, for the first of: an fd ready, the nearest expiry, the
caller's ``timeout``. It then runs, in order, the callbacks of the events
found ready, then the expiry handlers of the timers that ran out. It is
level-triggered, as JSRE's is: an event whose fd is still ready is due
again at the next ``poll()``.

Rules, decided once (see ``docs/decisions.md``):

1. A callback returning ``False`` removes its event; any other value keeps it.
2. An event deleted while a round runs (by an earlier callback) is not run;
   an event added during a round is first due at the next ``poll()``.
3. A readiness with an error or a hang-up (``POLLERR``, ``POLLHUP``) makes
   every kind due, since a read or a write then returns at once.
4. An event whose fd was closed (``POLLNVAL``) is removed without being
   called: nothing on a closed fd can become ready.
5. An exception from a callback comes out of ``poll()``; the callbacks not
   yet run in that round stay registered and are due again next time.
6. ``poll()`` inside a callback is a ``RuntimeError`` (no nesting), and so
   is ``poll(None)`` with nothing registered, which would wait forever.
7. Events belong to the thread that added them; deleting one from another
   thread is a ``RuntimeError``.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

from trionet._core._checks import check_fd, check_int
from trionet._core._timeout import check_timeout, poll_ms

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")

__all__ = ["READ", "WRITE", "Event", "add", "delete", "event", "expiring", "forever", "poll"]

READ = select.POLLIN
"""Due when the fd has data to read, a connection to accept, or an end of stream."""

WRITE = select.POLLOUT
"""Due when the fd can take data, or a connect finished."""

_EITHER = select.POLLERR | select.POLLHUP

_local = threading.local()


@final
class Event:
    """One readiness to wait for: ``callback(*args)`` runs when ``fd`` is ready for ``kind``.

    Make one with ``event``; it waits once given to ``add``.

    JSRE equivalent: the object ``iosched.event(type, fd, callback, ...)`` returns.
    """

    __slots__ = ("_expires", "_on_expire", "_owner", "args", "callback", "fd", "kind")

    def __init__(self, kind: int, fd: int, callback: Callable[..., object], args: Any) -> None:
        self.kind = kind
        self.fd = fd
        self.callback = callback
        self.args: tuple[Any, ...] = args
        self._expires: float | None = None
        self._on_expire: Callable[[], object] | None = None
        self._owner: _Scheduler | None = None

    @property
    def added(self) -> bool:
        """Whether the event is registered (added, and not removed since)."""
        return self._owner is not None

    def __repr__(self) -> str:
        kind = "READ" if self.kind == READ else "WRITE"
        state = "added" if self._owner is not None else "not added"
        return f"<iosched.Event {kind} fd={self.fd} {self.callback!r} {state}>"


def event(kind: int, fd: int, callback: Callable[[Unpack[Ts]], object], *args: Unpack[Ts]) -> Event:
    """An event that calls ``callback(*args)`` whenever ``fd`` is ready for ``kind``.

    Args:
        kind: ``READ`` or ``WRITE``.
        fd: Any file descriptor ``poll(2)`` accepts (a socket, a pipe, ...).
        callback: Called inside ``poll``; returning ``False`` removes the event.
        *args: Passed to ``callback``.

    JSRE equivalent: ``iosched.event(iosched.READ, fd, callback, undefined, arg)``.

    Raises:
        TypeError: ``kind`` or ``fd`` is not an int, or ``callback`` is not callable.
        ValueError: ``kind`` is neither ``READ`` nor ``WRITE``, or ``fd`` is negative.
    """
    check_int("kind", kind, 0, 2**16)
    if kind not in (READ, WRITE):
        raise ValueError(f"kind must be iosched.READ or iosched.WRITE, got {kind!r}")
    check_fd("fd", fd)
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    return Event(kind, fd, callback, args)


def expiring(
    kind: int,
    fd: int,
    callback: Callable[[], object],
    at: float | None,
    on_expire: Callable[[], object],
) -> Event:
    """An event that also expires: removed, and ``on_expire()`` called, at ``at``.

    ``at`` is on ``time.monotonic``'s clock; ``None`` never expires. In a
    round where ``fd`` is ready, ``callback()`` runs and the event does not
    expire. An ``fd`` of ``-1`` is never ready: the event is a timer only.
    """
    timed = Event(kind, fd, callback, ())
    timed._expires = at
    timed._on_expire = on_expire
    return timed


class _Scheduler:
    """One thread's events and its ``select.poll`` object."""

    def __init__(self) -> None:
        self.poller = select.poll()
        self.by_fd: dict[int, list[Event]] = {}
        self.timers: set[Event] = set()
        self.count = 0
        self.polling = False

    def add(self, ev: Event) -> None:
        if ev._owner is self:
            return
        if ev._owner is not None:
            raise RuntimeError("this event was added to another thread's iosched")
        ev._owner = self
        self.count += 1
        if ev._expires is not None:
            self.timers.add(ev)
        if ev.fd >= 0:
            events = self.by_fd.setdefault(ev.fd, [])
            events.append(ev)
            self.poller.register(ev.fd, _mask(events))

    def delete(self, ev: Event) -> None:
        if ev._owner is None:
            return
        if ev._owner is not self:
            raise RuntimeError("this event belongs to another thread's iosched")
        ev._owner = None
        self.count -= 1
        self.timers.discard(ev)
        if ev.fd < 0:
            return
        events = self.by_fd[ev.fd]
        events.remove(ev)
        if events:
            self.poller.register(ev.fd, _mask(events))
        else:
            del self.by_fd[ev.fd]
            self.poller.unregister(ev.fd)

    def poll(self, timeout: float | None) -> int:
        if self.polling:
            raise RuntimeError("iosched.poll() called from inside an iosched callback")
        if timeout is None and not self.count:
            raise RuntimeError("iosched.poll() with no event added would wait forever")
        self.polling = True
        try:
            due = self._due(self.poller.poll(self._wait_ms(timeout)))
            return self._run(due) + self._expire(set(due))
        finally:
            self.polling = False

    def _wait_ms(self, timeout: float | None) -> int | None:
        if self.timers:
            nearest = min(map(_expiry, self.timers))
            left = max(0.0, nearest - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        return None if timeout is None else poll_ms(timeout)

    def _due(self, ready: list[tuple[int, int]]) -> list[Event]:
        due: list[Event] = []
        for fd, revents in ready:
            events = list(self.by_fd.get(fd, ()))
            if revents & select.POLLNVAL:
                for ev in events:
                    self.delete(ev)
                continue
            due.extend(ev for ev in events if revents & (ev.kind | _EITHER))
        return due

    def _run(self, due: list[Event]) -> int:
        ran = 0
        for ev in due:
            if ev._owner is not self:
                continue  # deleted by a callback earlier in this round
            ran += 1
            if ev.callback(*ev.args) is False:
                self.delete(ev)
        return ran

    def _expire(self, ready: set[Event]) -> int:
        now = time.monotonic()
        expired = sorted(
            (ev for ev in self.timers if ev not in ready and _expiry(ev) <= now), key=_expiry
        )
        ran = 0
        for ev in expired:
            if ev._owner is not self:
                continue  # deleted by a handler earlier in this round
            self.delete(ev)
            ran += 1
            assert ev._on_expire is not None
            ev._on_expire()
        return ran


def _expiry(ev: Event) -> float:
    assert ev._expires is not None  # only timers are asked
    return ev._expires


def _mask(events: list[Event]) -> int:
    mask = 0
    for ev in events:
        mask |= ev.kind
    return mask


def _scheduler() -> _Scheduler:
    found: _Scheduler | None = getattr(_local, "scheduler", None)
    if found is None:
        found = _local.scheduler = _Scheduler()
    return found


def add(ev: Event) -> None:
    """Start waiting for ``ev`` in this thread's scheduler; adding it again is a no-op.

    JSRE equivalent: ``iosched.add(event)``.

    Raises:
        TypeError: ``ev`` is not an ``Event``.
        RuntimeError: ``ev`` was added in another thread.
    """
    _scheduler().add(_check_event(ev))


def delete(ev: Event) -> None:
    """Stop waiting for ``ev``; deleting an event that is not added is a no-op.

    Safe inside a callback, for any event: one due later in the same round
    is then not run.

    JSRE equivalent: ``iosched.delete(event)``.

    Raises:
        TypeError: ``ev`` is not an ``Event``.
        RuntimeError: ``ev`` was added in another thread.
    """
    _scheduler().delete(_check_event(ev))


def poll(timeout: float | None = None) -> int:
    """Wait up to ``timeout`` seconds for ready events, run their callbacks once.

    ``poll(0)`` does not wait. A callback's exception comes out of here.

    JSRE equivalent: ``iosched.poll()``.

    Returns:
        How many callbacks ran; ``0`` when time ran out, or when the only
        events found were on closed fds (which are removed).

    Raises:
        RuntimeError: called from inside a callback, or with no timeout
            while no event is added (it would wait forever).
    """
    return _scheduler().poll(check_timeout(timeout))


def forever() -> None:
    """Run ``poll`` until no event is left. JSRE equivalent: ``iosched.forever()``."""
    scheduler = _scheduler()
    while scheduler.count:
        scheduler.poll(None)


def _check_event(ev: object) -> Event:
    if not isinstance(ev, Event):
        raise TypeError(f"expected an iosched.Event, not {type(ev).__name__}")
    return ev
