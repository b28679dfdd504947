"""The suite's own pytest-timeout setup (``tests/_hangs.py``): a hang fails one test.

Each case runs in a nested pytest in a subprocess with a 1 s limit; the test
after each hung one must still pass, which is what a broken trio run state
(pytest-timeout's stock handler raising inside trio's loop) would prevent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HANGS = """
import gc
import threading
import time
import trio

async def test_awaits_forever():
    await trio.sleep_forever()

async def test_awaits_forever_under_the_mock_clock(autojump_clock):
    await trio.sleep_forever()

async def test_a_task_blocks_in_a_sync_call():
    time.sleep(30)

async def test_a_hung_child_task():
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep_forever)

def test_a_sync_test_blocks():
    time.sleep(30)

def test_finalizers_wait_for_a_lock_their_thread_holds():
    # The shape of a 9-minute hang: each finalizer of one collection blocks,
    # and the alarm's Failed, raised in one, is dropped as unraisable.
    lock = threading.Lock()

    class WaitsForTheLock:
        def __del__(self):
            with lock:
                pass

    gc.disable()
    try:
        # Two: the first alarm ends the first wait, the second needs another.
        for _ in range(2):
            cycle = WaitsForTheLock()
            cycle.me = cycle
        del cycle
        with lock:
            gc.collect()
    finally:
        gc.enable()

async def test_after_them_all():
    await trio.sleep(0)
"""


def test_each_hang_fails_alone_and_the_run_goes_on(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    monkeypatch.setenv("COLUMNS", "200")  # the summary lines keep their reasons
    pytester.makeini("[pytest]\ntrio_mode = true\ntimeout = 1\n")
    pytester.makepyfile(HANGS)
    result = pytester.runpytest_subprocess("-p", "_hangs", "-p", "no:cacheprovider", timeout=60)
    result.assert_outcomes(failed=6, passed=1)
    text = result.stdout.str()
    assert "from inside a run" not in text
    assert "TrioInternalError" not in text
    result.stdout.fnmatch_lines(
        [
            "FAILED *test_awaits_forever - Failed: Timeout (>1.0s)*its trio run was cancelled",
            "FAILED *test_awaits_forever_under_the_mock_clock - Failed: Timeout (>1.0s)*cancelled",
            "FAILED *test_a_task_blocks_in_a_sync_call - *Timeout (>1.0s)*",
            "FAILED *test_a_hung_child_task - Failed: Timeout (>1.0s)*cancelled",
            "FAILED *test_a_sync_test_blocks - Failed: Timeout (>1.0s)*",
            "FAILED *test_finalizers_wait_for_a_lock_their_thread_holds - *(>1.0s)*swallowed*",
        ]
    )
    # Where each awaiting hang waits, to find the lost wake-up from the log.
    result.stdout.fnmatch_lines(["*Timeout: trio tasks*", "*sleep_forever*"])


def test_the_suite_has_a_per_test_limit(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout")) == 60
