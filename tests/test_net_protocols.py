"""A ``net.Socket`` is a ``trio.abc.HalfCloseableStream`` (SPEC section 3).

h11, a pure HTTP/1.1 protocol library that knows nothing of trionet, holds
a keep-alive conversation over a client from ``net.connect`` and the
server-side socket a ``net.Server`` accepted, on loopback, using only
trio's stream methods. (trio's generic stream checks run in
``test_net_stream_check.py``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h11
import trio

from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True

Pair = tuple[net.Socket, net.Socket]


async def _hold_client(
    port: int, *, task_status: trio.TaskStatus[net.Socket] = trio.TASK_STATUS_IGNORED
) -> None:
    async with net.connect(port, "127.0.0.1", allow_half_open=True) as sock:
        task_status.started(sock)
        # The test decides when the socket is done; leaving the block closes it.
        await trio.sleep_forever()


@asynccontextmanager
async def _socket_pair() -> AsyncIterator[Pair]:
    """Yield a connected (client, server-side) pair of sockets.

    The client's block lives in a task of this context's nursery, so it
    stays usable in the test's own code. Both ends allow half-open
    connections, as a ``HalfCloseableStream`` should: one that received EOF
    can still send, which Node's default (``allow_half_open=False``: the
    peer's FIN ends our side too) forbids.
    """
    send_accepted, receive_accepted = trio.open_memory_channel[net.Socket](1)
    async with (
        net.create_server(send_accepted.send_nowait, allow_half_open=True) as server,
        trio.open_nursery() as nursery,
    ):
        await server.listen(0, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        client: net.Socket = await nursery.start(_hold_client, address.port)
        yield client, await receive_accepted.receive()
        nursery.cancel_scope.cancel()
        server.close()


BODY = bytes(range(256)) * 1024  # 256 KiB: many reads and writes each way


async def _next_event(
    conn: h11.Connection, stream: net.Socket
) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
    """The next h11 event (never ``NEED_DATA``), reading from ``stream`` as h11 asks."""
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some())


async def _send(conn: h11.Connection, stream: net.Socket, *events: h11.Event) -> None:
    for event in events:
        data = conn.send(event)
        if data:
            await stream.send_all(data)


async def _read_body(conn: h11.Connection, stream: net.Socket) -> bytes:
    body = bytearray()
    while isinstance(event := await _next_event(conn, stream), h11.Data):
        body += event.data
    assert isinstance(event, h11.EndOfMessage)
    return bytes(body)


async def _serve_http(stream: net.Socket) -> list[bytes]:
    """Answer each request with its body reversed, until the client closes."""
    conn = h11.Connection(h11.SERVER)
    targets = []
    while True:
        event = await _next_event(conn, stream)
        if isinstance(event, h11.ConnectionClosed):
            break
        assert isinstance(event, h11.Request)
        targets.append(event.target)
        body = await _read_body(conn, stream)
        response = h11.Response(
            status_code=200, headers=[("Content-Length", str(len(body)))], reason=b"OK"
        )
        await _send(conn, stream, response, h11.Data(data=body[::-1]), h11.EndOfMessage())
        if conn.our_state is h11.MUST_CLOSE:
            break
        conn.start_next_cycle()
    await stream.aclose()
    return targets


async def _request(
    conn: h11.Connection, stream: net.Socket, target: bytes, *, close: bool
) -> bytes:
    headers = [("Host", "localhost"), ("Content-Length", str(len(BODY)))]
    if close:
        headers.append(("Connection", "close"))
    request = h11.Request(method="POST", target=target, headers=headers)
    await _send(conn, stream, request, h11.Data(data=BODY), h11.EndOfMessage())
    response = await _next_event(conn, stream)
    assert isinstance(response, h11.Response)
    assert response.status_code == 200
    return await _read_body(conn, stream)


async def test_h11_keep_alive_conversation_over_net_sockets() -> None:
    served: list[list[bytes]] = []

    async with _socket_pair() as (client, server_side), trio.open_nursery() as nursery:

        async def serve() -> None:
            served.append(await _serve_http(server_side))

        assert isinstance(client, trio.abc.HalfCloseableStream)
        assert isinstance(server_side, trio.abc.HalfCloseableStream)
        nursery.start_soon(serve)
        conn = h11.Connection(h11.CLIENT)
        first = await _request(conn, client, b"/first", close=False)
        conn.start_next_cycle()
        second = await _request(conn, client, b"/second", close=True)
        assert conn.our_state is h11.MUST_CLOSE
        await client.aclose()

    assert first == second == BODY[::-1]
    assert served == [[b"/first", b"/second"]]
    assert client.destroyed
    assert server_side.destroyed
