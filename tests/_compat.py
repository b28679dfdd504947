"""Test helpers shared by the ``trionet.compat`` test modules."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from trionet.compat import _iosched


def iosched_left_clean() -> Iterator[None]:
    """Fixture body: a test must leave no event in this thread's scheduler."""
    yield
    scheduler = _iosched._scheduler()
    left = [ev for events in scheduler.by_fd.values() for ev in events] + list(scheduler.timers)
    for ev in left:
        scheduler.delete(ev)
    if left:
        pytest.fail(f"the test left iosched events registered: {left}")


class Background:
    """Runs ``target`` in a thread; :meth:`join` waits (bounded) and re-raises its error."""

    def __init__(self, target: Callable[[], object]) -> None:
        self.result: object = None
        self.error: BaseException | None = None
        self._target = target
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._target()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 10) -> object:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the background thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result
