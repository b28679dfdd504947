"""Multi-task servers (EdgerOS): a master ``net.Server`` and its sub-servers.

Theory of operation
===================

A server made with ``subs=N`` is the *master* of a ``Group``. Entering
its ``async with`` starts, in its nursery, ``Group.run``, which opens N
``trionet.task`` tasks (threads, each with its own ``trio.run``) running
``_sub_task``. Each sub task makes its own ``Server`` (the *sub-server*,
entered in its own run), runs ``sub_main(sub_server)`` to attach listeners,
and then says it is ready. The master's ``async with`` returns once all N
are ready, so no connection reaches a sub before its listeners exist.

Dispatch. The master alone listens and accepts. Each accepted fd goes,
round-robin, to the master itself or to sub ``i``: a
``trionet.task.Handoff`` detaches it from the master's run and travels
in a message ``(handoff, remote)`` to the sub's *dispatch inbox* (a
``trionet._mailbox.Mailbox`` of the group's own, not the task's inbox,
so the user's ``task.recv()`` in a sub task never sees the master's
messages). The sub claims the fd and wraps it in a ``Socket`` exactly as a
single server wraps an accepted fd (``Server._admit``), so anything done per
connection (a TLS handshake included) happens in the task that serves it.

Stopping. ``close()`` on the master sends ``_Stop`` ``(leaving=False)``
to every sub: the sub stops taking connections, waits for its own to close,
emits ``'close'`` on its server and ends its task. Leaving the master's
block sends ``_Stop(leaving=True, destroy=...)``, which also destroys the
sub's connections when the master's block destroys its own (an exception,
or ``unref()``). The master emits ``'close'`` once its own connections and
every sub task have ended; by then the sub threads are joined.

Failure. ``Group.run`` joins every sub task in a nursery of the master;
a sub whose task raises (``sub_main``, a listener, anything) makes
``join()`` raise that exception bare, which takes the master's nursery down
and comes out of the master's ``async with`` unchanged (SPEC 8.2); leaving
the task blocks then cancels the other subs. A message left in a dispatch
inbox when its sub ends has its handoff closed, so no fd outlives its
receiver.

Counting. Each member writes its number of open connections into the
group's table under a lock (``Group.count``); the master's
``get_connections()`` is the sum. A connection in flight between the
master's accept and the sub's ``Socket`` is counted once the sub wraps it.
"""

from __future__ import annotations

import importlib
import inspect
import operator
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress
from typing import TYPE_CHECKING, Any, NamedTuple, final

import trio

from . import _task
from ._core._exception_groups import open_nursery
from ._handoff import Handoff
from ._mailbox import Mailbox
from ._net_core import LOGGER
from ._taskcore import own

if TYPE_CHECKING:
    from ._core._addr import SockAddr
    from ._net_server import Server

__all__ = ["Group", "Stop", "check_group", "check_sub_main", "create_sub_server"]

DEFAULT_GROUP = "server"


class Stop(NamedTuple):
    """The master's word to a sub: take no more connections.

    ``leaving``: the master's block is ending; then ``destroy`` tells the
    sub to destroy its connections (as the master's block does with its own).
    """

    leaving: bool
    destroy: bool


