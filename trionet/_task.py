"""Tasks: a ``trio.run`` in a thread of its own, with an inbox (JSRE ``Task``).

Theory of operation
===================

A task is a plain ``threading.Thread`` (not a daemon, named after the task)
whose target runs ``trio.run(main, *args)``, or calls ``main(*args)``
directly when ``main`` is a plain function. Who is asking is decided per
thread: code in a task's thread is that task, any other code is the root
(id ``0``). The registry below maps live ids to handles; ids are never
reused, so an id below the next one that is not live belongs to a task that
has finished (``ClosedResourceError``), and any other is unknown
(``ValueError``).

The parent and the task share nothing but the handle. Each direction
crosses threads through a ``TrioToken``:

1. **Cancel** (parent to task). The task's run wraps ``main`` in a cancel
   scope and records it with its token; the parent cancels it with
   ``token.run_sync_soon(scope.cancel)``. A request that comes before the
   scope exists is remembered and applied when it is made. A plain-function
   main cannot be cancelled.
2. **Done** (task to parent). The thread stores the outcome and sets a
   ``trio.Event`` of the parent's run through the parent's token; the parent
   waits on that event, never on the thread, so its run keeps going.
3. **Messages** go through inboxes (:mod:`trionet._mailbox`). When a task
   ends, its inbox is closed and drained (unclaimed handoffs closed), and
   every other inbox is woken, so a receiver waiting for a message from that
   task (``t.recv()``) finds out that none will come.

Exception policy (SPEC 8.2): whatever a task's main raised comes out bare
and unchanged from ``join()``, from ``t.recv()`` once nothing it sent is
left, or from the ``open_task`` block, whichever reports it first; it is
reported once. When the parent's block raised too, the parent's exception
wins and carries a note naming the task's.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any, Generic, TypeVar, final, overload

import outcome
import trio

from ._checks import check_int
from ._handoff import close_handoffs
from ._mailbox import Mailbox
from ._timeout import check_timeout

__all__ = ["Task", "current", "open_task", "recv", "send"]

T = TypeVar("T")


@final
class Task(Generic[T]):
    """The handle of a task, from :func:`open_task` or :func:`current`.

    Attributes:
        id: Unique in the process and never reused; the root is ``0``.
        name: The task's name (also its thread's name).

    JSRE equivalent: the object ``new Task(file)`` returns.
    """

    __slots__ = (
        "_cancel_requested",
        "_cancelled",
        "_done",
        "_finished",
        "_id",
        "_mailbox",
        "_name",
        "_outcome",
        "_parent_token",
        "_reported",
        "_scope",
        "_thread",
        "_token",
    )

    def __init__(
        self,
        id: int,
        name: str,
        parent_token: trio.lowlevel.TrioToken | None,
    ) -> None:
        self._id = id
        self._name = name
        owner = "the root" if id == 0 else f"task {id} ({name!r})"
        self._mailbox = Mailbox(owner, persistent=id != 0)
        self._parent_token = parent_token
        self._done = trio.Event()
        self._outcome: outcome.Outcome[T] | None = None
        self._finished = False
        self._reported = False
        self._cancelled = False
        self._cancel_requested = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> int:
        """The task's id; ``0`` for the root. JSRE equivalent: ``task.id()``."""
        return self._id

    @property
    def name(self) -> str:
        """The task's name (``'root'`` for the root)."""
        return self._name

    def __repr__(self) -> str:
        state = "finished" if self._finished else "running"
        return f"<trionet Task {self._id} {self._name!r} {state}>"

    async def send(self, msg: object) -> None:
        """Send ``msg`` to this task; same as ``task.send(t.id, msg)``.

        JSRE equivalent: ``task.send(msg)``.

        Raises:
            trio.ClosedResourceError: the task has finished; the message's
                unclaimed handoffs are closed.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        _deliver(self, msg)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def recv(self, *, timeout: float | None = None) -> object:
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
                :func:`recv`).
        """
        timeout = check_timeout(timeout)
        found = await _own()._get(self._id, timeout, self._has_ended)
        if found is not None:
            return found[0]
        error = self._take_error()
        if error is not None:
            raise error
        raise trio.EndOfChannel(f"task {self._id} ({self._name!r}) has finished")

    async def join(self) -> T:
        """Wait for the task to finish and return what its main returned.

        Raises:
            BaseException: the task's exception, bare and unchanged (it is
                then reported: leaving the block does not raise it again).
            RuntimeError: called for the root, or from another trio run than
                the one that opened the task (a task cannot join itself), or
                the task was cancelled because its parent's block raised.
        """
        if self._id == 0:
            raise RuntimeError("the root task cannot be joined")
        if trio.lowlevel.current_trio_token() is not self._parent_token:
            raise RuntimeError(
                f"join() of task {self._id} must be called from the trio run that opened it"
            )
        await self._done.wait()
        result = self._outcome
        self._reported = True
        if isinstance(result, outcome.Value):
            return result.value  # type: ignore[no-any-return]
        assert isinstance(result, outcome.Error)
        raise result.error

    # -- inside trionet ----------------------------------------------------

    def _has_ended(self) -> bool:
        return self._finished

    async def _get(
        self, sender: int | None, timeout: float | None, ended: Callable[[], bool] | None = None
    ) -> tuple[object, int] | None:
        return await self._mailbox.get(sender, timeout, ended)

    def _take_error(self) -> BaseException | None:
        """The task's exception if it is still to be reported (then it is)."""
        result = self._outcome
        if self._reported or self._cancelled or not isinstance(result, outcome.Error):
            return None
        self._reported = True
        return result.error

    def _started(self, scope: trio.CancelScope) -> None:
        with _lock:
            self._token = trio.lowlevel.current_trio_token()
            self._scope = scope
            cancel = self._cancel_requested
        if cancel:
            scope.cancel()

    def _cancel(self) -> None:
        with _lock:
            self._cancel_requested = True
            token, scope = self._token, self._scope
        if token is not None and scope is not None:
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)

    def _finish(self, result: outcome.Outcome[T]) -> None:
        """In the task's thread, last thing: record, close the inbox, tell the parent."""
        try:
            with _lock:
                del _live[self._id]
                self._outcome = result
                self._finished = True
                others = [_root, *_live.values()]
            self._mailbox.close()
            for other in others:
                other._mailbox.wake()
        finally:
            assert self._parent_token is not None
            with suppress(trio.RunFinishedError):
                self._parent_token.run_sync_soon(self._done.set)

    async def _wait_shielded(self) -> None:
        with trio.CancelScope(shield=True):
            await self._done.wait()
        assert self._thread is not None
        # The thread set the event as its last act; this returns at once.
        self._thread.join()


