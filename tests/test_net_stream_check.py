"""``net.Socket`` passes trio's generic checks for a ``HalfCloseableStream``."""

from __future__ import annotations

import contextlib
import socket as stdsocket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing

from trionet import net

Maker = Callable[[], Awaitable[tuple[net.Socket, net.Socket]]]


def _tcp_pair() -> tuple[stdsocket.socket, stdsocket.socket]:
    with stdsocket.create_server(("127.0.0.1", 0)) as listener:
        client = stdsocket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


async def _fill(sock: net.Socket) -> None:
    """Send until the kernel takes no more (trio's own tests fill streams this way)."""

    async def sender() -> None:
        while True:
            await sock.send_all(b"x" * 10000)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def _makers() -> AsyncIterator[tuple[Maker, Maker]]:
    # The sockets must outlive the maker calls: their nurseries stay open in
    # this exit stack, entered by the test's own task, until the test ends.
    async with contextlib.AsyncExitStack() as stack:

        async def maker() -> tuple[net.Socket, net.Socket]:
            pair = []
            for raw in _tcp_pair():
                sock = net.Socket(fd=raw.detach(), allow_half_open=True)
                pair.append(await stack.enter_async_context(sock))
            return pair[0], pair[1]

        async def clogged() -> tuple[net.Socket, net.Socket]:
            left, right = await maker()
            await _fill(left)  # both: the checks also run with the pair flipped
            await _fill(right)
            return left, right

        yield maker, clogged


@pytest.mark.usefixtures("yield_every_call")
async def test_socket_passes_trio_check_half_closeable_stream() -> None:
    async with _makers() as (maker, clogged):
        await trio.testing.check_half_closeable_stream(maker, clogged)
