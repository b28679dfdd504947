"""A close from another thread always wakes a trio task that waits (rule 32).

The window this guards: the closing thread's ``release`` found no readiness
state for the fd yet, the trio task then registered the still-open fd in
its run's epoll, and the close took the fd out of the epoll with no event,
so the task slept until its timeout (13 of 3,000 times when measured;
without a timeout, forever). Readiness rule 8 closes it: the waiter records
itself, then looks at its entry's ``closed``.

Each iteration hands a fresh fd to a trio run in another thread. The
task says it is about to wait, spins a random while, and calls ``recv``; the
test's thread closes the fd as soon as it hears. A switch interval of a
microsecond makes the two threads trade the GIL every few bytecodes, so
the close lands anywhere on the task's way into its wait. A missed wake-up
shows as the ``recv`` timing out. Without rule 8 this missed 1 to 3 of
every 3,000 iterations, in each mode (so about 5 expected misses over this
test's 4,000; measured with ``race()`` below, the fix stashed).
"""

from __future__ import annotations

import queue
import random
import sys
import threading
from collections import Counter

import pytest
import trio
import trio.testing

from trionet import socket as s

ITERATIONS = 2000
# Real time a lost wake-up costs before it shows; a caught close takes microseconds.
MISSED_AFTER = 2.0
# Loops the task spins between its word and its recv: where the close lands.
SPIN = (0, 300)


def race(iterations: int, *, follower: bool, seed: int = 32) -> Counter[str]:
    """Close ``iterations`` fds while a trio task starts to wait on each; the outcomes.

    With ``follower`` another task leads the run's readiness layer (it waits
    on an fd of its own), so the racing task waits as a follower; without,
    it leads. ``"closed"`` is the only right outcome.
    """
    started: queue.Queue[tuple[trio.lowlevel.TrioToken, trio.Nursery]] = queue.Queue()
    outcomes: queue.Queue[str] = queue.Queue()
    about_to_wait = threading.Event()
    spin = random.Random(seed)

    async def wait_on(fd: int) -> None:
        about_to_wait.set()
        for _ in range(spin.randrange(*SPIN)):
            pass
        try:
            await s.recv(fd, timeout=MISSED_AFTER)
        except trio.ClosedResourceError:
            outcomes.put("closed")
        except Exception as exc:  # the outcome the test reports
            outcomes.put(type(exc).__name__)
        else:
            outcomes.put("data")

    async def run(leader_fd: int | None) -> None:
        async with trio.open_nursery() as nursery:
            if leader_fd is not None:
                nursery.start_soon(s.recv, leader_fd)
                await trio.testing.wait_all_tasks_blocked()
            started.put((trio.lowlevel.current_trio_token(), nursery))
            await trio.sleep_forever()

    leader_fd = _udp() if follower else None
    errors: list[BaseException] = []

    def target() -> None:
        try:
            trio.run(run, leader_fd)
        except BaseException as exc:  # reported by the calling thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="close-race trio run")
    thread.start()
    counts: Counter[str] = Counter()
    try:
        token, nursery = started.get(timeout=10)
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            for _ in range(iterations):
                fd = _udp()
                about_to_wait.clear()
                token.run_sync_soon(nursery.start_soon, wait_on, fd)
                if not about_to_wait.wait(10):
                    s.close(fd)
                    raise AssertionError("the trio run never started the waiting task")
                s.close(fd)
                counts[outcomes.get(timeout=MISSED_AFTER + 10)] += 1
        finally:
            sys.setswitchinterval(switch)
            token.run_sync_soon(nursery.cancel_scope.cancel)
    finally:
        thread.join(10)
        if leader_fd is not None:
            s.close(leader_fd)
    if errors:
        raise errors[0]
    return counts


def _udp() -> int:
    fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
    s.bind(fd, ("127.0.0.1", 0))
    return fd


@pytest.mark.parametrize("follower", [False, True], ids=["leading", "following"])
def test_a_close_from_another_thread_always_wakes_a_task_starting_to_wait(follower: bool) -> None:
    counts = race(ITERATIONS, follower=follower)
    assert counts == Counter(closed=ITERATIONS)
