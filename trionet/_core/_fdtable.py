"""The process-wide table of sockets behind the integer fds of the fd level.

The fd level hands out plain ints, as JSRE does, but system calls in Python
need ``socket.socket`` objects. Each fd trionet knows has one ``Entry``
holding its socket object and the little state the fd level keeps (the EOF
flag, the backlog, the extra listeners of ``mports``). The table is shared
by every thread and every trio run, since fd numbers are: a fd handed to
another task is found there unchanged.

An fd trionet did not create (a foreign socket handed in as an int) is
adopted on first use: wrapped, made non-blocking and close-on-exec.

Ownership is explicit: ``close`` marks the entry closed, wakes every
waiter in every run (``trio.lowlevel.notify_closing`` for trio's own waits
and ``trionet._core._readiness.release`` for ours) and every thread blocked on
it in ``trionet.compat``, and only then closes. A task waiting in trio's own
``wait_readable`` / ``wait_writable`` records its run in ``Entry.trio_runs``
first, then looks at ``closed`` (the order of rule 8 of ``_readiness``). A
run can only be told from its own thread, so a close from another thread
asks each such run, through its ``TrioToken``, to ``notify_closing`` the
fd, and the last run told closes it: until then the number stays taken, so
no socket opened meanwhile can get it and have trio's stale registration
wake (or refuse) its waiters. A compat thread sleeping
in ``poll`` is woken through the wake-up fd it registered. A compat thread
blocked in the system call itself (registered under a negative key, see
``check_alone``) is woken by ``shutdown``: Linux wakes every thread blocked
in ``recv`` or ``send`` on a socket that is shut down, even an unconnected
UDP socket (which answers ``ENOTCONN`` but wakes them all the same). The
close itself then waits for the last such thread to leave the system
call: until then the fd number stays taken, so no socket opened meanwhile
can get it and be read or written by a call meant for the closed one.

Finalizers close fds through this table too (a dropped socket object, a
compat thread's wake-up fd when the thread's locals go), and the garbage
collector runs them inside whatever allocation triggers it, which may be
one in this module's own locked code. There, waiting for the table's lock
would wait for itself forever (it is not reentrant, and reentering would
break the locked code's atomicity). So a ``close`` or ``close_wake_fd``
that finds its own thread holding the lock queues itself instead, and that
thread runs the queue as soon as it lets go of the lock.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import os
import socket as _stdsocket
import threading
from collections.abc import Callable
from typing import TypeVar

import trio

from . import _readiness
from ._checks import check_fd
from ._seam import SimulatedSocket

__all__ = [
    "known",
    "Entry",
    "add_sleeper",
    "close",
    "close_socket",
    "check_alone",
    "close_wake_fd",
    "entry",
    "left_closed",
    "kind",
    "open_wake_fd",
    "let_go",
    "wake_waiters",
    "register",
    "remove_sleeper",
    "sleep_on",
    "wake_fds",
    "wake_sleepers",
]

T = TypeVar("T")

_SUPPORTED_FAMILIES = (_stdsocket.AF_INET, _stdsocket.AF_INET6, _stdsocket.AF_UNIX)
_SUPPORTED_TYPES = (_stdsocket.SOCK_STREAM, _stdsocket.SOCK_DGRAM)


class Entry:
    """What the fd level knows about one open socket fd."""

    __slots__ = (
        "backlog",
        "closed",
        "deferred",
        "eof",
        "extras",
        "fd",
        "sleepers",
        "sock",
        "stream",
        "telling",
        "trio_runs",
        "trio_waitable",
    )

    def __init__(self, sock: _stdsocket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.stream = sock.type == _stdsocket.SOCK_STREAM
        self.eof = False
        self.backlog = 0
        self.extras: list[_stdsocket.socket] = []
        self.closed = False
        # Set by a close that found threads blocked in the system call: the
        # last of them to leave closes the fd (``left_closed``).
        self.deferred = False
        # Threads blocked on this socket in compat, key -> direction: a
        # wake-up fd for a thread in ``poll``, the negative key of ``check_alone``
        # for a thread in the system call.
        self.sleepers: dict[int, _readiness.Direction] = {}
        # One item per task waiting in trio's own wait on this fd: its run,
        # for a close from another thread to tell (see the module docstring).
        self.trio_runs: list[trio.lowlevel.TrioToken] = []
        # Runs yet to hear from a ``_tell``; a deferred close waits for them.
        self.telling = 0
        # A simulated socket's fd shows "neither readable nor writable" as
        # writable, which a level-triggered wait (trio's own) would spin on;
        # the readiness layer's edges show it.
        self.trio_waitable = not isinstance(sock, SimulatedSocket)

    def all_fds(self) -> tuple[int, ...]:
        """The fd and those of its ``mports`` listeners."""
        extras = self.extras
        if not extras:
            return (self.fd,)
        return (self.fd, *[extra.fileno() for extra in extras])


_entries: dict[int, Entry] = {}
_lock = threading.Lock()
# The ident of the thread holding _lock, set and cleared by that thread
# only: another thread can never read its own ident here by mistake.
_holder: int | None = None
# Closes a finalizer asked for inside the locked code of its own thread.
_deferred: collections.deque[Callable[[], None]] = collections.deque()


class _Locked:
    """``with _locked:`` holds the table's lock, then runs the closes queued meanwhile."""

    __slots__ = ()

    def __enter__(self) -> None:
        global _holder
        me = threading.get_ident()
        if _holder == me:
            # Only close and close_wake_fd may be reached from a finalizer;
            # anything else re-entering would deadlock here: say so instead.
            raise RuntimeError("trionet._core._fdtable was re-entered from inside its locked code")
        _lock.acquire()
        _holder = me

    def __exit__(self, *exc_info: object) -> None:
        global _holder
        _holder = None
        _lock.release()
        while _deferred:
            try:
                work = _deferred.popleft()
            except IndexError:  # another thread ran the last one first
                return
            # The finalizer that asked for it would have had an OSError ignored.
            with contextlib.suppress(OSError):
                work()


