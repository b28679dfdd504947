"""The CPU cost of one trio task wake: two tasks rescheduling each other.

An fd-level server pays one such wake per message (its user task awaits
``recv``); ``net`` reading inline does not. Run: ``python bench/wake.py``
(pin it with ``taskset -c 1`` for a steadier figure).
"""

from __future__ import annotations

import time

import outcome
import trio
from trio.lowlevel import Abort, Task, current_task, reschedule, wait_task_rescheduled

WAKES = 200_000


def _abort(_: object) -> Abort:
    return Abort.SUCCEEDED


async def _measure() -> float:
    tasks: dict[str, Task] = {}

    async def first(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        tasks["first"] = current_task()
        task_status.started()  # the parent resumes once this task sleeps below
        for _ in range(WAKES):
            await wait_task_rescheduled(_abort)
            reschedule(tasks["second"], outcome.Value(None))

    async def second() -> None:
        tasks["second"] = current_task()
        for _ in range(WAKES):
            reschedule(tasks["first"], outcome.Value(None))
            await wait_task_rescheduled(_abort)

    async with trio.open_nursery() as nursery:
        await nursery.start(first)
        start = time.process_time()
        nursery.start_soon(second)
    return (time.process_time() - start) / (2 * WAKES) * 1e6


def main() -> None:
    print(f"RESULT wake_cpu_us={trio.run(_measure):.2f} wakes={2 * WAKES}")


if __name__ == "__main__":
    main()
