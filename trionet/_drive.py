"""The async driver: runs an attempt from :mod:`trionet._ops` on trio.

Every blocking call of the fd level is ``perform(...)``:

1. a cancel point first (``checkpoint_if_cancelled``), so a cancelled caller
   never consumes data it will not see;
2. the system call, at once; on success the call returns after a
   cancel-shielded schedule point only every few operations (the readiness
   layer's budget), since a forced yield after every send and receive is
   most of what trio's own sockets spend per message;
3. only when the system call would block: wait on the run's readiness layer
   inside the call's timeout scope and retry. A cancelled or timed-out wait
   has consumed nothing.

So every call is a cancel point; it is a schedule point whenever it waits
and at least once every few successful operations.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TypeVar

import trio

from ._readiness import current_layer
from ._timeout import Timeout, timeout_scope

__all__ = ["perform"]

T = TypeVar("T")


async def perform(
    fds: int | tuple[int, ...],
    want: int,
    timeout: float | None,
    what: str,
    attempt: Callable[..., T],
    *args: object,
) -> T:
    """Run ``attempt(*args)`` until it stops raising ``BlockingIOError``.

    Args:
        fds: The fd to wait on, or several (the first ready one wakes us).
        want: ``READ`` or ``WRITE`` from :mod:`trionet._readiness`.
        timeout: Validated seconds, or ``None``; ``0`` tries once.
        what: Names the operation in the ``Timeout`` message.
        attempt: The non-blocking system call.
        args: Its arguments.
    """
    await trio.lowlevel.checkpoint_if_cancelled()
    layer = current_layer()
    try:
        try:
            result = attempt(*args)
        except BlockingIOError:
            if timeout == 0:
                raise Timeout(f"{what} would block (timeout=0)") from None
            with timeout_scope(timeout, what):
                while True:
                    if isinstance(fds, int):
                        await layer.wait(fds, want)
                    else:
                        await layer.wait_any(fds, want)
                    try:
                        return attempt(*args)
                    except BlockingIOError:
                        continue
    except OSError as exc:
        if exc.errno == errno.EBADF:
            raise trio.ClosedResourceError("the socket is closed") from exc
        raise
    if layer.spend():
        await trio.lowlevel.cancel_shielded_checkpoint()
    return result