_locked = _Locked()


def _in_locked_code() -> bool:
    """Whether this thread holds the table's lock: a finalizer run inside it must not wait."""
    return _holder == threading.get_ident()


# compat's per-thread wake-up fds: they live as long as their thread, so the
# fd-leak check of trionet.testing leaves them out.
_wake_fds: set[int] = set()


def sleep_on(
    target: Entry,
    wake_fd: int,
    direction: _readiness.Direction,
    poll: Callable[[int | None], T],
    wait: int | None,
) -> T:
    """``poll(wait)``, registered meanwhile as a sleeper on ``target`` that ``close`` wakes.

    For compat's threads: ``wake_fd`` is the calling thread's wake-up fd,
    which ``poll`` watches beside ``target``'s fds; ``close`` signals it.
    Without the table's lock, which measured a tenth of a stdlib round
    trip here: each step is one atomic dict operation, ordered so that
    nothing is missed (the sleeper registers, then looks at ``closed``;
    ``close`` sets ``closed``, then signals whoever is registered). The
    lock still keeps ``close`` from writing to a wake-up fd that has been
    closed (see ``close_wake_fd``).

    Raises:
        trio.ClosedResourceError: ``target`` is already closed.
        trio.BusyResourceError: another thread waits to read (or to write)
            ``target``. Threads may share a listener, as with the stdlib:
            each accepted connection goes to one of them whole.
    """
    add_sleeper(target, wake_fd, direction)
    try:
        return poll(wait)
    finally:
        remove_sleeper(target, wake_fd)


