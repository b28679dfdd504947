"""``Socket.pipe``: Node's ``readable.pipe(dest)``, with backpressure and the end passed on."""

from __future__ import annotations

import pytest
import trio
from _net_helpers import Serving, serving, until
from trio.testing import MockClock

from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True

_MIB = 1 << 20


async def _peer_of(served: Serving, sock: net.Socket) -> net.Socket:
    """The server's side of ``sock`` ('connection' order is not connect order)."""
    await until(lambda: any(p.remote_port == sock.local_port for p in served.accepted))
    return next(p for p in served.accepted if p.remote_port == sock.local_port)


async def test_an_echo_by_pipe_pauses_while_its_queue_is_full(autojump_clock: MockClock) -> None:
    # The client sends more than both kernels' buffers hold and reads only a
    # second later: without backpressure the server would queue the rest.
    queued: list[int] = []
    drains: list[None] = []

    def on_connection(c: net.Socket) -> None:
        c.on("data", lambda chunk: queued.append(c.buffer_size))
        c.on("drain", lambda: drains.append(None))
        c.pipe(c)

    payload = bytes(range(256)) * (32 * _MIB // 256)
    async with (
        serving(on_connection, high_water_mark=1024) as served,
        net.connect(served.port, "127.0.0.1") as client,
        trio.open_nursery() as nursery,
    ):

        async def send() -> None:
            await client.send_all(payload)
            await client.send_eof()

        nursery.start_soon(send)
        await trio.sleep(1)
        echoed = b"".join([chunk async for chunk in client])
    assert echoed == payload
    # The queue did fill, and the pipe waited for it to drain...
    assert drains
    # ...pausing at the mark: at most what one read brings on top of it.
    assert max(queued) <= 1024 + 262144 < len(payload)


async def test_the_source_s_end_ends_the_destination_unless_told_not_to(
    autojump_clock: MockClock,
) -> None:
    for end in (True, False):
        async with serving() as served:
            async with (
                net.connect(served.port, "127.0.0.1", allow_half_open=True) as source,
                net.connect(served.port, "127.0.0.1") as destination,
            ):
                source_peer = await _peer_of(served, source)
                destination_peer = await _peer_of(served, destination)
                assert source.pipe(destination, end=end) is destination
                source_peer.end(b"through the pipe")
                await until(lambda: destination.bytes_written == 16)
                await trio.sleep(1)
                assert destination.ready_state == ("readOnly" if end else "open")
                destination.destroy()
            assert await destination_peer.receive_some() == b"through the pipe"


async def test_a_destination_that_closed_takes_the_pipe_apart(autojump_clock: MockClock) -> None:
    async with (
        serving() as served,
        net.connect(served.port, "127.0.0.1") as source,
        net.connect(served.port, "127.0.0.1") as destination,
    ):
        source_peer = await _peer_of(served, source)
        source.pipe(destination)
        destination.destroy()
        await destination.wait_closed()
        assert source.listener_count("data") == 0
        await source_peer.send_all(b"goes nowhere, raises nothing")
        source_peer.end()
        await source.wait_closed()


async def test_pipe_checks_its_destination(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as source:
        with pytest.raises(TypeError, match=r"destination must be a net\.Socket"):
            source.pipe(b"")  # type: ignore[type-var]
        with pytest.raises(TypeError, match="end"):
            source.pipe(source, end=1)  # type: ignore[arg-type]
