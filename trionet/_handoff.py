"""``Handoff``: an fd travelling in a message from one task to another.

An fd is owned by exactly one holder at a time (STYLE 6: handoff is detach,
then adopt). Making a ``Handoff`` detaches the fd from the sending run (its
readiness layer stops watching it); ``claim()`` gives it to the receiver,
once. Until it is claimed the ``Handoff`` owns the fd, so when nobody will
ever claim it the ``Handoff`` closes it:

1. the message could not be delivered (the receiver had already ended);
2. the receiving task ended with the message still in its inbox (the inbox
   is drained, see ``close_handoffs`` for which objects are looked at);
3. last resort: it is garbage-collected unclaimed, with a
   ``ResourceWarning`` (the fd level's "file descriptor recycling").

Closing goes through ``trionet.socket.close``, so the fd table and every
run's readiness layer forget the fd before its number can be reused.
"""

from __future__ import annotations

import threading
import warnings
from typing import Final, final

import trio

from ._core._checks import check_fd
from ._core._fdtable import let_go
from ._fd_basic import close as _close

__all__ = ["Handoff", "close_handoffs"]

_HELD: Final = "held"
_CLAIMED: Final = "claimed"
_CLOSED: Final = "closed"

# Claims may race between threads (a Handoff reachable from two tasks).
_lock = threading.Lock()


@final
class Handoff:
    """An fd carried in a task message; the receiver takes it with ``claim``.

    Making one detaches ``fd`` from the current run: the run's readiness
    layer forgets it, and tasks of any run blocked on it wake with
    ``trio.ClosedResourceError``. Do not use the fd yourself after that; it
    belongs to the ``Handoff`` until claimed.

    ``Handoff(tcp.fly_away())`` hands over a ``trionet.tcp.Tcp``;
    the receiver rebuilds it with ``Tcp.create_by_fd(handoff.claim())``.

    A handoff that is never claimed is closed: when its message cannot be
    delivered, when the receiving task ends with it still in its inbox, and
    as a last resort when it is garbage-collected (with a
    ``ResourceWarning``).

    JSRE equivalent: ``{ sockFd: tcp.sockFd }`` in ``Task.send`` followed by
    ``tcp.flyAway()``.

    Args:
        fd: The file descriptor to hand over.

    Raises:
        TypeError: ``fd`` is not an ``int`` (``bool`` is refused).
        ValueError: ``fd`` is negative.
    """

    __slots__ = ("__weakref__", "_fd", "_state")

    def __init__(self, fd: int) -> None:
        self._state = _CLOSED  # until validated, so __del__ has nothing to do
        self._fd = check_fd("fd", fd)
        let_go(self._fd)
        self._state = _HELD

    @property
    def fd(self) -> int:
        """The fd number carried (for logs; use ``claim`` to take it)."""
        return self._fd

    @property
    def claimed(self) -> bool:
        """Whether ``claim`` has given the fd away."""
        return self._state == _CLAIMED

    @property
    def closed(self) -> bool:
        """Whether the fd was closed because nobody claimed it."""
        return self._state == _CLOSED

    def claim(self) -> int:
        """Take the fd: the caller owns it from now on (and must close it).

        Returns:
            The fd, for ``trionet.socket`` functions or
            ``Tcp.create_by_fd`` / ``Udp.create_by_fd``.

        Raises:
            RuntimeError: the handoff was already claimed.
            trio.ClosedResourceError: the fd was closed because the message
                could not be delivered, or its receiver ended without
                claiming it.
        """
        with _lock:
            state = self._state
            if state == _HELD:
                self._state = _CLAIMED
                return self._fd
        if state == _CLAIMED:
            raise RuntimeError(f"the handoff of fd {self._fd} was already claimed")
        raise trio.ClosedResourceError(
            f"the handoff of fd {self._fd} was closed: nobody claimed it before "
            "its receiver ended or its message was refused"
        )

    def close(self) -> None:
        """Close the fd unless it was claimed; twice (or after a claim) is a no-op."""
        with _lock:
            if self._state != _HELD:
                return
            self._state = _CLOSED
        _close(self._fd)

    def __del__(self) -> None:
        if self._state == _HELD:
            warnings.warn(
                f"Handoff of fd {self._fd} was never claimed; closing the fd",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
            self.close()

    def __repr__(self) -> str:
        return f"<Handoff fd={self._fd} {self._state}>"


def close_handoffs(msg: object) -> None:
    """Close the unclaimed handoffs of a message nobody will read.

    The walk is shallow, so it costs nothing for ordinary messages: the
    message itself, the items of a ``list`` or ``tuple``, and the values of a
    ``dict``. A ``Handoff`` nested deeper is closed only when it is
    garbage-collected (with a ``ResourceWarning``).
    """
    if isinstance(msg, Handoff):
        msg.close()
        return
    items: list[object]
    if isinstance(msg, dict):
        items = list(msg.values())
    elif isinstance(msg, (list, tuple)):
        items = list(msg)
    else:
        return
    for item in items:
        if isinstance(item, Handoff):
            item.close()
