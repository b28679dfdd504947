"""httpcore's connection pool over trionet, against Python's own ``http.server``.

``httpcore.AsyncConnectionPool(network_backend=NetworkBackend())`` opens
each connection with ``net.open_stream`` and keeps it for the next request
(keep-alive); before reusing an idle one it asks ``is_readable()``, and
a connection the server closed meanwhile is replaced by a new one.

Run it with ``python examples/httpcore_pool.py``: it starts
``python -m http.server --protocol HTTP/1.1`` on a free port of 127.0.0.1,
fetches ``/`` ten times through the pool, and prints the statuses.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from functools import partial

import httpcore
import trio

from trionet.httpcore import NetworkBackend


async def fetch(url: str, count: int, ssl_context: ssl.SSLContext | None = None) -> list[int]:
    """GET ``url`` ``count`` times through one pool; return the statuses."""
    statuses = []
    async with httpcore.AsyncConnectionPool(
        network_backend=NetworkBackend(), ssl_context=ssl_context
    ) as pool:
        for _ in range(count):
            response = await pool.request("GET", url)
            statuses.append(response.status)
    return statuses


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_for(port: int) -> None:
    """Until the server accepts connections (it starts in another process)."""
    for _ in range(500):
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        except OSError:
            await trio.sleep(0.01)
        else:
            await stream.aclose()
            return
    raise RuntimeError("http.server did not start")


async def main(count: int = 10) -> list[int]:
    """Fetch ``/`` ``count`` times from a fresh ``http.server``; return the statuses."""
    port = _free_port()
    command = [sys.executable, "-m", "http.server", "--protocol", "HTTP/1.1"]
    command += ["--bind", "127.0.0.1", str(port)]
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(
                trio.run_process,
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        )
        await _wait_for(port)
        statuses = await fetch(f"http://127.0.0.1:{port}/", count)
        server.terminate()
    print(statuses)
    return statuses


if __name__ == "__main__":
    trio.run(main)
