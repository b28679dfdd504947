"""Tasks inside a ``VirtualNetwork``: one simulated network, one virtual clock.

Theory of operation
===================

A ``trionet.task`` opened inside the block runs its own ``trio.run`` in a
thread (``trionet._taskcore``). Here that run gets the block's simulation
(``_seam``), its host-name resolver, and a ``SharedClock`` that reads the
block's clock. When the block's clock is an autojumping ``MockClock``,
time must jump only when *every* run is idle, or a run that is busy
answering (a task's server) sees its peer's timeout expire: the spurious
timeouts of the issue's table. So while tasks are open the block's own
autojump is switched off and the ``TimeKeeper``, a system task of the
block's run, jumps instead:

1. It waits until the block's run is idle (``wait_all_tasks_blocked``).
2. It asks every task's run, twice, to answer once it is idle too. Each
   run answers from its prober (a system task of that run) after its own
   ``wait_all_tasks_blocked``, with its earliest deadline and whether any
   of its tasks ran since its previous answer (an instrument watches).
3. It waits until the block's run is idle again. If nothing ran anywhere
   since the first answers (no task of the block's run either), no event
   can be in flight: any wake-up posted to a run before it answered the
   second time was seen by that run's idle check, and any posted later
   came from a run that then ran. The clock then jumps to the earliest
   deadline of all runs, and every run is woken to see it.

All of the keeper's state lives in the block's thread: other threads post
to it through the block's ``TrioToken``. Order matters once: a finished
task leaves only after it has told its parent (``_taskcore`` calls
``left`` last), so the parent's wake-up is already posted when the keeper
hears of the leave, and the keeper's next question comes after it.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from typing import TYPE_CHECKING, Any, cast

import trio

if TYPE_CHECKING:
    from trio.testing import MockClock

__all__ = ["SharedClock", "TaskRunner", "TimeKeeper", "mock_clock"]

_MANUAL_POLL = 0.01  # real seconds: how soon a task's run sees a manual MockClock jump


def mock_clock(clock: trio.abc.Clock) -> MockClock | None:
    """``clock`` if it is a ``MockClock``, else ``None``.

    Without importing ``trio.testing`` (it imports pytest, which
    ``trionet.testing`` must not): a MockClock exists only once it is imported.
    """
    testing = sys.modules.get("trio.testing")
    if testing is not None and isinstance(clock, testing.MockClock):
        return cast("MockClock", clock)
    return None


async def _all_blocked(cushion: float = 0.0) -> None:
    from trio.testing import wait_all_tasks_blocked  # imported already: a MockClock runs

    await wait_all_tasks_blocked(cushion)


class SharedClock(trio.abc.Clock):
    """A task's clock: the block's time, and the block's idea of how long to sleep."""

    def __init__(self, base: trio.abc.Clock, poll: float) -> None:
        self._base = base
        self._poll = poll

    def start_clock(self) -> None:
        """The block's clock runs already."""

    def current_time(self) -> float:
        return self._base.current_time()

    def deadline_to_sleep_time(self, deadline: float) -> float:
        # Under a MockClock of rate 0 this is "forever": the keeper wakes
        # the run after each jump (or, without a keeper, the poll does).
        return min(self._base.deadline_to_sleep_time(deadline), self._poll)


class _Instrument(trio.abc.Instrument):
    """Marks a run busy when one of its tasks (not the keeper's own) takes a step."""

    def __init__(self, on_step: Callable[[trio.lowlevel.Task], None]) -> None:
        self._on_step = on_step

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._on_step(task)


class _Run:
    """One task's run, as the keeper knows it."""

    def __init__(self, keeper: TimeKeeper) -> None:
        self.keeper = keeper
        self.token: trio.lowlevel.TrioToken | None = None
        self.own: set[trio.lowlevel.Task] = set()  # the prober, the run's entry-queue task
        self.busy = False  # a task ran since the last answer (the run's thread only)
        self.asked = 0  # the round the keeper asked for (the run's thread only)
        self.wake: trio.Event | None = None
        self.answered = 0  # the round answered (the keeper's thread only)
        self.answer: tuple[bool, float] = (True, math.inf)
        self.instrument = _Instrument(self._step)

    def _step(self, task: trio.lowlevel.Task) -> None:
        if task not in self.own:
            self.busy = True
            if self.keeper.stalled:
                self.keeper.post(self.keeper.news)

    def ask(self, round: int) -> None:
        """In the run's thread: answer ``round`` once idle."""
        self.own.add(trio.lowlevel.current_task())
        self.asked = round
        if self.wake is not None:
            self.wake.set()

    async def prober(self) -> None:
        self.own.add(trio.lowlevel.current_task())
        self.token = trio.lowlevel.current_trio_token()
        self.keeper.post(self.keeper.news)
        answered = 0
        while True:
            while self.asked == answered:
                self.wake = trio.Event()
                await self.wake.wait()
            round = self.asked
            await _all_blocked()
            if self.asked != round:
                continue  # asked again meanwhile: answer the newer round
            left = trio.lowlevel.current_statistics().seconds_to_next_deadline
            answer = (self.busy, trio.current_time() + left)
            self.busy = False
            answered = round
            self.keeper.post(self.keeper.answered, self, round, answer)


