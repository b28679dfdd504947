"""Exception groups never reach users from trionet's own tasks (SPEC 8.2).

trionet runs internal tasks in nurseries, which wrap failures in exception
groups. ``open_nursery`` is the one place that turns a group back into a
bare exception: the first failure that is not a ``trio.Cancelled`` is raised
unchanged (so user code's exceptions come out as they were raised), and the
others are attached to it as notes.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import trio

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["collapse", "leaves", "open_nursery"]


def leaves(error: BaseException) -> Iterator[BaseException]:
    """The exceptions inside ``error``, nested groups flattened (``error`` itself if no group)."""
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from leaves(inner)
    else:
        yield error


def collapse(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception to raise instead of ``group``, the others noted on it."""
    found = list(leaves(group))
    first = next((leaf for leaf in found if not isinstance(leaf, trio.Cancelled)), found[0])
    for other in found:
        if other is not first and not isinstance(other, trio.Cancelled):
            note = f"trionet: raised at the same time: {other!r}"
            if sys.version_info >= (3, 11):
                first.add_note(note)
            else:
                setattr(first, "__notes__", [*getattr(first, "__notes__", ()), note])  # noqa: B010
    return first


@asynccontextmanager
async def open_nursery() -> AsyncIterator[trio.Nursery]:
    """``trio.open_nursery()`` that raises a bare exception instead of a group."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        error = collapse(group)
    else:
        return
    raise error
