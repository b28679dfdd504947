"""A hung test fails alone: pytest-timeout's signal method, made trio-aware.

pytest-timeout's ``signal`` method raises ``Failed`` from a SIGALRM handler
wherever the main thread happens to be. In a trio test that hangs on an
``await`` (a lost wake-up, the usual hang), that is trio's own run loop
waiting in ``epoll``: the exception breaks the loop (``TrioInternalError``)
and leaves its run state behind, so the *next* test fails too with "Attempted
to call run() from inside a run()". So when the alarm finds the loop idle,
this plugin instead cancels the test's nursery through the run's token (the
same way trio delivers a signal) and fails the test once the run has
unwound. When the alarm finds a task running (blocked in a sync call) or no
trio run at all, raising there is safe, and pytest-timeout's handler does it.
A test that does not unwind within ``_GRACE`` seconds of the cancel gets that
handler too: a broken run is better than a hung suite.

Once it has raised, that handler raises again every ``_REPEAT`` seconds
(or the limit, if shorter) until the test ends. An exception raised inside
a finalizer is printed and dropped (``sys.unraisablehook``), so a single
alarm that lands in one, as in a ``__del__`` waiting for a lock its own
thread holds, ends that finalizer only; the next one of the same garbage
collection then waits with no alarm left, and the run hung for 9 minutes
that way once. A test that swallowed every alarm and went on still fails,
as timed out.

``conftest.py`` loads this module with ``pytest_plugins``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest
import pytest_timeout  # type: ignore[import-untyped]
import trio

_GRACE = 10.0
_REPEAT = 5.0
_TIMED_OUT = pytest.StashKey[float]()
_RAISED = pytest.StashKey[float]()


def _dump_tasks(item: pytest.Item, root: trio.lowlevel.Task) -> None:
    """Print where every trio task of the run is waiting: the hang's culprit."""
    terminal = item.config.get_terminal_writer()
    terminal.sep("+", title="Timeout: trio tasks")

    def walk(task: trio.lowlevel.Task, depth: int) -> None:
        frames = [f"{f.f_code.co_name}:{lineno}" for f, lineno in task.iter_await_frames()]
        terminal.line(f"{'  ' * depth}{task.name}  <- {' <- '.join(reversed(frames))}")
        for nursery in task.child_nurseries:
            for child in sorted(nursery.child_tasks, key=lambda t: t.name):
                walk(child, depth + 1)

    walk(root, 0)
    terminal.sep("+", title="Timeout")


def _cancel_the_test() -> None:
    """Cancel the main task's nurseries (pytest-trio's), or the main task."""
    root = trio.lowlevel.current_root_task()
    assert root is not None
    # trio's init task opens its nurseries innermost last; the last one holds
    # only the main task, which is pytest-trio's runner of fixtures and test.
    main_nursery = root.child_nurseries[-1]
    nurseries = [n for task in main_nursery.child_tasks for n in task.child_nurseries]
    for nursery in nurseries or [main_nursery]:
        nursery.cancel_scope.cancel()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """Arm SIGALRM with the trio-aware handler; other methods stay stock."""
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None

    def fail(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        if item.stash.get(_RAISED, None) is None:
            item.stash[_RAISED] = settings.timeout
            repeat = min(_REPEAT, settings.timeout)
            signal.setitimer(signal.ITIMER_REAL, repeat, repeat)
        pytest_timeout.timeout_sigalrm(item, settings)

    def handler(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        try:
            token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            token = None
        if token is None:
            fail(signum, frame)  # no trio run: a sync test, raise right here
            return
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            # The run's loop is idle, waiting for I/O: cancel, don't raise.
            root = trio.lowlevel.current_root_task()
            assert root is not None
            _dump_tasks(item, root)
            item.stash[_TIMED_OUT] = settings.timeout
            signal.signal(signal.SIGALRM, fail)
            signal.setitimer(signal.ITIMER_REAL, _GRACE)
            token.run_sync_soon(_cancel_the_test)
            return
        fail(signum, frame)  # a task is running (blocked in a sync call)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test whose run was cancelled for its timeout fails, whatever it raised.

    So does one that returned after swallowing the alarm's ``Failed``.
    """
    try:
        yield
        raised = item.stash.get(_RAISED, None)
        if raised is not None and item.stash.get(_TIMED_OUT, None) is None:
            pytest.fail(
                f"Timeout (>{raised}s) from pytest-timeout, swallowed where it was raised",
                pytrace=False,
            )
    finally:
        timeout = item.stash.get(_TIMED_OUT, None)
        if timeout is not None:
            # The cancelled test may have returned normally or raised
            # Cancelled: either way its failure is the timeout.
            pytest.fail(
                f"Timeout (>{timeout}s) from pytest-timeout: its trio run was cancelled",
                pytrace=False,
            )
