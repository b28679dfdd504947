"""The life of a task, shared by ``trionet.task`` and ``trionet.compat.task``.

Theory of operation
===================

A task is a plain ``threading.Thread`` (not a daemon, named after the task)
whose target runs ``trio.run(main, *args)``, or calls ``main(*args)``
directly when ``main`` is a plain function. Who is asking is decided per
thread: code in a task's thread is that task, any other code is the root
(id ``0``). The registry below maps live ids to their ``Core``; ids
are never reused, so an id below the next one that is not live belongs to a
task that has finished (``ClosedResourceError``), and any other is unknown
(``ValueError``).

One task, two APIs. Everything a task is (id, name, inbox, outcome, thread)
lives in its ``Core``; the async handle (``trionet.task.Task``) and the
sync one (``trionet.compat.task.Task``) are thin façades over it, made by
``Handle.of`` so that ``current() is t`` holds in both. The kind of a
task follows its main (async or plain), not the API that opened it; the
parent's API decides only how the parent waits for the end.

The parent and the task share nothing but the core. Each direction crosses
threads:

1. **Cancel** (parent to task). The task's run wraps ``main`` in a cancel
   scope and records it with its token; the parent, from any thread,
   cancels it with ``token.run_sync_soon(scope.cancel)``. A request that
   comes before the scope exists is remembered and applied when it is made.
   A plain-function main cannot be cancelled.
2. **Done** (task to parent). The thread stores the outcome; for an async
   parent it then sets a ``trio.Event`` of the parent's run through the
   parent's token, so that run keeps going while it waits. A sync parent
   joins the thread.
3. **Messages** go through inboxes (``trionet._mailbox``). When a task
   ends, its inbox is closed and drained (unclaimed handoffs closed), and
   every other inbox is woken, so a receiver waiting for a message from that
   task (``t.recv()``) finds out that none will come.

Exception policy (SPEC 8.2): whatever a task's main raised comes out bare
and unchanged from ``join()``, from ``t.recv()`` once nothing it sent is
left, or from the ``open_task`` block, whichever reports it first; it is
reported once. When the parent's block raised too, the parent's exception
wins and carries a note naming the task's; a real failure of the task beats
a mere cancellation of the parent.
"""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Generic, NoReturn

import outcome
import trio

from ._core import _seam
from ._core._checks import check_int
from ._core._timeout import Timeout
from ._handoff import close_handoffs
from ._mailbox import Mailbox

__all__ = [
    "Core",
    "Handle",
    "check_open_args",
    "deliver",
    "lookup",
    "own",
    "root",
    "spawn",
]

if sys.version_info >= (3, 13):
    from typing import TypeVar
else:
    from typing_extensions import TypeVar

T = TypeVar("T")
# What the task sends its parent; a default keeps ``Task[int]`` meaning "any messages".
M = TypeVar("M", default=Any)
H = TypeVar("H", bound="Handle[Any, Any]")


