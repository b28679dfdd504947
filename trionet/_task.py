"""Tasks: a ``trio.run`` in a thread of its own, with an inbox (JSRE ``Task``).

The async face of ``trionet._taskcore``, which holds what a task is and
how it runs (its theory of operation is there). Here the parent waits in its
own trio run: leaving an ``open_task`` block waits on an event the task's
thread sets through the parent's ``TrioToken``, and receiving parks in the
inbox's binding to the caller's run (``trionet._mailbox``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, cast, final, overload

import trio

from ._core._timeout import check_timeout, timeout_scope
from ._taskcore import Core, Handle, M, T, check_open_args, deliver, lookup, own, spawn

__all__ = ["Task", "current", "open_task", "recv", "send"]

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    Ts = TypeVarTuple("Ts")


@final
class Task(Handle[T, M]):
    """The handle of a task, from ``open_task`` or ``current``.

    ``Task[R, M]``: ``join()`` returns ``R``, what the task's main returns;
    ``recv()`` returns ``M``, what the task sends to its opener (``Any``
    unless the opener annotates the handle; see ``docs/typing.md``).

    Attributes:
        id: Unique in the process and never reused; the root is ``0``.
        name: The task's name (also its thread's name).

    JSRE equivalent: the object ``new Task(file)`` returns.
    """

    __slots__ = ()

    async def send(self, msg: object) -> None:
        """Send ``msg`` to this task; same as ``task.send(t.id, msg)``.

        JSRE equivalent: ``task.send(msg)``.

        Raises:
            trio.ClosedResourceError: the task has finished; the message's
                unclaimed handoffs are closed.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        deliver(self._core, msg)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def recv(self, *, timeout: float | None = None) -> M:
        """The next message this task sent to the caller (others stay queued).

        Returns:
            The message (the sender is this task by definition).

        Raises:
            Timeout: nothing from this task within ``timeout`` seconds.
            trio.EndOfChannel: the task finished normally and nothing it sent
                to the caller is left.
            BaseException: the task's own exception, bare, when it failed and
                nothing it sent is left (it is then reported: leaving the
                ``open_task`` block does not raise it again).
            RuntimeError: another trio run receives for the caller (see
                ``recv``).
        """
        timeout = check_timeout(timeout)
        core = self._core
        found = await own().mailbox.get(core.id, timeout, core.has_ended)
        if found is None:
            core.no_more_messages()
        # Unchecked, as a memory channel's type is: the opener states ``M``.
        return cast(M, found[0])

    async def join(self, *, timeout: float | None = None) -> T:
        """Wait for the task to finish and return what its main returned.

        Args:
            timeout: Seconds to wait at most; ``None`` waits as long as it
                takes, ``0`` only looks whether the task has finished.

        Raises:
            Timeout: the task did not finish within ``timeout`` seconds; it
                goes on running and can be joined again.
            BaseException: the task's exception, bare and unchanged (it is
                then reported: leaving the block does not raise it again).
            RuntimeError: called for the root, or from another trio run than
                the one that opened the task (a task cannot join itself), or
                the task was cancelled because its parent's block raised.
        """
        timeout = check_timeout(timeout)
        core = self._core
        if core.id == 0:
            raise RuntimeError("the root task cannot be joined")
        if trio.lowlevel.current_trio_token() is not core.parent_token:
            raise RuntimeError(
                f"join() of task {core.id} must be called from the trio run that opened it"
            )
        if core.done.is_set():
            # A finished task joins even with timeout=0: waiting would not be needed.
            await trio.lowlevel.checkpoint()
        else:
            with timeout_scope(timeout, "join"):
                await core.done.wait()
        return core.result()  # type: ignore[no-any-return]


def current() -> Task[Any]:
    """The handle of the task running this code; the root's (id ``0``) outside tasks.

    Code runs in a task when it runs in the task's thread (its main, and
    any trio run a plain-function main starts); everything else is the root.

    JSRE equivalent: ``Task.id()`` and friends, on the current task.
    """
    return Task.of(own())


