"""The async driver: runs an attempt from ``trionet._core._attempts`` on trio.

Every blocking call of the fd level is ``perform(...)``:

1. a cancel point first (``checkpoint_if_cancelled``), so a cancelled caller
   never consumes data it will not see;
2. the system call at once. On success the call returns after a
   cancel-shielded schedule point only every few operations (the budget),
   since a forced yield after every send and receive is much of what
   trio's own sockets spend per message. Nothing else is touched: no
   readiness state, no run-local lookup;
3. when the system call would block: wait inside the call's timeout
   scope and retry. A cancelled or timed-out wait has consumed nothing.
   The call that succeeds then spends the budget too: a wait on the
   readiness layer returns without a schedule point when the edge is
   already in its epoll (the peer answered between the system call and
   the wait), and calls that always find it so would otherwise never yield.

So every call is a cancel point; it is a schedule point whenever it sleeps
and at least once every few successful operations.

Which wait: trio's own ``wait_readable`` / ``wait_writable`` on the fd, as
raw trio's sockets do. Measured against the readiness layer on the fd
level's echo server (50 connections, one CPU), it served 3-10 % more round
trips: the layer's hand-offs between leader and followers cost more than
the ``epoll_ctl`` they save. The layer stays for what only it can do: an
accept waits on every port of an ``mports`` listener, and is woken to
retry when they change; a simulated socket's fd shows its readiness only
as edges (``Entry.trio_waitable``); and ``perform_tracked`` keeps ready
bits, read by net's transport and its inline readers.

``perform_tracked`` is the same for a caller that also reads the
readiness layer's ready bits itself, as ``net``'s transport does to write
and read inline (``try_send``, ``try_read``): it tries the system call only
when the bit says it may succeed, and keeps the bit exactly (rule 2 of
``trionet._core._readiness``, through ``FdState.moved`` and
``FdState.blocked``). The fd level has no such reader, so it keeps no bits:
a stale bit would only ever cost its wait one failed system call.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from ._attempts import RetryLater, later
from ._fdtable import Entry
from ._prepare import Call
from ._readiness import READ, Direction, FdState, Layer, current_layer, spend
from ._timeout import Timeout, timeout_scope

__all__ = ["perform", "perform_tracked", "perform_untimed"]

T = TypeVar("T")
Moved = TypeVar("Moved", bytes, int)


async def perform(call: Call[T]) -> T:
    """Run ``call.attempt(*call.args)`` until it stops raising ``BlockingIOError``.

    Raises:
        Timeout: ``call.timeout`` ran out (``0``: the one attempt would block).
        trio.ClosedResourceError: the socket was closed, before or while waiting.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        result = call.attempt(*call.args)
    except RetryLater:
        delay = later(0.0)
    except BlockingIOError:
        delay = 0.0
    except OSError as exc:
        _raise_if_closed(exc)
        raise
    else:
        if spend():
            await trio.lowlevel.cancel_shielded_checkpoint()
        return result
    result = await _wait_and_retry(call, delay)
    if spend():
        await trio.lowlevel.cancel_shielded_checkpoint()
    return result


async def perform_untimed(
    entry: Entry, direction: Direction, what: str, attempt: Callable[..., T], *args: Any
) -> T:
    """``perform`` of a call with no timeout whose arguments are already checked.

    The ``Call`` is built only when the first attempt would block: on the
    fast path (data ready) it is a cancel point, the system call and the
    budget, which is the whole cost ``perform`` adds to a bare system call.

    Raises:
        trio.ClosedResourceError: the socket was closed, before or while waiting.
    """
    # perform's first attempt, written again: a helper shared by both would
    # put one more frame on every call of the fd level's hottest path.
    await trio.lowlevel.checkpoint_if_cancelled()
    try:
        result = attempt(*args)
    except RetryLater:
        delay = later(0.0)
    except BlockingIOError:
        delay = 0.0
    except OSError as exc:
        _raise_if_closed(exc)
        raise
    else:
        if spend():
            await trio.lowlevel.cancel_shielded_checkpoint()
        return result
    if delay or not entry.trio_waitable:
        result = await _wait_and_retry(Call(entry, direction, None, what, attempt, *args), delay)
    else:
        # The common slow path (data not there yet), kept free of a Call too.
        while True:
            await _own_wait(entry, direction)
            try:
                result = attempt(*args)
            except BlockingIOError:
                continue
            except OSError as exc:
                _raise_if_closed(exc)
                raise
            break
    if spend():
        await trio.lowlevel.cancel_shielded_checkpoint()
    return result


