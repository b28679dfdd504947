"""``socket.setTimeout()``: end a connection that stays idle.

Ports of the idle-timeout examples: IoT.js's server gives each connection
``socket.setTimeout(2000, () => socket.end())`` (Node and EdgerOS show the
same with 3000 ms and a ``'timeout'`` listener that logs ``socket
timeout``), and IoT.js's ``socket.write`` example has a client that writes
``Hello IoT.js`` one second after connecting. The write counts as
activity, so the server's timer starts again: the connection is ended two
seconds after the write, three after connecting. The ``'timeout'`` event
only notifies; the listener decides to end. The server also turns on
keep-alive, as IoT.js's ``setKeepAlive(true, 1000)`` example does (1000 ms
becomes 1 s).

IoT.js's ``'timeout'`` example lets a connect to the reserved address
192.0.2.1 hang; these examples talk to loopback only, so the idle
connection here is a loopback one.

Run it with ``python examples/net_idle_timeout.py [PORT]``: it takes about
three seconds.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

IDLE = 2.0  # seconds of inactivity before 'timeout'; the document's 2000 ms
WRITE_AT = 1.0  # the client writes this long after connecting


def on_connection(socket: net.Socket) -> None:
    """The server: ends a connection idle for ``IDLE`` seconds."""

    def on_timeout() -> None:
        print("socket timeout")
        socket.end()

    socket.set_keep_alive(True, 1)
    socket.set_timeout(IDLE, on_timeout)
    socket.on("data", lambda data: print("server got", data))


async def main(port: int = 0) -> float:
    """Return how long after connecting the server ended the idle connection."""
    async with net.create_server(on_connection) as server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        async with net.connect(address.port, "127.0.0.1") as client:
            start = trio.current_time()
            ended: list[float] = []
            client.on("end", lambda: ended.append(trio.current_time() - start))
            client.resume()  # read, so that the server's end is seen
            await trio.sleep(WRITE_AT)
            client.write("Hello IoT.js")
            await client.wait_closed()
        server.close()
    print(f"the server ended the connection {ended[0]:.1f} s after it opened")
    return ended[0]


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
