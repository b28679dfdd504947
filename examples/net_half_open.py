"""IoT.js's half-open server and its ``Hello IoT.js`` clients.

Ports of the IoT.js ``net`` examples: a server created with
``allowHalfOpen: true`` collects what a client sends and, once the client
has ended its side (``'end'``), answers with all of it and ends too; the
clients connect in each of the document's ways (``net.connect(options)``,
``net.connect(port, host)``, ``net.createConnection(...)``,
``new net.Socket()`` then ``socket.connect(...)``), send ``Hello IoT.js``
with ``end()``, and print the echo when the server's end arrives. The
last one also logs its ``'lookup'`` event, and the server logs
``'listening'`` and is closed from its ``'connection'`` listener once all
clients came, as in the ``server.close()`` example; its ``'close'``
follows when the last connection has ended.

Run it with ``python examples/net_half_open.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

CLIENTS = 4


async def hello(sock: net.Socket) -> str:
    """End ``sock`` with ``Hello IoT.js``; return what came back before its end."""
    echo_msg: list[str] = []
    sock.set_encoding("utf-8")
    sock.on("data", echo_msg.append)
    sock.on("end", lambda: print("".join(echo_msg)))
    sock.end("Hello IoT.js")
    await sock.wait_closed()
    return "".join(echo_msg)


async def clients(port: int) -> list[str]:
    """Connect once in each way the IoT.js document shows."""
    answers = []
    async with net.connect(port, "127.0.0.1", family=4) as sock:  # net.connect(options)
        answers.append(await hello(sock))
    async with net.connect(port, "127.0.0.1") as sock:  # net.connect(port, host)
        answers.append(await hello(sock))
    async with net.create_connection(port, "127.0.0.1") as sock:
        answers.append(await hello(sock))
    sock = net.Socket()  # new net.Socket(); socket.connect(...)
    sock.on("lookup", lambda err, ip, family, host: print("lookup:", host, "->", ip, family))
    async with sock:
        await sock.connect(port, "localhost", family=4)
        answers.append(await hello(sock))
    return answers


async def main(port: int = 0) -> list[str]:
    """Run the half-open server on ``port`` and the four clients; return their echoes."""
    connections = 0

    def on_connection(socket: net.Socket) -> None:
        nonlocal connections
        connections += 1
        if connections == CLIENTS:
            server.close()  # stop accepting; this connection lives on
        msg: list[bytes] = []
        socket.on("data", msg.append)
        socket.on("end", lambda: socket.end(b"".join(msg)))

    server = net.create_server(on_connection, allow_half_open=True)
    server.on("listening", lambda: print("started listening"))
    server.on("close", lambda: print("server closed"))
    async with server:
        await server.listen(port, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        answers = await clients(address.port)
        await server.wait_closed()
    return answers


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
