"""Where a simulated kernel plugs into the fd level (``trionet.testing.VirtualNetwork``).

The fd level makes every system call as a method of the ``socket.socket``
in an fd's ``Entry``, and waits for the fd number to turn readable or
writable. A simulation therefore provides two things: socket objects
(``SimulatedSocket``, a ``socket.socket`` that never opens a real socket)
and, behind each, a real fd whose readiness mirrors the virtual socket's.
This module holds the current simulation in a context variable, so that it
applies to the task that entered it and to the tasks that one starts, and
``socket()``, the one place the fd level creates sockets. See
``docs/design/vnet.md``.
"""

from __future__ import annotations

import contextvars
import socket as _stdsocket
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["SimulatedSocket", "Simulation", "TaskRunner", "current", "reset", "socket", "use"]


class SimulatedSocket(_stdsocket.socket):
    """A socket of a simulated kernel: ``socket.socket``'s interface, no real socket.

    Subclasses never call ``socket.socket.__init__`` (which opens the
    socket and raises the ``socket.__new__`` audit event); they override
    every method trionet calls. ``fileno()`` is a real fd owned by the
    object, readable and writable as the virtual socket is.
    """

    __slots__ = ()

    def pending(self) -> int:
        """Bytes queued for reading (what ``FIONREAD`` reports)."""
        raise NotImplementedError

    def disconnect(self) -> None:
        """Forget a datagram socket's connected peer (``connect`` to ``AF_UNSPEC``)."""
        raise NotImplementedError

    def write_fd(self) -> int:
        """An fd that polls ``POLLOUT`` exactly when the socket is writable.

        ``fileno()`` cannot show "neither readable nor writable" (it shows
        writable then); a level-triggered waiter for a write polls this
        one instead, or it would spin while a connect is in flight.
        """
        raise NotImplementedError


class Simulation(Protocol):
    """What the fd level asks of a simulated kernel."""

    def socket(self, family: int, type: int) -> SimulatedSocket:
        """A new non-blocking virtual socket."""

    def task_runner(self) -> TaskRunner:
        """What a ``trionet.task`` opened now runs its async main with, instead of ``trio.run``.

        Called in the opening thread, so the simulation knows of the new
        run before it starts.
        """


class TaskRunner(Protocol):
    """How one task's thread runs on a simulation."""

    def run(self, async_fn: Callable[..., Any], *args: Any) -> Any:
        """``trio.run(async_fn, *args)``, on the simulated network and its clock."""

    def left(self) -> None:
        """The task ended and told its parent (the last thing its thread does)."""


_current: contextvars.ContextVar[Simulation | None] = contextvars.ContextVar(
    "trionet_simulation", default=None
)


def current() -> Simulation | None:
    """The simulation the calling task runs in, or ``None`` on the real kernel."""
    return _current.get()


def use(simulation: Simulation | None) -> contextvars.Token[Simulation | None]:
    """Make ``simulation`` current for this context (and tasks it starts from now)."""
    return _current.set(simulation)


def reset(token: contextvars.Token[Simulation | None]) -> None:
    """Undo a ``use``."""
    _current.reset(token)


def socket(family: int, type: int) -> _stdsocket.socket:
    """A new socket: a real one, or the current simulation's."""
    simulation = _current.get()
    if simulation is None:
        return _stdsocket.socket(family, type)
    return simulation.socket(family, type)
