"""Node's echo server: greet each client, then echo what it sends.

Port of the ``net.createServer()`` example of the Node.js ``net`` document,
a server on port 8124 that logs ``client connected`` / ``client
disconnected``, writes ``hello\\r\\n`` and pipes the socket into itself.
``c.pipe(c)`` becomes a ``'data'`` listener that writes each chunk back;
``server.on('error', (err) => { throw err; })`` needs no code at all,
because ``listen()`` raises.

Run it with ``python examples/net_echo_server.py [PORT]``: it listens on
127.0.0.1 (a free port by default), lets one visitor of its own say
``ping`` so that it has something to echo, prints what the visitor got back,
and exits.
"""

from __future__ import annotations

import sys

import trio

from trionet import net


def on_connection(conn: net.Socket) -> None:
    """The ``'connection'`` listener: greet, echo, log the end."""
    print("client connected")
    conn.on("end", lambda: print("client disconnected"))
    conn.write("hello\r\n")
    conn.on("data", conn.write)  # c.pipe(c)


async def visit(port: int) -> bytes:
    """Say ``ping`` to the server, end our side, return all it sent."""
    received = bytearray()
    async with net.connect(port, "127.0.0.1") as client:
        client.on("data", received.extend)
        client.end("ping\r\n")
        await client.wait_closed()
    return bytes(received)


async def main(port: int = 0) -> bytes:
    """Serve one visitor on ``port`` and return what it received."""
    async with net.create_server(on_connection) as server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        print("server bound", address)
        reply = await visit(address.port)
        server.close()
    print("visitor got", reply)
    return reply


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
