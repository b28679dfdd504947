"""IoT.js's ``'drain'`` example: write 200 chunks, waiting whenever the queue is full.

For each connection the server writes the digits ``0``-``9`` over and over,
one chunk per ``write()``, until ``write()`` returns ``False``; the
``'drain'`` listener carries on once the queue has emptied, and after the
200th chunk the server ends the socket. ``write()`` hands data straight to
the kernel while the kernel takes it, and returns ``False`` only once the
data it had to queue reached the high-water mark; the document's one-byte
chunks always fit in the kernel's buffer, so here each chunk is a digit
repeated ``CHUNK`` times, enough for the kernel's buffer to fill up and
``'drain'`` to come.

Run it with ``python examples/net_drain_writer.py [PORT]``: a client
reads everything and the program prints how many times the writer waited
for ``'drain'``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

LIMIT = 200
CHUNK = 64 * 1024


def expected() -> str:
    """Everything the writer sends."""
    return "".join(str(i % 10) * CHUNK for i in range(LIMIT))


async def main(port: int = 0) -> tuple[str, int]:
    """Return what the client read and how many ``'drain'`` events the writer saw."""
    drains = 0

    def on_connection(socket: net.Socket) -> None:
        i = 0

        def writing() -> None:
            nonlocal i
            ok = True
            while ok and i < LIMIT:
                ok = socket.write(str(i % 10) * CHUNK)
                i += 1
                if i == LIMIT:
                    socket.end()

        def on_drain() -> None:
            nonlocal drains
            drains += 1
            writing()

        socket.on("drain", on_drain)
        socket.resume()  # read (and drop) data, so that the client's end is seen
        writing()

    async with net.create_server(on_connection) as server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        async with net.connect(address.port, "127.0.0.1") as client:
            client.set_encoding("ascii")
            received: list[str] = []
            client.on("data", received.append)
            await client.wait_closed()
        server.close()
    text = "".join(received)
    print(f"read {len(text)} digits; the writer waited for 'drain' {drains} times")
    return text, drains


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
