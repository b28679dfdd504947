"""A server on an arbitrary free port that says goodbye.

Port of the ``server.address()`` example of the Node.js ``net`` document:
every connection gets ``goodbye\\n`` and is ended; ``listen()`` without a
port picks a free one, and the ``'listening'`` listener prints the address
the system assigned. Nobody reads the server's sockets, and each still
closes once its visitor has closed: as Node's socket does, it reads ahead
and sees the end (SPEC rule 12).

Run it with ``python examples/net_goodbye_server.py [PORT]``: after one
visitor of its own has been told goodbye, it closes and exits.
"""

from __future__ import annotations

import sys

import trio

from trionet import net


def goodbye(sock: net.Socket) -> None:
    """The ``'connection'`` listener: ``socket.end('goodbye\\n')``."""
    sock.end("goodbye\n")


async def main(port: int = 0) -> bytes:
    """Listen on ``port`` (``0``: any free one), greet one visitor, return its message."""
    async with net.create_server(goodbye) as server:
        server.on("listening", lambda: print("opened server on", server.address()))
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        received = bytearray()
        async with net.connect(address.port, "127.0.0.1") as visitor:
            visitor.on("data", received.extend)
            await visitor.wait_closed()
        server.close()
    print("visitor heard", bytes(received))
    return bytes(received)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