def add_sleeper(target: Entry, key: int, direction: _readiness.Direction) -> None:
    """Register the calling thread as about to block on ``target``, for ``close`` to find.

    ``key`` is the thread's wake-up fd while it sleeps in ``poll``, or a
    negative key while it blocks in the system call (see ``check_alone``).
    The caller calls ``remove_sleeper`` when it leaves; a failed
    registration has removed itself.

    Raises:
        trio.ClosedResourceError: ``target`` is already closed.
        trio.BusyResourceError: another thread waits on ``target`` the same way.
    """
    sleepers = target.sleepers
    sleepers[key] = direction
    if target.closed:
        remove_sleeper(target, key)
        raise trio.ClosedResourceError("the socket was closed")
    if len(sleepers) > 1:
        try:
            check_alone(target, key, direction)
        except trio.BusyResourceError:
            remove_sleeper(target, key)
            raise


def remove_sleeper(target: Entry, key: int) -> None:
    """The thread of ``key`` has left ``target``; the last out of a closed one closes it."""
    del target.sleepers[key]
    if key < 0 and target.closed:
        left_closed(target)


def _came_second(target: Entry, wake_fd: int, direction: _readiness.Direction) -> bool:
    """Whether a thread registered before ``wake_fd`` waits the same way on a non-listener.

    Dicts keep insertion order: of two threads racing to wait, the first to
    register keeps waiting and the second fails, whichever checks first.
    """
    for fd, way in list(target.sleepers.items()):
        if fd == wake_fd:
            return False
        if way == direction:
            return not _listening(target)
    return False


def wake_sleepers(target: Entry) -> None:
    """Make the threads blocked on ``target`` in compat look at it again."""
    with _locked:
        _wake_sleepers(target)


def _wake_sleepers(target: Entry) -> bool:
    """Signal the threads in ``poll``; return whether any is in the system call."""
    in_kernel = False
    # A copy: sleepers come and go without the lock, and a write lets them run.
    for key in list(target.sleepers):
        if key >= 0:
            os.eventfd_write(key, 1)
        else:
            in_kernel = True
    return in_kernel


def check_alone(target: Entry, key: int, direction: _readiness.Direction) -> None:
    """For a thread just registered as ``key``: fail if another one waits the same way.

    compat's call that blocks in the kernel registers in ``target.sleepers``
    itself (a negative key, its thread's), in the same order as
    ``sleep_on``, so that no close is missed: register, then look at
    ``closed``; ``close`` sets ``closed``, then looks at who is registered
    and shuts the socket down if one is in the kernel. A system call
    started after the shutdown returns at once. It calls this when it is
    not alone, and ``left_closed`` when it leaves a closed socket.

    Raises:
        trio.BusyResourceError: another thread waits to read (or to write) ``target``.
    """
    if _came_second(target, key, direction):
        verb = "receiving on" if direction == _readiness.READ else "sending on"
        raise trio.BusyResourceError(f"another thread is already {verb} this socket")


def left_closed(target: Entry) -> None:
    """A thread has left the kernel on closed ``target``: the last one out closes it."""
    with _locked:
        # A copy: sleepers come and go without the lock.
        in_kernel = any(other < 0 for other in list(target.sleepers))
        if not target.deferred or target.telling or in_kernel:
            return
        target.deferred = False
    _close_entry(target)


def _other_runs(target: Entry) -> list[trio.lowlevel.TrioToken]:
    """The runs, other than the caller's, with a task in trio's own wait on ``target``."""
    here = trio.lowlevel.current_trio_token() if trio.lowlevel.in_trio_run() else None
    # A copy: waiters come and go without the lock.
    return [run for run in dict.fromkeys(target.trio_runs) if run is not here]


def _tell(target: Entry, runs: list[trio.lowlevel.TrioToken]) -> int:
    """Ask each of ``runs`` to wake its waits on closed ``target``; how many will."""
    told = 0
    for run in runs:
        # A finished run has no task left waiting.
        with contextlib.suppress(trio.RunFinishedError):
            run.run_sync_soon(_told, target)
            told += 1
    return told


def _told(target: Entry) -> None:
    """In a run that waited on closed ``target``: wake those waits; the last told closes it."""
    trio.lowlevel.notify_closing(target.fd)
    with _locked:
        target.telling -= 1
    left_closed(target)


