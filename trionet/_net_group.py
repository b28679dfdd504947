"""What a master ``net.Server`` needs of its group of sub-servers, as a ``Protocol``.

Two classes implement it: ``_net_subs.Group`` (sub-servers in
``trionet.task`` tasks) and ``_net_workers.ProcessGroup`` (in worker
processes). The server holds either as a ``ServerGroup`` and never asks
which, so mypy checks that both offer the whole of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import trio

    from ._core._addr import SockAddr

__all__ = ["ServerGroup"]


class ServerGroup(Protocol):
    """A master's sub-servers, seen from the master.

    Attributes:
        stopped: The master told the subs to stop (``stop``).
        ended: Set in the master's run once every sub-server has ended.
    """

    stopped: bool
    ended: trio.Event

    async def run(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Start the subs; ``started()`` once each ran ``sub_main``; end when they all have.

        Runs in the master's nursery; a sub's failure is raised here.
        """

    def next_member(self) -> int:
        """Who serves the next accepted connection: ``0`` (the master) or a sub's index."""

    def hand(self, index: int, fd: int, remote: SockAddr | str) -> None:
        """Give the accepted ``fd`` to sub ``index``, which owns it from now on; never waits."""

    def count(self, index: int, connections: int) -> None:
        """Member ``index`` (``0``: the master) now has ``connections`` open."""

    def total(self) -> int:
        """Open connections over the whole group."""

    def stop(self, *, leaving: bool, destroy: bool = False) -> None:
        """Tell every sub to stop taking connections; never waits.

        ``leaving``: the master's block is ending; then ``destroy`` says to
        destroy the subs' connections, as the master's block does its own.
        """
