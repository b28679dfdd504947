"""A WebSocket echo server: trio-websocket over the connections of ``net.create_server``.

trio-websocket speaks WebSocket over any trio stream; a ``net.Socket`` read
by pulling is one. ``wrap_server_stream`` takes the connection (its reader
task runs in the nursery given), ``accept()`` answers the upgrade, and the
handler echoes every message. The client side is the same library over
``net.open_stream``.

Run it with ``python examples/websocket_server.py``: it serves on a free
port of 127.0.0.1 and a trio-websocket client sends three messages.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio
import trio_websocket

from trionet import net


async def echo(sock: net.Socket) -> None:
    """Accept the WebSocket upgrade on ``sock`` and echo until the client closes."""
    async with sock, trio.open_nursery() as nursery:
        request = await trio_websocket.wrap_server_stream(nursery, sock)
        ws = await request.accept()
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            while True:
                await ws.send_message(await ws.get_message())


@contextlib.asynccontextmanager
async def serving(tls: net.TlsOptions | None = None) -> AsyncIterator[int]:
    """Serve on a free port of 127.0.0.1; yield the port; stop at the end."""
    async with net.create_server(echo, tls=tls) as server:
        await server.listen(0, "127.0.0.1")
        port = server.port()
        assert port is not None
        yield port
        server.close()


async def main(messages: int = 3) -> list[str]:
    """Echo ``messages`` messages through the server; return the replies."""
    replies = []
    async with serving() as port, trio.open_nursery() as nursery:
        stream = await net.open_stream(port, "127.0.0.1")
        ws = await trio_websocket.wrap_client_stream(nursery, stream, "127.0.0.1", "/")  # type: ignore[arg-type]
        for i in range(messages):
            await ws.send_message(f"message {i}")
            replies.append(str(await ws.get_message()))
        await ws.aclose()
    print(replies)
    return replies


if __name__ == "__main__":
    trio.run(main)