_lock = threading.Lock()
_live: dict[int, Task[Any]] = {}
_next_id = 1
_root: Task[None] = Task(0, "root", None)
_local = threading.local()


def _own() -> Task[Any]:
    own: Task[Any] | None = getattr(_local, "task", None)
    return _root if own is None else own


def current() -> Task[Any]:
    """The handle of the task running this code; the root's (id ``0``) outside tasks.

    Code runs in a task when it runs in the task's thread (its main, and
    any trio run a plain-function main starts); everything else is the root.

    JSRE equivalent: ``Task.id()`` and friends, on the current task.
    """
    return _own()


def _lookup(to_id: object) -> Task[Any]:
    to_id = check_int("to_id", to_id, 0, sys.maxsize)
    if to_id == 0:
        return _root
    with _lock:
        found = _live.get(to_id)
        next_id = _next_id
    if found is not None:
        return found
    if to_id < next_id:
        raise trio.ClosedResourceError(f"task {to_id} has finished; its inbox is closed")
    raise ValueError(f"no task has id {to_id}")


def _deliver(target: Task[Any], msg: object) -> None:
    sender = _own()
    if sender is _root:
        # Sending counts as using the root's inbox: replies need a run to land in.
        _root._mailbox.bind(strict=False)
    try:
        target._mailbox.deliver(msg, sender._id)
    except trio.ClosedResourceError:
        close_handoffs(msg)  # undeliverable: nobody will ever claim them
        raise


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
    try:
        target = _lookup(to_id)
    except trio.ClosedResourceError:
        close_handoffs(msg)
        raise
    await trio.lowlevel.checkpoint_if_cancelled()
    _deliver(target, msg)
    await trio.lowlevel.cancel_shielded_checkpoint()