class TimeKeeper:
    """Jumps the block's ``MockClock`` when every run is idle (see the module's docstring)."""

    def __init__(self, clock: MockClock) -> None:
        self.clock = clock
        self.threshold = clock.autojump_threshold
        self.token = trio.lowlevel.current_trio_token()
        self.thread = threading.get_ident()
        self.runs: list[_Run] = []
        self.generation = 0  # changes whenever a run joins or leaves
        self.stalled = False  # waiting with no deadline anywhere: every step is news
        self._busy = False
        self._own: set[trio.lowlevel.Task] = set()
        self._news = trio.Event()
        self._round = 0
        self._instrument = _Instrument(self._step)

    # Any thread ----------------------------------------------------------------

    def post(self, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` in the block's run (now, when already there)."""
        if threading.get_ident() == self.thread:
            action(*args)
            return
        with suppress(trio.RunFinishedError):
            self.token.run_sync_soon(self._posted, action, args)

    def _posted(self, action: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._own.add(trio.lowlevel.current_task())
        action(*args)

    # The block's thread ---------------------------------------------------------

    def news(self) -> None:
        self._news.set()

    def join(self, run: _Run) -> None:
        self.runs.append(run)
        self.generation += 1
        self.clock.autojump_threshold = math.inf  # the keeper jumps from now on
        self._news.set()

    def leave(self, run: _Run) -> None:
        self.runs.remove(run)
        self.generation += 1
        self._news.set()

    def answered(self, run: _Run, round: int, answer: tuple[bool, float]) -> None:
        run.answered = round
        run.answer = answer
        self._news.set()

    def _step(self, task: trio.lowlevel.Task) -> None:
        if task not in self._own:
            self._busy = True
            if self.stalled:
                self._news.set()

    async def _wait_news(self) -> None:
        self._news = trio.Event()
        await self._news.wait()

    async def _ask_all(self, generation: int) -> list[tuple[bool, float]] | None:
        """Every run's answer to a new round, or ``None`` when a run joined, left or is not up."""
        self._round += 1
        round = self._round
        runs = list(self.runs)
        for run in runs:
            token = run.token
            if token is None:
                await self._wait_news()  # its prober posts news once it runs
                return None
            try:
                token.run_sync_soon(run.ask, round)
            except trio.RunFinishedError:
                await self._wait_news()  # it is leaving
                return None
        while any(run.answered != round for run in runs):
            if self.generation != generation:
                return None
            await self._wait_news()
        return [run.answer for run in runs]

    async def run(self) -> None:
        """The keeper's loop, a system task of the block's run."""
        self._own.add(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(self._instrument)
        try:
            await self._loop()
        finally:
            trio.lowlevel.remove_instrument(self._instrument)
            self.clock.autojump_threshold = self.threshold

    async def _loop(self) -> None:
        cushion = self.threshold
        while True:
            if not self.runs:
                self.clock.autojump_threshold = self.threshold
                await self._wait_news()
                continue
            await _all_blocked(cushion)
            generation = self.generation
            self._busy = False
            if await self._ask_all(generation) is None:
                continue
            answers = await self._ask_all(generation)
            if answers is None:
                continue
            await _all_blocked(cushion)
            if self._busy or self.generation != generation or any(busy for busy, _ in answers):
                continue
            left = trio.lowlevel.current_statistics().seconds_to_next_deadline
            deadline = min([self.clock.current_time() + left, *(when for _, when in answers)])
            if deadline == math.inf:
                self.stalled = True  # everyone waits for something: any step is news
                try:
                    await self._wait_news()
                finally:
                    self.stalled = False
                continue
            jump = deadline - self.clock.current_time()
            if jump > 0:
                self.clock.jump(jump)
            for run in self.runs:
                if run.token is not None:
                    with suppress(trio.RunFinishedError):
                        run.token.run_sync_soon(_nothing)


def _nothing() -> None:
    """A wake-up: the run re-reads the clock and expires its deadlines."""


class TaskRunner:
    """What a task opened inside the block runs its async main with, instead of ``trio.run``."""

    def __init__(
        self,
        clock: trio.abc.Clock,
        keeper: TimeKeeper | None,
        setup: Callable[[], AbstractContextManager[object]],
    ) -> None:
        self._clock = clock
        self._keeper = keeper
        self._setup = setup
        self._run: _Run | None = None
        if keeper is not None:
            self._run = _Run(keeper)
            keeper.post(keeper.join, self._run)

    def run(self, async_fn: Callable[..., Any], *args: Any) -> Any:
        """``trio.run(async_fn, *args)`` on the block's network and clock."""
        manual = mock_clock(self._clock) is not None and self._keeper is None
        clock = SharedClock(self._clock, _MANUAL_POLL if manual else math.inf)
        instruments = [] if self._run is None else [self._run.instrument]
        return trio.run(self._main, async_fn, args, clock=clock, instruments=instruments)

    async def _main(self, async_fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        with self._setup():
            return await self._main_set_up(async_fn, args)

    async def _main_set_up(self, async_fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self._run is not None:
            trio.lowlevel.spawn_system_task(self._run.prober, name="trionet vnet prober")
        return await async_fn(*args)

    def left(self) -> None:
        """The task has ended and told its parent: its run no longer holds the clock."""
        run, self._run = self._run, None
        if run is not None and self._keeper is not None:
            self._keeper.post(self._keeper.leave, run)
