"""The ``bench`` progress bar, when ``rich`` is installed (``pip install trionet[cli]``)."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ._bench import Report

__all__ = ["rich_progress"]


def rich_progress() -> Callable[[Report, float], None]:
    """A progress callback drawing one bar on stderr; it finishes itself at 100 %."""
    progress = Progress(
        TextColumn("bench"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%  {task.fields[rate]}"),
        TimeElapsedColumn(),
        transient=True,
    )
    task = progress.add_task("bench", total=1.0, rate="")

    def update(report: Report, done: float) -> None:
        if not progress.live.is_started:
            progress.start()
        rate = f"{report.round_trips_per_second:,.0f} rt/s  {report.mib_per_second:,.1f} MiB/s"
        progress.update(task, completed=done, rate=rate)
        if done >= 1.0:
            progress.stop()

    return update
