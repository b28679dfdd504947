"""EdgerOS's interval client and its echo server.

Port of the ``'connection'`` example of the EdgerOS ``net`` document. The
client starts a one-second interval timer on ``'connect'`` that writes
``Send msg(n)``, prints every echo as ``recv msg:...``, and stops the timer
on ``'error'`` or ``'close'``; the server logs each connection's opening
and closing and writes back what it receives. ``setInterval`` becomes a
task in the socket's block that loops over ``trio.sleep(1)``;
``iosched.poll()`` in a ``while (true)`` loop is what ``trio.run`` does.
The document's client runs forever; this one ends its side after
``MESSAGES`` messages, so the program finishes.

Run it with ``python examples/net_interval_client.py [PORT]``: it takes
about ``MESSAGES`` seconds.
"""

from __future__ import annotations

import itertools
import sys

import trio

from trionet import net

INTERVAL = 1.0  # seconds; the document's 1000 ms
MESSAGES = 5


def server_connection(connect: net.Socket, number: int) -> None:
    """Log and echo one connection; ``number`` plays EdgerOS's ``connect.id``."""
    print(f"connect ({number}) open.")

    def on_data(buf: bytes) -> None:
        print("rece msg:" + buf.decode())
        connect.write(buf)

    connect.on("data", on_data)
    connect.on("close", lambda had_error: print(f"connect({number}) close."))


async def client(port: int, messages: int) -> str:
    """Write ``Send msg(n)`` every ``INTERVAL`` seconds; return the echoes."""
    received: list[str] = []
    async with net.connect(port, "127.0.0.1") as sock, trio.open_nursery() as timers:
        print("client connect.")

        async def interval() -> None:
            for count in range(messages):
                await trio.sleep(INTERVAL)
                sock.write(f"Send msg({count})")
            sock.end()

        def done(*_args: object) -> None:
            timers.cancel_scope.cancel()  # clearInterval

        def on_data(chunk: str) -> None:
            print("recv msg:" + chunk)
            received.append(chunk)

        sock.set_encoding("utf-8")
        sock.on("data", on_data)
        sock.on("error", lambda err: print("client error"))
        sock.on("error", done)
        sock.on("close", lambda had_error: print("client close"))
        sock.on("close", done)
        timers.start_soon(interval)
        await sock.wait_closed()
    return "".join(received)


async def main(port: int = 0, messages: int = MESSAGES) -> str:
    """Run the echo server and the interval client; return what the client got back."""
    numbers = itertools.count()
    async with net.create_server(lambda sock: server_connection(sock, next(numbers))) as server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        echoes = await client(address.port, messages)
        server.close()
    return echoes


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
