"""Test helpers shared by the ``trionet.compat`` test modules."""

from __future__ import annotations

from collections.abc import Iterator

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