async def perform_tracked(call: Call[Moved], state: FdState, asked: int) -> Moved:
    """``perform``, keeping ``state``'s ready bits for a caller that reads them.

    ``state`` is the readiness state of ``call.entry.fd`` in this run;
    ``asked`` is how many bytes the call asks to move: a result of fewer,
    but not none (the kernel buffer ran dry or full), clears the bit, so
    the next call waits instead of making a system call bound to fail.
    With ``call.timeout`` 0 the call is tried whatever the bit says, as
    ``perform`` tries it: that one attempt is all it may make.

    Raises:
        Timeout: ``call.timeout`` ran out (``0``: the one attempt would block).
        trio.ClosedResourceError: the socket was closed, before or while waiting.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    direction = call.direction
    delay = 0.0
    if state.ready[direction] or call.timeout == 0:
        try:
            result = call.attempt(*call.args)
        except RetryLater:
            delay = later(0.0)
        except BlockingIOError:
            pass
        except OSError as exc:
            _raise_if_closed(exc)
            raise
        else:
            state.moved(direction, _short(result, asked))
            if spend():
                await trio.lowlevel.cancel_shielded_checkpoint()
            return result
    result = await _wait_and_retry(call, delay, tracked=True)
    # No checkpoint since the attempt: no edge that came meanwhile is wiped out.
    state.moved(direction, _short(result, asked))
    if spend():
        await trio.lowlevel.cancel_shielded_checkpoint()
    return result


def _short(result: bytes | int, asked: int) -> bool:
    """Whether a call moved some bytes but fewer than ``asked``.

    None is the end of a stream, which stays readable: a virtual socket's
    fd cannot show the hang-up that makes the bit sticky.
    """
    moved = len(result) if isinstance(result, bytes) else result
    return 0 < moved < asked


async def _wait_and_retry(call: Call[T], delay: float, tracked: bool = False) -> T:
    """The slow path: the first attempt would block; wait (or sleep ``delay``) and retry.

    On the readiness layer when the call is ``tracked`` (``perform_tracked``),
    accepts on a listener, or cannot use trio's own wait; else on trio's
    own (see the module docstring). The caller spends the budget on the
    result, after anything it must do before a checkpoint.
    """
    if call.timeout == 0:
        raise Timeout(f"{call.what} would block (timeout=0)")
    entry, direction, attempt, args = call.entry, call.direction, call.attempt, call.args
    layered = tracked or call.listener or not entry.trio_waitable
    layer = current_layer() if layered else None
    try:
        with timeout_scope(call.timeout, call.what):
            while True:
                if delay:
                    await trio.sleep(delay)
                elif layer is None:
                    await _own_wait(entry, direction)
                else:
                    # all_fds() each time: mports may change a listener's ports.
                    fds = entry.all_fds()
                    # No checkpoint between the EAGAIN and the wait (rule 4).
                    for fd in fds:
                        layer.state(fd).blocked(direction)
                    await layer.wait_any(fds, direction, entry)
                try:
                    result = attempt(*args)
                except RetryLater:
                    delay = later(delay)
                except BlockingIOError:
                    delay = 0.0
                except OSError:
                    if layer is not None:
                        _took_edge(layer, entry.fd, direction)
                    raise
                else:
                    break
    except OSError as exc:
        _raise_if_closed(exc)
        raise
    if layer is not None:
        _took_edge(layer, entry.fd, direction)
    return result


async def _own_wait(entry: Entry, direction: Direction) -> None:
    """Sleep in trio's own wait until ``entry``'s fd may be ready for ``direction``.

    Recorded in ``entry.trio_runs`` first, then a look at ``entry.closed``,
    then the wait, with no checkpoint in between: a close from another
    thread either is seen here or finds the record and has this run told
    (``trionet._core._fdtable``), so none is slept through.

    Raises:
        trio.ClosedResourceError: the socket was closed, before or while waiting.
        trio.BusyResourceError: another task waits on it the same way.
    """
    run = trio.lowlevel.current_trio_token()
    runs = entry.trio_runs
    runs.append(run)
    try:
        if entry.closed:
            raise trio.ClosedResourceError("the socket was closed while waiting on it")
        if direction == READ:
            await trio.lowlevel.wait_readable(entry.fd)
        else:
            await trio.lowlevel.wait_writable(entry.fd)
    finally:
        runs.remove(run)


def _took_edge(layer: Layer, fd: int, direction: Direction) -> None:
    """After the attempt that followed a wait: may be ready, whatever it returned or raised.

    The wait took the edge, and only an ``EAGAIN`` proves the fd not ready.
    A bit left clear would put the next tracked call to sleep for an edge
    that never comes: net's writer after a connect, a read after a reset
    (a virtual socket shows no hang-up), an accept that failed with
    ``EMFILE`` while its connection stays queued.

    Only ``entry.fd``: the bits are read by net's transport alone, on its
    connected stream's one fd. The other fds a call waits on are an
    ``mports`` listener's, waited on by ``perform``, which tries every
    one before it waits and resets their bits (``blocked``) then. An
    accepted fd starts afresh, ready both ways: ``register`` releases
    its number from every layer.
    """
    with contextlib.suppress(trio.ClosedResourceError):
        layer.state(fd).moved(direction, False)


def _raise_if_closed(exc: OSError) -> None:
    """``EBADF``: another task closed the socket; say so as trio does."""
    if exc.errno == errno.EBADF:
        raise trio.ClosedResourceError("the socket is closed") from exc
