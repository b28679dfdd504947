"""IoT.js's ``socket.resume()`` example: pause a new connection, resume it 2 s later.

The server pauses every socket as soon as it is connected, so nothing is
read from the kernel (the client's bytes wait there: TCP backpressure);
two seconds later it resumes, receives the message, ends the connection
and, on its ``'close'``, closes the server. ``timers.setTimeout`` becomes a
task in a nursery that sleeps with ``trio.sleep``.

Run it with ``python examples/net_pause_resume.py [PORT]``: it takes about
two seconds and prints how long the message waited.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

PAUSE = 2.0  # seconds; the document's 2000 ms


async def main(port: int = 0) -> tuple[str, float]:
    """Return the message the server read and how long after connecting it read it."""
    msg: list[str] = []
    read_after: list[float] = []

    async with trio.open_nursery() as nursery:

        async def resume_later(socket: net.Socket) -> None:
            await trio.sleep(PAUSE)
            socket.resume()

        def on_connection(socket: net.Socket) -> None:
            connected_at = trio.current_time()

            def on_data(data: bytes) -> None:
                read_after.append(trio.current_time() - connected_at)
                msg.append(data.decode())
                socket.end()

            socket.on("data", on_data)
            socket.on("close", lambda had_error: server.close())
            socket.pause()  # as soon as the connection is established
            nursery.start_soon(resume_later, socket)

        async with net.create_server(on_connection) as server:
            await server.listen(port, "127.0.0.1")
            address = server.address()
            assert isinstance(address, net.AddressInfo)
            async with net.connect(address.port, "127.0.0.1") as client:
                client.write("Hello IoT.js")
                client.resume()  # read (and drop) data, so that the server's end is seen
                await client.wait_closed()
            await server.wait_closed()
    print(f"the server read {''.join(msg)!r} {read_after[0]:.1f} s after connecting")
    return "".join(msg), read_after[0]


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
