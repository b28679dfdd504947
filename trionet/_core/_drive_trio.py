"""The async driver: runs an attempt from ``trionet._core._attempts`` on trio.

Every blocking call of the fd level is ``perform(...)``:

1. a cancel point first (``checkpoint_if_cancelled``), so a cancelled caller
   never consumes data it will not see;
2. if the run's readiness layer says the fd may be ready, the system call
   at once; on success the call returns after a cancel-shielded schedule
   point only every few operations (the layer's budget), since a forced
   yield after every send and receive is much of what trio's own sockets
   spend per message;
3. otherwise, or when the system call would block: wait on the readiness
   layer inside the call's timeout scope and retry. A cancelled or
   timed-out wait has consumed nothing.

So every call is a cancel point; it is a schedule point whenever it waits
and at least once every few successful operations.
"""

from __future__ import annotations

import errno
from typing import TypeVar

import trio

from ._attempts import RetryLater, later
from ._fdtable import Entry
from ._prepare import Call
from ._readiness import Direction, FdState, current_layer
from ._timeout import Timeout, timeout_scope

__all__ = ["perform"]

T = TypeVar("T")


async def perform(call: Call[T]) -> T:
    """Run ``call.attempt(*call.args)`` until it stops raising ``BlockingIOError``."""
    await trio.lowlevel.checkpoint_if_cancelled()
    entry, direction, timeout, what = call.entry, call.direction, call.timeout, call.what
    attempt, args = call.attempt, call.args
    layer = current_layer()
    delay = 0.0
    try:
        state = layer.state(entry.fd)
        # timeout=0 promises one attempt even when the bit says "not ready".
        if state.ready[direction] or entry.extras or timeout == 0:
            try:
                result = attempt(*args)
            except RetryLater:
                delay = later(delay)
            except BlockingIOError:
                _blocked(state, direction)
            else:
                _settle(entry, state, direction)
                if layer.spend():
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return result
        if timeout == 0:
            raise Timeout(f"{what} would block (timeout=0)")
        with timeout_scope(timeout, what):
            while True:
                if delay:
                    await trio.sleep(delay)
                else:
                    # all_fds() each time: mports may change a listener's ports.
                    await layer.wait_any(entry.all_fds(), direction, entry)
                try:
                    result = attempt(*args)
                except RetryLater:
                    delay = later(delay)
                    continue
                except BlockingIOError:
                    delay = 0.0
                    for fd in entry.all_fds():
                        _blocked(layer.state(fd), direction)
                    continue
                except OSError:
                    # The wait spent the edge, yet the fd may still be ready: an
                    # accept that failed with EMFILE leaves its connection queued,
                    # and no new edge comes for it. The next call must try first.
                    state.ready[direction] = True
                    raise
                break
        _settle(entry, layer.state(entry.fd), direction)
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the socket is closed") from exc
        raise
    return result


def _blocked(state: FdState, direction: Direction) -> None:
    """After ``EAGAIN``: not ready, and no lasting condition pending either.

    An end of stream or an error would have made the call return at once,
    so a sticky bit is stale (say, an error another call already took).
    Kept, it would make every wait return at once: a retry loop without a
    checkpoint, which freezes the whole run.
    """
    state.ready[direction] = state.sticky[direction] = False


def _settle(entry: Entry, state: FdState, direction: Direction) -> None:
    """After a success: still ready, unless the attempt drained the kernel buffer."""
    if entry.drained:
        entry.drained = False
        state.clear(direction)
    else:
        state.ready[direction] = True
