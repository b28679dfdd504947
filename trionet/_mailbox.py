"""Inboxes: where a task's messages wait, and how a receiver is woken.

Theory of operation
===================

Senders run in other threads (other trio runs, or no run at all), so the
messages themselves sit in a plain ``deque`` under a ``threading.Lock``:
delivery is an append, done at once and in order, from any thread. Only the
*waiting* differs between receivers, and there are two kinds:

1. **In a trio run** (``trionet.task``). An inbox is *bound* to one run, the
   one its owner receives in; receivers there park in a
   ``trio.lowlevel.ParkingLot``, and a sender wakes them with ``unpark_all``
   directly when it runs in that same run, or else through the run's
   ``TrioToken.run_sync_soon`` (callable from any thread, including another
   run's). A wake-up cannot be lost: a receiver looks at the deque and parks
   with no checkpoint in between, and the wake-up runs in the receiver's
   run, so only at a checkpoint.
2. **In a plain thread** (``trionet.compat.task``). The receiver waits on a
   ``threading.Condition`` over the same lock, so looking and starting to
   wait are one step and a sender's ``notify_all`` (made under that lock)
   cannot fall in between. No trio portal is involved: a blocked thread is
   woken by the sender's thread directly.

Both kinds may wait on one inbox at once (the root's, when a sync thread
and a trio run both receive for it); a delivery wakes both.

Why not keep the messages in the run itself and deliver with
``run_sync_soon``? A task whose main is a plain function has no run until it
starts one (if ever), and messages sent to it before then must wait
somewhere; a message must also be either accepted or refused at the moment
it is sent, so a sender can be told (``trio.ClosedResourceError``) rather
than have it vanish later.

A run keeps an inbox bound until it ends: a system task (which only sleeps)
unbinds it when the run is torn down. A task's inbox then stays open until
``Mailbox.close`` at the task's end. The root's inbox (``persistent`` is
false) is open only while someone uses it: a run that has it bound, or sync
code inside ``Mailbox.hold`` (a ``compat`` ``open_task`` block, a
waiting ``compat`` ``recv``). When the last of them lets go it closes, so
messages left in it do not outlive their receivers, and the next user opens
it again.

Closing drains the inbox: the unclaimed handoffs of the messages still in it
are closed (``trionet._handoff.close_handoffs``). Delivery to a closed
inbox raises ``trio.ClosedResourceError``.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Literal, final

import trio

from ._core._timeout import timeout_scope
from ._handoff import close_handoffs

__all__ = ["Mailbox"]


@final
class _Binding:
    """The run an inbox is bound to, and the lot its receivers park in."""

    __slots__ = ("lot", "token")

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self.token = token
        self.lot = trio.lowlevel.ParkingLot()

    def wake(self) -> None:
        """Wake every receiver parked in this run; callable from any thread."""
        if trio.lowlevel.in_trio_run() and trio.lowlevel.current_trio_token() is self.token:
            self.lot.unpark_all()
            return
        # RunFinishedError: nobody is left to wake; the binding is being dropped.
        with contextlib.suppress(trio.RunFinishedError):
            self.token.run_sync_soon(self.lot.unpark_all, idempotent=True)


@final
class Mailbox:
    """One task's inbox of ``(msg, from_id)`` pairs (see the module docstring).

    Args:
        owner: Names the owner in error messages ("task 3 ('worker')").
        persistent: ``True`` for a task (open until ``close``), ``False``
            for the root (open only while a run has it bound).
    """

    __slots__ = (
        "_binding",
        "_changed",
        "_holds",
        "_items",
        "_lock",
        "_open",
        "_owner",
        "_persistent",
        "_sync_waiters",
    )

    def __init__(self, owner: str, *, persistent: bool) -> None:
        self._owner = owner
        self._persistent = persistent
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._sync_waiters = 0
        self._holds = 0
        self._items: deque[tuple[object, int]] = deque()
        self._binding: _Binding | None = None
        self._open = persistent

    def bind(self, *, strict: bool = True) -> _Binding | None:
        """Bind the inbox to the current run (a no-op if it already is).

        Returns:
            The binding; ``None`` if another run has it and not ``strict``.

        Raises:
            RuntimeError: another trio run has it bound (with ``strict``).
        """
        token = trio.lowlevel.current_trio_token()
        with self._lock:
            binding = self._binding
            if binding is not None:
                if binding.token is token:
                    return binding
                if not strict:
                    return None
                raise RuntimeError(
                    f"the inbox of {self._owner} belongs to another trio run; "
                    "only one run at a time can receive (or open tasks) for it"
                )
            binding = self._binding = _Binding(token)
            if not self._persistent:
                self._open = True
        trio.lowlevel.spawn_system_task(self._hold, binding, name=f"trionet inbox of {self._owner}")
        return binding

    async def _hold(self, binding: _Binding) -> None:
        """Keep ``binding`` until its run ends."""
        try:
            await trio.sleep_forever()
        finally:
            left: list[tuple[object, int]] = []
            with self._lock:
                if self._binding is binding:
                    self._binding = None
                    # Under the same lock, so a run binding it next is not closed.
                    left = self._close_if_unused()
            _close_all(left)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the inbox open for sync code meanwhile (a no-op for a task's inbox)."""
        if self._persistent:
            yield
            return
        with self._lock:
            self._holds += 1
            self._open = True
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
                left = self._close_if_unused()
            _close_all(left)

    def _close_if_unused(self) -> list[tuple[object, int]]:
        """With the lock held: close the root's inbox if nobody uses it any more."""
        if self._persistent or self._binding is not None or self._holds:
            return []
        self._open = False
        return self._take_all()

    def deliver(self, msg: object, sender: int) -> None:
        """Append a message from ``sender``; callable from any thread.

        Raises:
            trio.ClosedResourceError: the inbox is closed (the caller still
                owns the message's handoffs).
        """
        with self._lock:
            if not self._open:
                why = "has finished" if self._persistent else "has no trio run receiving"
                raise trio.ClosedResourceError(f"{self._owner} {why}; its inbox is closed")
            self._items.append((msg, sender))
            binding = self._binding
            if self._sync_waiters:
                self._changed.notify_all()
        if binding is not None:
            binding.wake()

    def wake(self) -> None:
        """Let the receivers look again (a sender they wait for has ended)."""
        with self._lock:
            binding = self._binding
            if self._sync_waiters:
                self._changed.notify_all()
        if binding is not None:
            binding.wake()

    def close(self) -> None:
        """Refuse further messages and close the handoffs of those still here."""
        with self._lock:
            self._open = False
            left = self._take_all()
        _close_all(left)

    def _take_all(self) -> list[tuple[object, int]]:
        left = list(self._items)
        self._items.clear()
        return left

    async def get(
        self,
        sender: int | None,
        timeout: float | None,
        sender_ended: Callable[[], bool] | None = None,
    ) -> tuple[object, int] | None:
        """Take the oldest message (from ``sender`` only, unless ``None``).

        Args:
            sender: The id to take messages from, or ``None`` for anyone.
            timeout: Validated seconds, or ``None``.
            sender_ended: Tells whether ``sender`` can send nothing more.

        Returns:
            ``(msg, from_id)``, or ``None`` once ``sender_ended()`` is true
            and nothing from it is left.

        Raises:
            Timeout: nothing came within ``timeout`` seconds.
            RuntimeError: another trio run has this inbox bound.
        """
        binding = self.bind()
        assert binding is not None
        await trio.lowlevel.checkpoint_if_cancelled()
        found = self._take(sender, sender_ended)
        if found is not False:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return found
        with timeout_scope(timeout, "recv"):
            while found is False:
                await binding.lot.park()
                found = self._take(sender, sender_ended)
        return found

    def get_sync(
        self,
        sender: int | None,
        left: Callable[[], float | None],
        sender_ended: Callable[[], bool] | None = None,
    ) -> tuple[object, int] | None:
        """``get`` for a plain thread: blocks it on the inbox's condition.

        Args:
            sender: As for ``get``.
            left: Seconds the caller may still wait (``None``: no limit); it
                raises ``Timeout`` when none are left.
            sender_ended: As for ``get``.
        """
        with self.hold(), self._changed:
            self._sync_waiters += 1
            try:
                while True:
                    found = self._take_locked(sender, sender_ended)
                    if found is not False:
                        return found
                    self._changed.wait(left())
            finally:
                self._sync_waiters -= 1

    def _take(
        self, sender: int | None, sender_ended: Callable[[], bool] | None
    ) -> tuple[object, int] | Literal[False] | None:
        with self._lock:
            return self._take_locked(sender, sender_ended)

    def _take_locked(
        self, sender: int | None, sender_ended: Callable[[], bool] | None
    ) -> tuple[object, int] | Literal[False] | None:
        # Ask first: a sender's messages are all in the deque before it ends.
        ended = sender_ended is not None and sender_ended()
        for index, item in enumerate(self._items):
            if sender is None or item[1] == sender:
                del self._items[index]
                return item
        return None if ended else False


def _close_all(left: list[tuple[object, int]]) -> None:
    for msg, _ in left:
        close_handoffs(msg)