async def send(to_id: int, msg: object) -> None:
    """Send ``msg`` (any Python object, passed by reference) to task ``to_id``.

    Messages from one sender arrive in the order sent. The inbox has no
    limit, so ``send`` never waits.

    JSRE equivalent: ``Task.send(id, msg)``.

    Raises:
        TypeError: ``to_id`` is not an ``int``.
        ValueError: no task ever had that id (the message's handoffs stay
            the caller's).
        trio.ClosedResourceError: the task has finished (or, for ``0``, no
            trio run of the root receives); the message's unclaimed
            handoffs are closed.
    """
    target = lookup(to_id, msg)
    await trio.lowlevel.checkpoint_if_cancelled()
    deliver(target, msg)
    await trio.lowlevel.cancel_shielded_checkpoint()


async def recv(*, timeout: float | None = None) -> tuple[Any, int]:
    """The next message sent to the current task, from anyone.

    In the root this binds the root's inbox to the calling trio run until
    that run ends (see ``open_task``).

    JSRE equivalent: ``Task.recv()`` and ``Task.on('message', fn)``.

    Returns:
        ``(msg, from_id)``.

    Raises:
        Timeout: nothing came within ``timeout`` seconds.
        RuntimeError: another trio run receives for this task (only the
            root can meet this: two runs outside tasks at once).
    """
    timeout = check_timeout(timeout)
    found = await own().mailbox.get(None, timeout)
    assert found is not None
    return found


@overload
def open_task(
    main: Callable[[Unpack[Ts]], Awaitable[T]], *args: Unpack[Ts], name: str | None = None
) -> AbstractAsyncContextManager[Task[T]]: ...


@overload
def open_task(
    main: Callable[[Unpack[Ts]], T], *args: Unpack[Ts], name: str | None = None
) -> AbstractAsyncContextManager[Task[T]]: ...


def open_task(
    main: Callable[..., Any], *args: object, name: str | None = None
) -> AbstractAsyncContextManager[Task[Any]]:
    """Run ``main(*args)`` as a new task: ``trio.run`` in a thread of its own.

    ``main`` may be async (run with ``trio.run``) or a plain function (called
    in the thread). Leaving the block waits for the task to finish without
    blocking the caller's run. If the block raises (or is cancelled while
    waiting), the task is cancelled first, then waited for.

    The caller's inbox is bound to the caller's trio run (for the root: the
    run that first receives or opens a task, until it ends), so the task's
    replies reach it.

    JSRE equivalent: ``new Task(file)``.

    Args:
        main: The task's main function, async or not.
        args: Its positional arguments.
        name: The task's name and its thread's; ``'task-<id>'`` by default.

    Returns:
        An async context manager yielding the ``Task`` handle.

    Raises:
        TypeError: ``main`` is not callable, or ``name`` is not a ``str``.
        BaseException: on leaving the block, the task's exception, bare,
            unless ``join()`` or ``t.recv()`` already raised it. When the
            block itself raised, its exception is raised instead, with a
            note naming the task's.

    A plain-function main cannot be cancelled: a raising block still waits
    for it to return.
    """
    check_open_args(main, name)
    return _open_task(main, args, name)


@asynccontextmanager
async def _open_task(
    main: Callable[..., Any], args: tuple[object, ...], name: str | None
) -> AsyncIterator[Task[Any]]:
    own().mailbox.bind()
    core = spawn(main, args, name, trio.lowlevel.current_trio_token())
    try:
        yield Task.of(core)
        await core.done.wait()
    except BaseException as exc:
        core.cancel()
        await _wait_shielded(core)
        instead = core.instead_of(exc)
        if instead is not None:
            raise instead from None
        raise
    await _wait_shielded(core)
    error = core.take_error()
    if error is not None:
        raise error


async def _wait_shielded(core: Core) -> None:
    with trio.CancelScope(shield=True):
        await core.done.wait()
    # The thread set the event as its last act; this returns at once.
    core.join_thread()