@final
class Group:
    """What a master and its sub-servers share, across their threads.

    Attributes:
        name: The group name (EdgerOS ``group``).
        size: How many sub-servers.
        sub_main: Runs in each sub task with its sub-server, or ``None``.
        listener: The master's ``connection_listener`` when there is no
            ``sub_main`` (it then serves in the subs too), else ``None``.
        options: The per-connection options the subs' servers are made with.
        factory: Makes the sub-server object for sub ``index`` (``Server._sub``).
        inboxes: Sub ``i``'s dispatch inbox is ``inboxes[i - 1]``.
        ready: Set in the master's run when every sub ran its ``sub_main``.
        ended: Set in the master's run when every sub task has ended.
        stopped: The master told the subs to stop.
    """

    __slots__ = (
        "_counts",
        "_lock",
        "_next",
        "_ready_count",
        "_token",
        "ended",
        "factory",
        "inboxes",
        "listener",
        "name",
        "options",
        "ready",
        "size",
        "stopped",
        "sub_main",
    )

    def __init__(
        self,
        name: str,
        size: int,
        sub_main: Callable[..., Any] | None,
        listener: Callable[..., Any] | None,
        options: dict[str, Any],
        factory: Callable[[Group, int], Server],
    ) -> None:
        self.name = name
        self.size = size
        self.sub_main = sub_main
        self.listener = listener if sub_main is None else None
        self.options = options
        self.factory = factory
        self.inboxes = [
            Mailbox(f"sub-server {index} of group {name!r}", persistent=True)
            for index in range(1, size + 1)
        ]
        self.ready = trio.Event()
        self.ended = trio.Event()
        self.stopped = False
        self._lock = threading.Lock()
        self._counts = [0] * (size + 1)
        self._ready_count = 0
        self._next = 0
        self._token: trio.lowlevel.TrioToken | None = None

    # -- connections --------------------------------------------------------

    def count(self, index: int, connections: int) -> None:
        """Member ``index`` (``0``: the master) now has ``connections`` open."""
        with self._lock:
            self._counts[index] = connections

    def total(self) -> int:
        """Open connections over the whole group."""
        with self._lock:
            return sum(self._counts)

    def next_member(self) -> int:
        """Who serves the next connection: ``0`` (the master) or a sub's index."""
        member = self._next
        self._next = (member + 1) % (self.size + 1)
        return member

    def hand(self, index: int, fd: int, remote: SockAddr | str) -> None:
        """Give the accepted ``fd`` to sub ``index``; it owns the fd from now on."""
        handoff = Handoff(fd)
        try:
            self.inboxes[index - 1].deliver((handoff, remote), own().id)
        except trio.ClosedResourceError:
            # The sub has ended (it failed, and the master is going down too).
            handoff.close()
            LOGGER.warning(
                "sub-server %d of group %r has ended; connection closed", index, self.name
            )

    # -- life cycle ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """The master's side: start the sub tasks, report ready, join them all.

        Runs in the master's nursery. A sub's exception is raised here bare.
        """
        with self._lock:
            self._token = trio.lowlevel.current_trio_token()
        try:
            async with AsyncExitStack() as stack:
                handles = [
                    await stack.enter_async_context(
                        _task.open_task(_sub_task, self, index, name=f"{self.name}/sub{index}")
                    )
                    for index in range(1, self.size + 1)
                ]
                async with open_nursery() as joins:
                    for handle in handles:
                        joins.start_soon(handle.join)
                    await self.ready.wait()
                    task_status.started()
        finally:
            for inbox in self.inboxes:
                inbox.close()  # closes the handoffs nobody took
            self.ended.set()

    def stop(self, *, leaving: bool, destroy: bool = False) -> None:
        """Tell every sub to stop (from the master's run; never waits)."""
        self.stopped = True
        for inbox in self.inboxes:
            with suppress(trio.ClosedResourceError):  # that sub has ended already
                inbox.deliver(Stop(leaving, destroy), own().id)

    def sub_ready(self) -> None:
        """From a sub's thread: its ``sub_main`` has run."""
        with self._lock:
            self._ready_count += 1
            everyone = self._ready_count == self.size
            token = self._token
        if everyone and token is not None:
            with suppress(trio.RunFinishedError):
                token.run_sync_soon(self.ready.set)


def check_group(group: object) -> str:
    """The group name, ``'server'`` for ``None``."""
    if group is None:
        return DEFAULT_GROUP
    if not isinstance(group, str):
        raise TypeError(f"group must be a str or None, not {type(group).__name__}")
    if not group:
        raise ValueError("group must not be empty")
    return group


def check_sub_main(sub_main: object) -> Callable[..., Any] | None:
    """A callable, or the function an importable ``"module:function"`` names."""
    if sub_main is None or callable(sub_main):
        return sub_main
    if not isinstance(sub_main, str):
        raise TypeError(
            f"sub_main must be callable or a 'module:function' str, not {type(sub_main).__name__}"
        )
    module_name, colon, attribute = sub_main.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"sub_main must look like 'module:function', not {sub_main!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"sub_main {sub_main!r}: cannot import {module_name!r}: {exc}") from exc
    try:
        found = operator.attrgetter(attribute)(module)
    except AttributeError as exc:
        raise ValueError(f"sub_main {sub_main!r}: {module_name!r} has no {attribute!r}") from exc
    if not callable(found):
        raise TypeError(f"sub_main {sub_main!r} names a {type(found).__name__}, not a callable")
    return found  # type: ignore[no-any-return]


_local = threading.local()


def create_sub_server(group: str) -> Server:
    """The current task's sub-server of ``group`` (in a sub task of a master).

    Use it where ``sub_main`` does not get the server passed along, e.g. in
    code a ``sub_main`` calls. Attach ``'connection'`` listeners to it; it
    takes its connections from its master, so it never binds.

    EdgerOS equivalent: ``net.createSubServer(group)``.

    Raises:
        TypeError: ``group`` is not a ``str``.
        ValueError: the current task is not a sub-server task of ``group``.
    """
    if not isinstance(group, str):
        raise TypeError(f"group must be a str, not {type(group).__name__}")
    servers: dict[str, Server] = getattr(_local, "servers", {})
    found = servers.get(group)
    if found is None:
        raise ValueError(
            f"group {group!r}: the current task runs no sub-server of that group "
            "(call create_sub_server in a sub task, e.g. from sub_main)"
        )
    return found


async def _sub_task(group: Group, index: int) -> None:
    """A sub task's main: its server, ``sub_main``, then the master's connections."""
    inbox = group.inboxes[index - 1]
    servers: dict[str, Server] = _local.__dict__.setdefault("servers", {})
    try:
        server = group.factory(group, index)
        servers[group.name] = server
        async with server:
            if group.sub_main is not None:
                result = group.sub_main(server)
                if inspect.isawaitable(result):
                    await result
            await server._serve_dispatched(inbox)
    finally:
        servers.pop(group.name, None)
        inbox.close()


async def take_dispatched(
    inbox: Mailbox,
    admit: Callable[[int, SockAddr | str], Any],
    stop: Callable[[Stop], None],
) -> None:
    """A sub's accept loop: claim each handed-over fd and ``admit`` it.

    Keeps reading after a ``Stop`` (a later one may say the master's block is
    leaving); the caller cancels it once the sub has drained.
    """
    while True:
        found = await inbox.get(None, None)
        assert found is not None
        msg = found[0]
        if isinstance(msg, Stop):
            stop(msg)
            continue
        assert isinstance(msg, tuple)
        handoff: Handoff = msg[0]
        remote: SockAddr | str = msg[1]
        await admit(handoff.claim(), remote)
