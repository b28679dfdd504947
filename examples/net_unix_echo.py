"""An echo server and client on a Unix-domain socket.

Port of the IPC examples of the Node.js ``net`` document:
``server.listen('/tmp/echo.sock')`` and
``net.createConnection({ path: '/tmp/echo.sock' })`` (tested there with
``nc -U /tmp/echo.sock``). ``path=`` replaces the port; ``close()``
unlinks the socket file, as Node does.

Run it with ``python examples/net_unix_echo.py [PATH]``: it listens on
``PATH`` (a fresh temporary directory's ``echo.sock`` by default), echoes
one client's greeting, and exits, leaving no socket file behind.
"""

from __future__ import annotations

import os
import sys
import tempfile

import trio

from trionet import net


def echo(conn: net.Socket) -> None:
    """The ``'connection'`` listener: send every chunk back."""
    conn.on("data", conn.write)


async def main(path: str | None = None) -> bytes:
    """Serve one echo client on the Unix socket ``path``; return its reply."""
    with tempfile.TemporaryDirectory() as folder:
        path = path or os.path.join(folder, "echo.sock")
        async with net.create_server(echo) as server:
            await server.listen(path=path)
            print("server bound", server.address())
            received = bytearray()
            async with net.connect(path=path) as client:
                client.on("data", received.extend)
                client.end("hello over a Unix socket\n")
                await client.wait_closed()
            server.close()
        print("echoed:", received.decode().strip())
        print("socket file left behind:", await trio.Path(path).exists())
    return bytes(received)


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else None)
