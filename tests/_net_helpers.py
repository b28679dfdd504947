"""Helpers shared by the ``trionet.net`` tests: a loopback server, event recorders."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from trionet import net

EVENTS: tuple[net.SocketEvent, ...] = (
    "connect",
    "ready",
    "lookup",
    "data",
    "end",
    "finish",
    "drain",
    "timeout",
    "error",
    "close",
)


def record(emitter: net.Socket, log: list[Any], prefix: str = "") -> None:
    """Append ``(prefix + event, *args)`` to ``log`` for every event of a socket."""
    for event in EVENTS:
        emitter.on(event, _recorder(log, prefix + event))


def _recorder(log: list[Any], name: str) -> Callable[..., None]:
    def listener(*args: Any) -> None:
        log.append((name, *args))

    return listener


def names(log: list[Any]) -> list[str]:
    return [entry[0] for entry in log]


class Serving:
    """A listening server on 127.0.0.1 and the server-side sockets it accepted."""

    def __init__(self, server: net.Server) -> None:
        self.server = server
        self.accepted: list[net.Socket] = []
        self.arrived = trio.Event()

    @property
    def port(self) -> int:
        port = self.server.port()
        assert port is not None
        return port

    async def next_socket(self, index: int = 0) -> net.Socket:
        """The ``index``-th accepted socket, once it is there."""
        while len(self.accepted) <= index:
            self.arrived = trio.Event()
            await self.arrived.wait()
        return self.accepted[index]

    def _accept(self, sock: net.Socket) -> None:
        self.accepted.append(sock)
        self.arrived.set()


@contextlib.asynccontextmanager
async def serving(
    listener: Callable[..., Any] | None = None, host: str = "127.0.0.1", **options: Any
) -> AsyncIterator[Serving]:
    """A server listening on an ephemeral port of ``host``; closed at the end.

    The connections still open when the block ends are destroyed.
    """
    async with net.create_server(**options) as server:
        served = Serving(server)
        server.on("connection", served._accept)
        if listener is not None:
            server.on("connection", listener)
        await server.listen(0, host)
        yield served
        # A connection nobody reads sees its peer's FIN but does not end its
        # own side (SPEC rule 29), so it would stay half-open: an
        # unref'd server destroys its connections when its block ends.
        server.unref()


async def until(predicate: Callable[[], object], limit: int = 10_000) -> None:
    """Sleep in 1 ms steps (instant under ``autojump_clock``) until ``predicate()`` holds."""
    for _ in range(limit):
        if predicate():
            return
        await trio.sleep(0.001)
    raise AssertionError("condition not reached")
