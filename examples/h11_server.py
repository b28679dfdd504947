"""An HTTP/1.1 keep-alive server: h11 over the connections of ``net.create_server``.

A ``net.Socket`` that nobody reads with events is a trio stream, so h11
(which does no I/O itself) runs over it as over ``trio.SocketStream``:
``receive_some`` feeds the parser, ``send_all`` sends what it produced.
``close_after=N`` makes the server drop each connection, without a word,
after its N-th response, as a server with an idle timeout does; a client
pool must notice and reconnect.

Run it with ``python examples/h11_server.py``: it serves on a free port of
127.0.0.1, fetches ``/hello`` three times over one connection with
``curl`` (if installed), and prints what curl got.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import AsyncIterator

import h11
import trio

from trionet import net


@dataclasses.dataclass
class Stats:
    """What the server saw: connections accepted and closed, requests answered."""

    connections: int = 0
    closed: int = 0
    requests: int = 0


async def handle(sock: net.Socket, stats: Stats, close_after: int | None) -> None:
    """Answer requests on ``sock`` until the client closes (or ``close_after``)."""
    stats.connections += 1
    conn = h11.Connection(h11.SERVER)
    try:
        async with sock:  # the connection ends with this handler
            await _answer(sock, conn, stats, close_after)
    finally:
        stats.closed += 1


async def _answer(
    sock: net.Socket, conn: h11.Connection, stats: Stats, close_after: int | None
) -> None:
    answered = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await sock.receive_some())
        elif isinstance(event, h11.Request):
            body = b"hello from trionet: " + event.target + b"\n"
            headers = [("content-type", "text/plain"), ("content-length", str(len(body)))]
            await sock.send_all(
                conn.send(h11.Response(status_code=200, headers=headers))
                + conn.send(h11.Data(data=body))
                + conn.send(h11.EndOfMessage())
            )
            stats.requests += 1
            answered += 1
            if close_after is not None and answered == close_after:
                return  # an idle timeout, as far as the client can tell
        elif isinstance(event, h11.EndOfMessage):
            if conn.our_state is not h11.DONE:
                return  # HTTP/1.0, or "Connection: close": h11 says MUST_CLOSE
            conn.start_next_cycle()
        elif isinstance(event, h11.ConnectionClosed):
            return


@contextlib.asynccontextmanager
async def serving(
    tls: net.TlsOptions | None = None, close_after: int | None = None
) -> AsyncIterator[tuple[int, Stats]]:
    """Serve on a free port of 127.0.0.1; yield ``(port, stats)``; stop at the end."""
    stats = Stats()

    async def on_connection(sock: net.Socket) -> None:
        await handle(sock, stats, close_after)

    async with net.create_server(on_connection, tls=tls) as server:
        await server.listen(0, "127.0.0.1")
        port = server.port()
        assert port is not None
        yield port, stats
        server.close()


async def main() -> str:
    """Serve three curl requests over one connection; return what curl printed."""
    curl = shutil.which("curl")
    async with serving() as (port, stats):
        if curl is None:
            print("curl is not installed")
            return ""
        url = f"http://127.0.0.1:{port}/hello"
        done = await trio.run_process([curl, "-s", url, url, url], capture_stdout=True)
    out = done.stdout.decode()
    print(out, end="")
    print(f"{stats.requests} requests over {stats.connections} connection(s)")
    return out


if __name__ == "__main__":
    trio.run(main)
