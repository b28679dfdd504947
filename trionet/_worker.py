"""The entry of a worker process (``subs=N, processes=True``): ``python -m trionet._worker``.

Started by the master (``trionet._net_workers``) with its control channel
as an inherited fd. The worker makes sure it cannot outlive the master
(``PR_SET_PDEATHSIG``: the kernel sends it ``SIGKILL`` when the master
dies, however it dies; a master that died before that call is noticed by
the parent pid having changed), then reads its configuration, makes its
sub-server, runs ``sub_main`` and serves the connections whose fds arrive.

Messages from the master: ``("config", group, index, listener, sub_main,
options)`` first, then ``("conn", remote)`` with an fd, and ``("stop",
leaving, destroy)``. To the master: ``("ready",)``, ``("count", n)``,
``("error", exception)``, ``("done",)``.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import pickle
import signal
import socket
import sys
from typing import Any

import trio

from . import _fdpass
from ._core._readiness import READ, current_layer

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
# The least time between two count reports: a burst of connections is one
# report, and the master's get_connections() lags a change by at most this.
COUNT_INTERVAL = 0.05


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the master died before the call above
        os._exit(1)


async def _serve(channel: socket.socket) -> None:
    from . import _net_subs
    from ._net_server import Server  # imported in the worker only: no cycle at import

    message, _ = await _fdpass.receive(channel)
    assert message is not None
    assert message[0] == "config"
    _, group, index, listener, sub_main, options = message
    server = Server(listener, **options)
    server._group_name = (group, f"sub{index}")
    server._index = index
    server._receiving = True
    # net.create_sub_server(group) finds it, as in a thread sub (one per process here).
    _net_subs._local.__dict__.setdefault("servers", {})[group] = server
    async with server:
        if sub_main is not None:
            result = sub_main(server)
            if inspect.isawaitable(result):
                await result
        await _fdpass.send(channel, ("ready",))
        stopped = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(CountReporter(server).run, channel)
            nursery.start_soon(_take_connections, channel, server, stopped)
            await stopped.wait()
            await server._drained()
            nursery.cancel_scope.cancel()
        await server._emit("close", ())
    await _fdpass.send(channel, ("count", 0))
    await _fdpass.send(channel, ("done",))


class _Channel:
    """The control channel as the readiness layer's owner: it stays open for the whole run."""

    closed = False


async def _take_connections(channel: socket.socket, server: Any, stopped: trio.Event) -> None:
    """Admit what the master sends; keep reading after a stop (a later one may destroy).

    The channel is waited on through the readiness layer, not trio's own
    wait, so that this task, almost never woken, comes to lead the layer
    as a master's accept task does. Otherwise one of the connections leads,
    and each of its messages costs a task switch for its own read (a leader
    is never read for inline) and a hand-over of the lead to another task.
    """
    layer = current_layer()
    owner = _Channel()
    while True:
        received = _fdpass.try_receive(channel)
        if received is None:  # drained: the layer's edge says when more comes
            await layer.wait(channel.fileno(), READ, owner)
            continue
        message, fd = received
        if message is None:  # the master is gone (PDEATHSIG is on its way): nobody to tell
            os._exit(1)
        if message[0] == "stop":
            server._receiving = False
            stopped.set()
            if message[1]:  # the master's block is leaving
                for sock in list(server._connections):
                    if message[2] or not server._refed or not sock._refed:
                        sock.destroy()
            continue
        assert fd is not None
        await server._admit(fd, message[1])


class CountReporter:
    """Sends the worker's connection count to the master when it has changed.

    Woken by the server (its ``_count_changed``), never by a timer: an
    idle worker stays asleep. After a report it waits ``COUNT_INTERVAL``,
    so a burst of changes costs one message.
    """

    def __init__(self, server: Any) -> None:
        self._server = server
        self._changed = trio.Event()
        server._count_changed = self._note

    def _note(self) -> None:
        self._changed.set()

    async def run(self, channel: socket.socket) -> None:
        """Report until cancelled."""
        reported = 0
        while True:
            await self._changed.wait()
            self._changed = trio.Event()
            count = len(self._server._connections)
            if count != reported:
                await _fdpass.send(channel, ("count", count))
                reported = count
            await trio.sleep(COUNT_INTERVAL)


def main(argv: list[str]) -> int:
    """Run a worker on control fd ``argv[0]`` for master pid ``argv[1]``."""
    _die_with_parent(int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the master, which stops us
    channel = socket.socket(fileno=int(argv[0]))
    channel.setblocking(False)
    try:
        trio.run(_serve, channel)
    except BaseException as exc:  # to the master, which raises it (SPEC 3, a failing sub)
        try:
            report = pickle.dumps(("error", exc))
        except Exception:
            report = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        channel.setblocking(True)
        socket.send_fds(channel, [report], [])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