class Core:
    """One task's state; the handles of both APIs point here.

    Attributes:
        id: Unique in the process and never reused; the root is ``0``.
        name: The task's name (also its thread's).
        mailbox: Its inbox.
        parent_token: The run of an async parent, ``None`` for a sync one.
        done: Set in the parent's run when the task ended (async parent).
        thread: The task's thread, once made.
    """

    __slots__ = (
        "_cancel_requested",
        "_outcome",
        "_reported",
        "_scope",
        "_token",
        "cancelled",
        "done",
        "finished",
        "id",
        "mailbox",
        "name",
        "parent_token",
        "thread",
    )

    def __init__(self, id: int, name: str, parent_token: trio.lowlevel.TrioToken | None) -> None:
        self.id = id
        self.name = name
        owner = "the root" if id == 0 else f"task {id} ({name!r})"
        self.mailbox = Mailbox(owner, persistent=id != 0)
        self.parent_token = parent_token
        self.done = trio.Event()
        self.finished = False
        self.cancelled = False
        self.thread: threading.Thread | None = None
        self._outcome: outcome.Outcome[Any] | None = None
        self._reported = False
        self._cancel_requested = False
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None

    def has_ended(self) -> bool:
        """Whether the task can send nothing more (for ``t.recv()``)."""
        return self.finished

    def result(self) -> Any:
        """What main returned, or its exception raised (it is then reported)."""
        result = self._outcome
        self._reported = True
        if isinstance(result, outcome.Value):
            return result.value
        assert isinstance(result, outcome.Error)
        raise result.error

    def take_error(self) -> BaseException | None:
        """The task's exception if it is still to be reported (then it is)."""
        result = self._outcome
        if self._reported or self.cancelled or not isinstance(result, outcome.Error):
            return None
        self._reported = True
        return result.error

    def no_more_messages(self) -> NoReturn:
        """``t.recv()`` found nothing left from an ended task: say why."""
        error = self.take_error()
        if error is not None:
            raise error
        raise trio.EndOfChannel(f"task {self.id} ({self.name!r}) has finished")

    def instead_of(self, exc: BaseException) -> BaseException | None:
        """Once the task ended after the parent's block raised ``exc``: what to raise.

        Returns:
            The task's exception when ``exc`` is only a cancellation, else
            ``None`` (raise ``exc``, now noting the task's exception).
        """
        error = self.take_error()
        if error is None or error is exc:
            return None
        if isinstance(exc, trio.Cancelled):
            return error
        _add_note(exc, f"trionet: task {self.id} ({self.name!r}) also raised {error!r}")
        return None

    def started(self, scope: trio.CancelScope) -> None:
        with _lock:
            self._token = trio.lowlevel.current_trio_token()
            self._scope = scope
            cancel = self._cancel_requested
        if cancel:
            scope.cancel()

    def cancel(self) -> None:
        """Cancel the task's main (from any thread); a plain main goes on."""
        with _lock:
            self._cancel_requested = True
            token, scope = self._token, self._scope
        if token is not None and scope is not None:
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)

    def join_thread(self, timeout: float | None = None) -> None:
        """Wait for the task's thread (sync parents); ``Timeout`` if it outlives ``timeout``."""
        assert self.thread is not None
        self.thread.join(timeout)
        if self.thread.is_alive():
            if not self.finished:
                raise Timeout(f"join timed out after {timeout:g} s")
            # Its result is in; the thread is only unwinding its trio run.
            self.thread.join()

    def finish(self, result: outcome.Outcome[Any]) -> None:
        """In the task's thread, last thing: record, close the inbox, tell the parent."""
        try:
            with _lock:
                del _live[self.id]
                self._outcome = result
                self.finished = True
                others = [root, *_live.values()]
            self.mailbox.close()
            for other in others:
                other.mailbox.wake()
        finally:
            if self.parent_token is not None:
                with suppress(trio.RunFinishedError):
                    self.parent_token.run_sync_soon(self.done.set)


class Handle(Generic[T, M]):
    """What the task handles of both APIs share: the core, ``id``, ``name``.

    ``T`` is what the task's main returns, ``M`` what the task sends to the
    one that opened it (``Any`` unless the opener says, see ``docs/typing.md``).
    """

    __slots__ = ("__weakref__", "_core")

    def __init__(self, core: Core) -> None:
        self._core = core

    @classmethod
    def of(cls: type[H], core: Core) -> H:
        """The handle of ``core`` for this API; the same object while one is alive."""
        key = (cls, core.id)
        with _lock:
            found = _handles.get(key)
            if found is None:
                found = _handles[key] = cls(core)
        assert isinstance(found, cls)
        return found

    @property
    def id(self) -> int:
        """The task's id; ``0`` for the root. JSRE equivalent: ``task.id()``."""
        return self._core.id

    @property
    def name(self) -> str:
        """The task's name (``'root'`` for the root)."""
        return self._core.name

    def __repr__(self) -> str:
        state = "finished" if self._core.finished else "running"
        return f"<trionet Task {self.id} {self.name!r} {state}>"


_lock = threading.Lock()
_live: dict[int, Core] = {}
_handles: weakref.WeakValueDictionary[tuple[type, int], Handle[Any]] = weakref.WeakValueDictionary()
_next_id = 1
root = Core(0, "root", None)
_local = threading.local()


def own() -> Core:
    """The core of the task running this code; the root's outside tasks."""
    found: Core | None = getattr(_local, "core", None)
    return root if found is None else found


def lookup(to_id: object, msg: object) -> Core:
    """The task ``to_id``, to send ``msg`` to.

    Raises:
        TypeError: ``to_id`` is not an ``int``.
        ValueError: no task ever had that id (the handoffs stay the caller's).
        trio.ClosedResourceError: it has finished (the handoffs are closed).
    """
    to_id = check_int("to_id", to_id, 0, sys.maxsize)
    if to_id == 0:
        return root
    with _lock:
        found = _live.get(to_id)
        next_id = _next_id
    if found is not None:
        return found
    if to_id < next_id:
        close_handoffs(msg)
        raise trio.ClosedResourceError(f"task {to_id} has finished; its inbox is closed")
    raise ValueError(f"no task has id {to_id}")


