"""The process's open fds, and a check that a block of code leaks none.

Linux only, as trionet is: the fds are read from ``/proc/self/fd``. A leak is
an fd open after the block that was not open before it. When the two
snapshots differ, garbage is collected and the fds counted again, so that
objects dropped without ``close()`` have had their finalizers run (and emitted
their ``ResourceWarning``) before anything is called a leak.

Collecting only on a difference is what keeps the check free for a block that
leaked nothing, which is almost every block: a full ``gc.collect()`` costs
tens of milliseconds in a large process, and a suite that paid four per test
spent most of its time in them. An unclosed object always shows up as a
difference (its fd is still open), so skipping the collection when there is
none misses no leak and no ``ResourceWarning`` of the block's.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

from .._core._fdtable import wake_fds

__all__ = ["fd_leak_check", "fd_target", "open_fds"]

_FD_DIR = "/proc/self/fd"


def open_fds() -> set[int]:
    """The process's open file descriptors.

    The directory fd that listing ``/proc/self/fd`` opens for itself is left
    out: it is closed again by the time the listing returns, and counting it
    would make two snapshots differ by whichever number it happened to take.

    Returns:
        The fd numbers, from ``/proc/self/fd``.
    """
    return {int(name) for name in os.listdir(_FD_DIR) if os.path.lexists(f"{_FD_DIR}/{name}")}


def fd_target(fd: int) -> str:
    """What ``fd`` refers to, as ``/proc/self/fd`` shows it.

    Args:
        fd: A file descriptor number.

    Returns:
        The link's target, such as ``socket:[123456]``, ``anon_inode:[eventpoll]``
        or a file's path; ``"?"`` if ``fd`` is not open.
    """
    try:
        return os.readlink(f"{_FD_DIR}/{fd}")
    except OSError:
        return "?"


@contextlib.contextmanager
def fd_leak_check() -> Iterator[None]:
    """Fail if the block leaves an fd open that was not open before it.

    If the fds after the block differ from those before it, garbage is
    collected and they are counted again, so a socket object dropped without
    ``close()`` is finalized (and closed) before the check counts it, and its
    ``ResourceWarning`` comes from inside the check. A block that leaves the
    fds as it found them costs two listings of ``/proc/self/fd`` and no
    collection. If the block raises, its exception propagates unchanged and
    nothing is checked.

    The wake-up fd that ``trionet.compat`` opens for each thread that waits
    (an ``eventfd``, kept for the thread's life) is never counted: it is the
    thread's, not the block's, and closes when the thread ends.

    Put it around ``trio.run()`` rather than inside the run: the run keeps
    fds of its own (trio's and trionet's epoll, a wake-up socket pair) until it
    ends, and a check inside it would report them.

    Example:
        ```python
        with fd_leak_check():
            trio.run(main)
        ```

    Raises:
        AssertionError: Fds were leaked; the message names each with its
            ``/proc/self/fd`` target, e.g. ``leaked fds: {7: 'socket:[81234]'}``.
    """
    before = open_fds()
    yield
    leaked = open_fds() - before - wake_fds()
    if leaked:
        gc.collect()
        leaked = open_fds() - before - wake_fds()
    if leaked:
        targets = {fd: fd_target(fd) for fd in sorted(leaked)}
        raise AssertionError(f"leaked fds: {targets}")
