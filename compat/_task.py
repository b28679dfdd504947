"""Tasks for sync scripts: the face of ``trionet._taskcore`` without ``async``.

A task opened here is the same kind of task as one from
``trionet.task``: same ids, same inboxes, same exception policy, and
messages and handoffs pass between sync and async tasks in both
directions. Only the waiting differs. The parent leaves an ``open_task``
block by joining the task's thread; a receiver blocks its own thread on its
inbox's condition (``trionet._mailbox.Mailbox.get_sync``), woken
directly by the sender's thread — never through a trio portal.

The root's inbox has no trio run to be bound to here: it is held open while
an ``open_task`` block of root code is open and while root code waits in
``recv`` (see ``docs/compat.md``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, cast, final, overload

from trionet._core._timeout import check_timeout
from trionet._taskcore import Core, Handle, M, T, check_open_args, deliver, lookup, own, spawn

from ._drive_sync import Deadline

__all__ = ["Task", "current", "open_task", "recv", "send"]

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")


@final
class Task(Handle[T, M]):
    """The handle of a task, from ``open_task`` or ``current``.

    The same task as ``trionet.task.Task`` describes, with blocking
    methods.

    ``Task[R, M]``: ``join()`` returns ``R``, what the task's main returns;
    ``recv()`` returns ``M``, what the task sends to its opener (``Any``
    unless the opener annotates the handle; see ``docs/typing.md``).

    Attributes:
        id: Unique in the process and never reused; the root is ``0``.
        name: The task's name (also its thread's name).

    JSRE equivalent: the object ``new Task(file)`` returns.
    """

    __slots__ = ()

    def send(self, msg: object) -> None:
        """Send ``msg`` to this task; same as ``task.send(t.id, msg)``. Never blocks.

        JSRE equivalent: ``task.send(msg)``.

        Raises:
            trio.ClosedResourceError: the task has finished; the message's
                unclaimed handoffs are closed.
        """
        deliver(self._core, msg)

    def recv(self, *, timeout: float | None = None) -> M:
        """The next message this task sent to the caller (others stay queued).

        Raises:
            Timeout: nothing from this task within ``timeout`` seconds.
            trio.EndOfChannel: the task finished normally and nothing it sent
                to the caller is left.
            BaseException: the task's own exception, bare, when it failed and
                nothing it sent is left (leaving the block does not raise it
                again).
        """
        core = self._core
        found = _get(core.id, timeout, core)
        if found is None:
            core.no_more_messages()
        # Unchecked, as a memory channel's type is: the opener states ``M``.
        return cast(M, found[0])

    def join(self, *, timeout: float | None = None) -> T:
        """Block until the task finishes; return what its main returned.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as it
                takes, ``0`` only looks whether the task has finished.

        Raises:
            Timeout: the task did not finish within ``timeout`` seconds; it
                goes on running and can be joined again.
            BaseException: the task's exception, bare and unchanged (leaving
                the block does not raise it again).
            RuntimeError: called for the root or by the task itself, or the
                task was cancelled because its parent's block raised.
        """
        timeout = check_timeout(timeout)
        core = self._core
        if core.id == 0:
            raise RuntimeError("the root task cannot be joined")
        if own() is core:
            raise RuntimeError(f"task {core.id} cannot join itself")
        core.join_thread(timeout)
        return core.result()  # type: ignore[no-any-return]


def current() -> Task[Any]:
    """The handle of the task running this code; the root's (id ``0``) outside tasks.

    JSRE equivalent: ``Task.id()`` and friends, on the current task.
    """
    return Task.of(own())


def send(to_id: int, msg: object) -> None:
    """Send ``msg`` (any Python object, passed by reference) to task ``to_id``.

    Never blocks: inboxes have no limit. Messages from one sender arrive in
    the order sent. See ``trionet.task.send``.

    JSRE equivalent: ``Task.send(id, msg)``.

    Raises:
        TypeError: ``to_id`` is not an ``int``.
        ValueError: no task ever had that id (the handoffs stay the caller's).
        trio.ClosedResourceError: the task has finished, or for ``0``,
            nobody receives for the root; the message's handoffs are closed.
    """
    deliver(lookup(to_id, msg), msg)


def recv(*, timeout: float | None = None) -> tuple[Any, int]:
    """Block until a message comes to the current task, from anyone.

    JSRE equivalent: ``Task.recv()`` and ``Task.on('message', fn)``.

    Returns:
        ``(msg, from_id)``.

    Raises:
        Timeout: nothing came within ``timeout`` seconds (``0``: nothing was
            queued).
    """
    found = _get(None, timeout, None)
    assert found is not None
    return found


def _get(
    sender: int | None, timeout: float | None, ended: Core | None
) -> tuple[object, int] | None:
    deadline = Deadline(check_timeout(timeout))
    return own().mailbox.get_sync(
        sender, partial(deadline.left, "recv"), None if ended is None else ended.has_ended
    )


@overload
def open_task(
    main: Callable[[Unpack[Ts]], Awaitable[T]], *args: Unpack[Ts], name: str | None = None
) -> AbstractContextManager[Task[T]]: ...


@overload
def open_task(
    main: Callable[[Unpack[Ts]], T], *args: Unpack[Ts], name: str | None = None
) -> AbstractContextManager[Task[T]]: ...


def open_task(
    main: Callable[..., Any], *args: object, name: str | None = None
) -> AbstractContextManager[Task[Any]]:
    """Run ``main(*args)`` as a new task in a thread of its own.

    ``main`` may be a plain function (called in the new thread) or async
    (run there with ``trio.run``). Leaving the block blocks until the task
    finishes. If the block raises, an async task is cancelled first; a
    plain one cannot be and is waited for.

    JSRE equivalent: ``new Task(file)``.

    Returns:
        A context manager yielding the ``Task`` handle.

    Raises:
        TypeError: ``main`` is not callable, or ``name`` is not a ``str``.
        BaseException: on leaving the block, the task's exception, bare,
            unless ``join()`` or ``t.recv()`` already raised it. When the
            block itself raised, its exception is raised instead, with a
            note naming the task's.
    """
    check_open_args(main, name)
    return _open_task(main, args, name)


@contextmanager
def _open_task(
    main: Callable[..., Any], args: tuple[object, ...], name: str | None
) -> Iterator[Task[Any]]:
    # Held for the whole block, so the task's replies to the root land.
    with own().mailbox.hold():
        core = spawn(main, args, name, None)
        try:
            yield Task.of(core)
            core.join_thread()
        except BaseException as exc:
            core.cancel()
            core.join_thread()
            instead = core.instead_of(exc)
            if instead is not None:
                raise instead from None
            raise
        error = core.take_error()
        if error is not None:
            raise error
