"""httpcore's connection pool over trionet, against Python's own ``http.server``.

``httpcore.AsyncConnectionPool(network_backend=NetworkBackend())`` opens
each connection with ``net.open_stream`` and keeps it for the next request
(keep-alive); before reusing an idle one it asks ``is_readable()``, and
a connection the server closed meanwhile is replaced by a new one.

Run it with ``python examples/httpcore_pool.py``: it starts
``python -m http.server --protocol HTTP/1.1`` on a free port of 127.0.0.1
(port 0: it reports the port the kernel gave it),
fetches ``/`` ten times through the pool, and prints the statuses.
"""

from __future__ import annotations

import ssl
import subprocess
import sys

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


async def _serving_port(stdout: trio.abc.ReceiveStream) -> int:
    """The port ``http.server`` reports once it listens ("Serving HTTP on ... port N")."""
    seen = b""
    while b"\n" not in seen:
        chunk = await stdout.receive_some()
        if not chunk:
            raise RuntimeError(f"http.server ended before it listened: {seen!r}")
        seen += chunk
    return int(seen.split(b" port ")[1].split()[0])


async def main(count: int = 10) -> list[int]:
    """Fetch ``/`` ``count`` times from a fresh ``http.server``; return the statuses."""
    # Port 0: the kernel picks a free port as it binds, and the server
    # says which (unbuffered, -u), so no other program can take it first.
    command = [sys.executable, "-u", "-m", "http.server", "--protocol", "HTTP/1.1"]
    command += ["--bind", "127.0.0.1", "0"]
    server = await trio.lowlevel.open_process(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert server.stdout is not None
    try:
        port = await _serving_port(server.stdout)
        statuses = await fetch(f"http://127.0.0.1:{port}/", count)
    finally:
        server.terminate()
        await server.wait()
        await server.stdout.aclose()
    print(statuses)
    return statuses


if __name__ == "__main__":
    trio.run(main)
