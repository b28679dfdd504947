"""Process workers for a multi-task server (``subs=N, processes=True``, SPEC 10).

Theory of operation. The master is the ``Server`` the user made; it
listens and accepts as with thread subs, and ``Server._dispatch`` hands
each accepted fd round-robin to a worker. Unlike thread subs, the master
serves no share itself: its CPU goes to accepting, and with ``subs`` equal
to the number of CPUs the workers have one each. A worker is a
process running ``trionet._worker`` with its own ``trio.run`` and its own
sub-server; the fd travels over that worker's control channel
(``trionet._fdpass``, ``SCM_RIGHTS``) and the master closes its copy.

- **No orphan.** Each worker asks the kernel to ``SIGKILL`` it when its
  parent dies (``PR_SET_PDEATHSIG``), so even a master killed by
  ``SIGKILL`` leaves no worker behind. A master leaving by an exception or
  a cancellation kills its workers and reaps them before it goes on.
- **A worker that dies takes the master down.** A worker whose code
  raised sends the exception, which comes out of the master's ``async
  with`` bare, as with thread subs. A worker killed by a signal (or that
  exits without saying it is done) makes the master raise
  ``WorkerDiedError`` naming it. Restarting is left to the process
  manager above (systemd's ``Restart=``): a restarted worker would hide a
  crash loop, and the connections it held are gone anyway.
- **Counting.** Each worker reports its number of connections when it
  changes (woken by the change, never by a timer), at most every 50 ms;
  ``get_connections()`` on the master sums the last reports.
- **What crosses.** ``sub_main`` and ``connection_listener`` are pickled
  (an importable ``"module:function"`` or a module-level function), as is
  ``tls=``, which must then be ``net.TlsOptions`` (an ``ssl.SSLContext``
  cannot be pickled).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from . import _fd_basic as fdb
from . import _fdpass
from ._core._addr import SockAddr
from ._net_core import LOGGER

__all__ = ["ProcessGroup", "WorkerDiedError", "check_picklable"]


class WorkerDiedError(RuntimeError):
    """A worker process of a multi-process server ended without being told to."""


def check_picklable(name: str, value: object) -> None:
    """``value`` must reach the workers: a clear ``ValueError`` when it cannot."""
    try:
        pickle.dumps(value)
    except Exception as exc:
        raise ValueError(
            f"{name} must be picklable with processes=True (an importable "
            f"'module:function' or a module-level function): {exc}"
        ) from exc


class ProcessGroup:
    """The master's side of a group of worker processes (same duties as ``_net_subs.Group``)."""

    def __init__(
        self,
        name: str,
        size: int,
        sub_main: Callable[..., Any] | str | None,
        listener: Callable[..., Any] | None,
        options: dict[str, Any],
    ) -> None:
        self.name = name
        self.size = size
        self.config = (sub_main, listener if sub_main is None else None, options)
        self.ready = trio.Event()
        self.ended = trio.Event()
        self.stopped = False
        self._channels: list[socket.socket] = []
        self._backlog: list[deque[tuple[int, SockAddr | str]]] = []
        self._wakeups: list[trio.Event] = []
        self._counts = [0] * (size + 1)
        self._next = 1
        self._watching = size

    def count(self, index: int, connections: int) -> None:
        self._counts[index] = connections

    def total(self) -> int:
        return sum(self._counts)

    def next_member(self) -> int:
        """The next worker, round-robin; never ``0``: the master serves none itself.

        Its CPU goes to accepting and handing over, and the workers get the
        CPUs: a master serving a share too is one more busy process than
        there are CPUs when ``subs`` is their number (see docs/deploy.md).
        """
        member = self._next
        self._next = member % self.size + 1
        return member

    def hand(self, index: int, fd: int, remote: SockAddr | str) -> None:
        """Send ``fd`` to worker ``index`` (now, or by its sender when the channel is full)."""
        backlog = self._backlog[index - 1]
        try:
            if not backlog and _fdpass.try_send(self._channels[index - 1], ("conn", remote), fd):
                fdb.close(fd)
                return
        except OSError:  # the worker has died: the master is going down with it
            fdb.close(fd)
            LOGGER.warning(
                "worker sub%d of group %r has ended; connection closed", index, self.name
            )
            return
        backlog.append((fd, remote))
        self._wakeups[index - 1].set()

    def stop(self, *, leaving: bool, destroy: bool = False) -> None:
        self.stopped = True
        for channel in self._channels:
            with contextlib.suppress(OSError):  # that worker has ended already
                _fdpass.try_send(channel, ("stop", leaving, destroy))

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Start the workers, report ready once each ran ``sub_main``, watch them to the end."""
        processes: list[trio.Process] = []
        try:
            async with trio.open_nursery() as nursery:
                for index in range(1, self.size + 1):
                    processes.append(await self._start(index))
                ready = [trio.Event() for _ in processes]
                for index, (process, event) in enumerate(zip(processes, ready, strict=True), 1):
                    nursery.start_soon(self._watch, index, process, event)
                    nursery.start_soon(self._sender, index)
                for event in ready:
                    await event.wait()
                self.ready.set()
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await _reap(processes)
            for channel in self._channels:
                channel.close()
            for backlog in self._backlog:
                while backlog:
                    fdb.close(backlog.popleft()[0])
            self.ended.set()

    async def _start(self, index: int) -> trio.Process:
        ours, theirs = _fdpass.channel_pair()
        self._channels.append(ours)
        self._backlog.append(deque())
        self._wakeups.append(trio.Event())
        try:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "trionet._worker", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                # What imports in the master imports in the worker (as
                # multiprocessing's spawn does with sys.path).
                env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
            )
        finally:
            theirs.close()
        sub_main, listener, options = self.config
        await _fdpass.send(ours, ("config", self.name, index, listener, sub_main, options))
        return process

    async def _watch(self, index: int, process: trio.Process, ready: trio.Event) -> None:
        """Read worker ``index``'s reports until it ends; raise if it ended badly."""
        await self._follow(index, process, ready)
        self._watching -= 1
        if not self._watching:  # every worker ended well: the senders are done too
            trio.lowlevel.current_task().parent_nursery.cancel_scope.cancel()  # type: ignore[union-attr]

    async def _follow(self, index: int, process: trio.Process, ready: trio.Event) -> None:
        channel = self._channels[index - 1]
        while True:
            message, fd = await _fdpass.receive(channel)
            if fd is not None:
                os.close(fd)
            if message is None:
                break
            kind = message[0]
            if kind == "ready":
                ready.set()
            elif kind == "count":
                self._counts[index] = message[1]
            elif kind == "error":
                raise message[1]
        # Only a worker that served to the end exits 0 (its errors exit 1,
        # after sending the exception). The status decides, not a last
        # message, which a reset channel may have lost.
        code = await process.wait()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
            raise WorkerDiedError(
                f"worker sub{index} (pid {process.pid}) of group {self.name!r} {how}"
            )
        self._counts[index] = 0

    async def _sender(self, index: int) -> None:
        channel, backlog = self._channels[index - 1], self._backlog[index - 1]
        while True:
            await self._wakeups[index - 1].wait()
            self._wakeups[index - 1] = trio.Event()
            while backlog:
                fd, remote = backlog[0]
                await _fdpass.send(channel, ("conn", remote), fd)
                backlog.popleft()
                fdb.close(fd)


async def _reap(processes: list[trio.Process]) -> None:
    """Kill what still runs (the master is leaving by an error) and wait for all."""
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
    for process in processes:
        await process.wait()