async def recv(*, timeout: float | None = None) -> tuple[object, int]:
    """The next message sent to the current task, from anyone.

    In the root this binds the root's inbox to the calling trio run until
    that run ends (see :func:`open_task`).

    JSRE equivalent: ``Task.recv()`` and ``Task.on('message', fn)``.

    Returns:
        ``(msg, from_id)``.

    Raises:
        Timeout: nothing came within ``timeout`` seconds.
        RuntimeError: another trio run receives for this task (only the
            root can meet this: two runs outside tasks at once).
    """
    timeout = check_timeout(timeout)
    found = await _own()._get(None, timeout)
    assert found is not None
    return found


@overload
def open_task(
    main: Callable[..., Awaitable[T]], *args: object, name: str | None = None
) -> AbstractAsyncContextManager[Task[T]]: ...


@overload
def open_task(
    main: Callable[..., T], *args: object, name: str | None = None
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
        An async context manager yielding the :class:`Task` handle.

    Raises:
        TypeError: ``main`` is not callable, or ``name`` is not a ``str``.
        BaseException: on leaving the block, the task's exception, bare,
            unless ``join()`` or ``t.recv()`` already raised it. When the
            block itself raised, its exception is raised instead, with a
            note naming the task's.

    A plain-function main cannot be cancelled: a raising block still waits
    for it to return.
    """
    if not callable(main):
        raise TypeError(f"main must be callable, not {type(main).__name__}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, not {type(name).__name__}")
    return _open_task(main, args, name)


@asynccontextmanager
async def _open_task(
    main: Callable[..., Any], args: tuple[object, ...], name: str | None
) -> AsyncIterator[Task[Any]]:
    _own()._mailbox.bind()
    handle = _spawn(main, args, name)
    try:
        yield handle
    except BaseException as exc:
        handle._cancel()
        await handle._wait_shielded()
        error = handle._take_error()
        if error is not None and error is not exc:
            if isinstance(exc, trio.Cancelled):
                raise error from None  # a real failure beats a cancellation
            _add_note(exc, f"trionet: task {handle.id} ({handle.name!r}) also raised {error!r}")
        raise
    try:
        await handle._done.wait()
    except BaseException:
        handle._cancel()
        await handle._wait_shielded()
        error = handle._take_error()
        if error is not None:
            raise error from None
        raise
    await handle._wait_shielded()
    error = handle._take_error()
    if error is not None:
        raise error


def _spawn(main: Callable[..., Any], args: tuple[object, ...], name: str | None) -> Task[Any]:
    global _next_id
    token = trio.lowlevel.current_trio_token()
    with _lock:
        task_id = _next_id
        _next_id += 1
        handle: Task[Any] = Task(task_id, f"task-{task_id}" if name is None else name, token)
        _live[task_id] = handle
    thread = threading.Thread(
        target=_thread_main, args=(handle, main, args), name=handle.name, daemon=False
    )
    handle._thread = thread
    try:
        thread.start()
    except BaseException:
        with _lock:
            del _live[task_id]
        handle._mailbox.close()
        raise
    return handle


def _thread_main(handle: Task[Any], main: Callable[..., Any], args: tuple[object, ...]) -> None:
    _local.task = handle
    handle._finish(_run_main(handle, main, args))


def _run_main(
    handle: Task[Any], main: Callable[..., Any], args: tuple[object, ...]
) -> outcome.Outcome[Any]:
    if _is_async(main):
        return outcome.capture(trio.run, _run_async, handle, main, args)
    result: outcome.Outcome[Any] = outcome.capture(main, *args)
    if isinstance(result, outcome.Value) and inspect.iscoroutine(result.value):
        # A plain callable that returned a coroutine (a lambda, an object
        # whose __call__ is async): run it as an async main.
        coro: Awaitable[Any] = result.value
        return outcome.capture(trio.run, _run_async, handle, _await, (coro,))
    return result


def _is_async(main: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(main) or inspect.iscoroutinefunction(
        getattr(main, "__call__", None)  # noqa: B004 - async __call__, not callability
    )


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _run_async(handle: Task[Any], main: Callable[..., Any], args: tuple[object, ...]) -> Any:
    handle._mailbox.bind()
    with trio.CancelScope() as scope:
        handle._started(scope)
        return await main(*args)
    handle._cancelled = True
    raise RuntimeError(
        f"task {handle.id} ({handle.name!r}) was cancelled because its parent's block raised"
    )


def _add_note(error: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:
        setattr(error, "__notes__", [*getattr(error, "__notes__", ()), note])  # noqa: B010