def open_wake_fd() -> int:
    """A new wake-up fd for a compat thread (an ``eventfd``), recorded as one."""
    fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    with _locked:
        _wake_fds.add(fd)
    return fd


def wake_fds() -> frozenset[int]:
    """The wake-up fds of compat's threads that are open now."""
    with _locked:
        return frozenset(_wake_fds)


def close_wake_fd(wake_fd: int) -> None:
    """Close a compat thread's wake-up fd, no longer registered by ``sleep_on``.

    Under the table's lock, as ``close`` signals the sleepers it found
    registered: one of them may have woken up and left meanwhile, but its
    fd stays open (a stray wake-up is harmless) until that signal is
    written, never to be closed and reused by someone else before.

    From a finalizer run inside the table's locked code, the close waits in
    a queue until that code lets go of the lock.
    """
    if _in_locked_code():
        _deferred.append(functools.partial(close_wake_fd, wake_fd))
        return
    with _locked:
        _wake_fds.discard(wake_fd)
        os.close(wake_fd)


def _listening(target: Entry) -> bool:
    return bool(target.sock.getsockopt(_stdsocket.SOL_SOCKET, _stdsocket.SO_ACCEPTCONN))


def register(sock: _stdsocket.socket) -> Entry:
    """Record a new non-blocking socket that trionet just created."""
    new = Entry(sock)
    # A number can only be stale here if someone closed it behind our back.
    # Other runs' trio may keep the old file registered under it, and would
    # refuse (or never wake) a wait on the new socket: they drop it when
    # told. A task of theirs that starts waiting on the new socket before
    # they are told is woken too: the price of a close behind our back,
    # against a wait refused or never woken. A fresh number needs only the
    # layers told: its last close dropped it from this run's trio already.
    if _entries.get(new.fd) is None:
        _readiness.release(new.fd)
    else:
        let_go(new.fd)
    orphans: list[_stdsocket.socket] = []
    with _locked:
        stale = _entries.get(new.fd)
        if stale is not None:
            # Whoever keeps state by fd number (compat's driver) must see that
            # it is someone else's now.
            stale.closed = True
            # A thread in ``poll`` watches the old file, which nothing will
            # ever make ready: wake it as close would, to find it closed. A
            # thread in the system call cannot be: shutting the number down
            # would shut down the new socket.
            _wake_sleepers(stale)
            # Nor may its socket object, once dropped, close the number: a
            # call still holding it now fails with EBADF, as on a closed fd.
            stale.sock.detach()
            # Its ``mports`` listeners have numbers of their own, still
            # open: a listener whose main fd is gone serves nobody.
            orphans, stale.extras = stale.extras, []
        _entries[new.fd] = new
    for orphan in orphans:
        close_socket(orphan)
    return new


def entry(fd: object) -> Entry:
    """The entry of ``fd``, adopting a socket trionet has not seen yet.

    Raises:
        TypeError: ``fd`` is not an int.
        ValueError: ``fd`` is negative, or not a socket of a supported kind.
        trio.ClosedResourceError: ``fd`` is not open.
    """
    found = _entries.get(fd) if type(fd) is int else None
    if found is not None and not found.closed:
        return found
    return _adopt(check_fd("fd", fd))


def known(fd: object) -> Entry | None:
    """The open entry of ``fd`` if trionet already has one, else ``None`` (no adoption)."""
    found = _entries.get(fd) if type(fd) is int else None
    return found if found is not None and not found.closed else None


def kind(fd: object) -> tuple[int, int]:
    """The family and type of socket ``fd``, without adopting it.

    ``create_by_fd`` looks before it adopts: an fd it rejects must stay as
    the caller left it, blocking mode included, and must leave no entry
    behind whose socket object would close the number again (by then
    perhaps someone else's) after the caller closed it.

    Raises:
        TypeError: ``fd`` is not an int.
        ValueError: ``fd`` is negative or not a socket.
        trio.ClosedResourceError: ``fd`` is not open.
    """
    fd = check_fd("fd", fd)
    found = _entries.get(fd)
    if found is not None:
        if found.closed:
            raise trio.ClosedResourceError(f"fd {fd} is being closed")
        return found.sock.family, found.sock.type
    probe = _wrap(fd)
    try:
        return probe.family, probe.type
    finally:
        probe.detach()