def deliver(target: Core, msg: object) -> None:
    """Put ``msg`` in ``target``'s inbox, from the current task; never waits."""
    sender = own()
    if sender is root and trio.lowlevel.in_trio_run():
        # Sending counts as using the root's inbox: replies need a run to land in.
        root.mailbox.bind(strict=False)
    try:
        target.mailbox.deliver(msg, sender.id)
    except trio.ClosedResourceError:
        close_handoffs(msg)  # undeliverable: nobody will ever claim them
        raise


def check_open_args(main: object, name: object) -> None:
    """``open_task``'s checks, before any thread starts."""
    if not callable(main):
        raise TypeError(f"main must be callable, not {type(main).__name__}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, not {type(name).__name__}")


def spawn(
    main: Callable[..., Any],
    args: tuple[object, ...],
    name: str | None,
    parent_token: trio.lowlevel.TrioToken | None,
) -> Core:
    """Start a task running ``main(*args)``; ``parent_token`` is an async parent's run."""
    global _next_id
    with _lock:
        task_id = _next_id
        _next_id += 1
        core = Core(task_id, f"task-{task_id}" if name is None else name, parent_token)
        _live[task_id] = core
    # Inside a VirtualNetwork the task runs on it too: the simulation
    # crosses into the thread, and its runner replaces trio.run (it must
    # hear of the run here, before the thread starts).
    simulation = _seam.current()
    runner = simulation.task_runner() if simulation is not None and _is_async(main) else None
    thread = threading.Thread(
        target=_thread_main,
        args=(core, main, args, simulation, runner),
        name=core.name,
        daemon=False,
    )
    core.thread = thread
    try:
        thread.start()
    except BaseException:
        with _lock:
            del _live[task_id]
        core.mailbox.close()
        if runner is not None:
            runner.left()
        raise
    return core


def _thread_main(
    core: Core,
    main: Callable[..., Any],
    args: tuple[object, ...],
    simulation: _seam.Simulation | None,
    runner: _seam.TaskRunner | None,
) -> None:
    _local.core = core
    _seam.use(simulation)
    runners = [] if runner is None else [runner]
    try:
        core.finish(_run_main(core, main, args, runners))
    finally:
        # Last: a simulation's clock may move once the parent has been told.
        for each in runners:
            each.left()


def _run_main(
    core: Core,
    main: Callable[..., Any],
    args: tuple[object, ...],
    runners: list[_seam.TaskRunner],
) -> outcome.Outcome[Any]:
    if _is_async(main):
        return _run(runners, core, main, args)
    result: outcome.Outcome[Any] = outcome.capture(main, *args)
    if isinstance(result, outcome.Value) and inspect.iscoroutine(result.value):
        # A plain callable that returned a coroutine (a lambda): run it as
        # an async main. Only calling it tells, so inside a VirtualNetwork
        # its run joins the clock here, late (spawn does it in the opening
        # thread for a main known to be async): until now it was a
        # plain-function task, which does not hold the clock back either,
        # and a deadline of the parent's may have jumped meanwhile. Holding
        # the clock for every plain main instead would stop virtual time
        # for a whole sync task, and hang one that waits on a virtual
        # sleep of the block's. docs/tasks.md says to pass the async
        # function and its arguments (or a functools.partial) instead.
        coro: Awaitable[Any] = result.value
        simulation = _seam.current()
        if simulation is not None:
            runners.append(simulation.task_runner())
        return _run(runners, core, _await, (coro,))
    return result


def _run(
    runners: list[_seam.TaskRunner],
    core: Core,
    main: Callable[..., Any],
    args: tuple[object, ...],
) -> outcome.Outcome[Any]:
    """``trio.run`` the task's async main, or the simulation's runner inside a VirtualNetwork."""
    run = runners[0].run if runners else trio.run
    result: outcome.Outcome[Any] = outcome.capture(run, _run_async, core, main, args)
    return result


def _is_async(main: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(main) or inspect.iscoroutinefunction(
        getattr(main, "__call__", None)  # noqa: B004 - async __call__, not callability
    )


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable


async def _run_async(core: Core, main: Callable[..., Any], args: tuple[object, ...]) -> Any:
    core.mailbox.bind()
    with trio.CancelScope() as scope:
        core.started(scope)
        return await main(*args)
    core.cancelled = True
    raise RuntimeError(
        f"task {core.id} ({core.name!r}) was cancelled because its parent's block raised"
    )


def _add_note(error: BaseException, note: str) -> None:
    if sys.version_info >= (3, 11):
        error.add_note(note)
    else:
        setattr(error, "__notes__", [*getattr(error, "__notes__", ()), note])  # noqa: B010
