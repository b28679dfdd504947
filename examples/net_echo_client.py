"""The echo client of the Node.js and EdgerOS ``net`` documents.

Port of the ``net.createConnection()`` example: connect, log ``connected
to server!``, write ``world!\\r\\n``, print the first reply and end, log
``disconnected from server`` when the server ends. (EdgerOS's version is
the same program with ``recv msg:`` in front of the reply.) The code of
the ``'connect'`` listener simply follows the ``async with`` line: the block
is entered once the socket is connected.

Run it with ``python examples/net_echo_client.py [PORT]``: it starts a
plain echo server on 127.0.0.1 (a free port by default) for the client to
talk to, runs the client, and exits.
"""

from __future__ import annotations

import sys

import trio

from trionet import net


async def client(port: int) -> bytes:
    """The document's client: returns everything the server sent."""
    received = bytearray()

    def on_data(data: bytes) -> None:
        print("recv msg:" + data.decode())
        received.extend(data)
        sock.end()  # a second end() is a no-op, so later chunks are fine

    async with net.connect(port, "127.0.0.1") as sock:
        print("connected to server!")
        sock.on("data", on_data)
        sock.on("end", lambda: print("disconnected from server"))
        sock.write("world!\r\n")
        await sock.wait_closed()
    return bytes(received)


def echo(conn: net.Socket) -> None:
    """A stand-in for the document's server: echo every chunk."""
    conn.on("data", conn.write)


async def main(port: int = 0) -> bytes:
    """Run the client against an echo server on ``port``; return its reply."""
    async with net.create_server(echo) as server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        reply = await client(address.port)
        server.close()
    return reply


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
