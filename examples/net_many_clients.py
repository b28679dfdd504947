"""IoT.js's ``'connect'`` example: 40 clients, each ending with its own index.

Forty ``net.Socket`` objects connect at once; each one's ``'connect'``
listener ends the socket with its index as the only data. The server
collects what each connection sent and, on ``'end'``, records it; the
document's ``(function(i) { ... })(i)`` closure becomes a function that
takes ``i``, run once per client in a nursery.

Run it with ``python examples/net_many_clients.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

COUNT = 40


async def one_client(port: int, i: int) -> None:
    """``new net.Socket()``, connect, and end with ``str(i)`` once connected."""
    socket = net.Socket()
    socket.on("connect", lambda: socket.end(str(i)))
    async with socket:
        await socket.connect(port, "127.0.0.1")
        socket.resume()  # see the server's end, then close
        await socket.wait_closed()


async def main(port: int = 0, count: int = COUNT) -> list[int]:
    """Connect ``count`` clients at once; return the indices the server received."""
    received: list[int] = []

    def on_connection(socket: net.Socket) -> None:
        msg: list[str] = []
        socket.set_encoding("ascii")
        socket.on("data", msg.append)
        socket.on("end", lambda: received.append(int("".join(msg))))

    async with net.create_server(on_connection) as server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        async with trio.open_nursery() as nursery:
            for i in range(count):
                nursery.start_soon(one_client, address.port, i)
        server.close()
    print(f"the server heard from {len(received)} clients:", sorted(received))
    return sorted(received)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
