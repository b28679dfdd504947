"""IoT.js's ``'error'`` example: a connection that fails.

Port of the ``'error'`` event example of the IoT.js ``net`` document: a
``net.Socket`` whose connect fails gets an ``Error`` in its ``'error'``
listener, then ``'close'`` with ``had_error`` true. In trionet the failed
``await sock.connect()`` also raises, so the program sees the failure
where it happened; ``net.connect()`` (without a bare socket) raises when
its block is entered.

The target is a loopback port nobody listens on (the port of a server that
was just closed, unless a port is given): run it with
``python examples/net_connect_error.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net


async def free_port() -> int:
    """A loopback port that was free a moment ago."""
    async with net.create_server() as server:
        await server.listen(0, "127.0.0.1")
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        port = address.port
        server.close()
    return port


async def main(port: int = 0) -> list[str]:
    """Fail to connect twice; return what was seen, in order."""
    port = port or await free_port()
    seen: list[str] = []
    bad_sock = net.Socket()
    bad_sock.on("error", lambda err: seen.append(f"'error' {type(err).__name__}"))
    bad_sock.on("close", lambda had_error: seen.append(f"'close' had_error={had_error}"))
    async with bad_sock:
        try:
            await bad_sock.connect(port, "127.0.0.1")
        except ConnectionRefusedError as exc:
            seen.append(f"connect() raised {type(exc).__name__}")
    try:
        async with net.connect(port, "127.0.0.1"):
            pass
    except ConnectionRefusedError as exc:
        seen.append(f"net.connect() raised {type(exc).__name__}")
    for line in seen:
        print(line)
    return seen


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