def _wrap(fd: int) -> _stdsocket.socket:
    try:
        return _stdsocket.socket(fileno=fd)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError(f"fd {fd} is not open") from None
        if exc.errno == errno.ENOTSOCK:
            raise ValueError(f"fd {fd} is not a socket") from None
        raise


def _adopt(fd: int) -> Entry:
    fd = int(fd)
    with _locked:
        found = _entries.get(fd)
        if found is not None:
            if found.closed:
                raise trio.ClosedResourceError(f"fd {fd} is being closed")
            return found
        sock = _wrap(fd)
        if sock.family not in _SUPPORTED_FAMILIES or sock.type not in _SUPPORTED_TYPES:
            sock.detach()
            raise ValueError(
                f"fd {fd} is a {sock.family!r} {sock.type!r} socket; "
                "trionet handles AF_INET, AF_INET6 and AF_UNIX stream and datagram sockets"
            )
        sock.setblocking(False)
        os.set_inheritable(fd, False)
        new = _entries[fd] = Entry(sock)
        _readiness.release(fd)
        return new


def wake_waiters(fd: int) -> None:
    """Wake, with ``trio.ClosedResourceError``, every task waiting on ``fd`` that may be woken here.

    That is its waiters in every run's readiness layer, and those in trio's
    own waits of the calling run; another run's own waits are told by
    ``close`` (see the module docstring).
    """
    _readiness.release(fd)
    if trio.lowlevel.in_trio_run():
        trio.lowlevel.notify_closing(fd)


def let_go(fd: int) -> None:
    """Wake every task waiting on ``fd``, in every run: it leaves them (a handoff).

    The fd stays open. Other runs are told through their ``TrioToken``.
    """
    wake_waiters(fd)
    found = _entries.get(fd)
    if found is not None:
        with _locked:
            found.telling += _tell(found, _other_runs(found))


def close_socket(sock: _stdsocket.socket) -> None:
    """Wake every waiter on ``sock`` this thread may wake, then close it."""
    wake_waiters(sock.fileno())
    sock.close()


def close(fd: object) -> None:
    """Close ``fd`` and its ``mports`` listeners, waking every waiter; twice is a no-op.

    From a finalizer run inside the table's locked code (a socket object
    dropped unclosed, collected there), the close waits in a queue until
    that code lets go of the lock.
    """
    fd = check_fd("fd", fd)
    if _in_locked_code():
        _deferred.append(functools.partial(close, fd))
        return
    with _locked:
        gone = _entries.get(fd)
        if gone is not None:
            if gone.closed:
                return  # another thread is closing it right now
            gone.closed = True
            in_kernel = _wake_sleepers(gone)
            gone.telling += _tell(gone, _other_runs(gone))
            if in_kernel or gone.telling:
                # Threads are blocked in a system call on it, or other runs
                # wait on it: wake them, and leave the close to the last of
                # them (``left_closed``).
                gone.deferred = True
                if in_kernel:
                    with contextlib.suppress(OSError):  # ENOTCONN: it wakes them anyway
                        gone.sock.shutdown(_stdsocket.SHUT_RDWR)
                return
    if gone is None:
        _readiness.release(fd)
        try:
            os.close(fd)
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
        return
    _close_entry(gone)


def _close_entry(gone: Entry) -> None:
    # The entry stays, marked closed, until its sockets are: a call racing
    # this close must fail, not adopt the dying number afresh (its socket
    # object would later close whoever gets the number next).
    fd = gone.fd
    try:
        for extra in gone.extras:
            close_socket(extra)
        close_socket(gone.sock)
    finally:
        with _locked:
            if _entries.get(fd) is gone:
                del _entries[fd]
