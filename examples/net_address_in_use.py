"""Node's ``EADDRINUSE`` example: retry ``listen()`` while the port is taken.

Port of the ``server.listen()`` example of the Node.js ``net`` document,
which, on an ``'error'`` whose code is ``EADDRINUSE``, logs ``Address in
use, retrying...`` and listens again a second later. In trionet ``await
server.listen()`` raises the ``OSError`` (and emits ``'error'`` to any
listeners), so the retry is a loop around it. Node's example calls
``server.close()`` before retrying; a trionet server that failed to listen
is not listening, so it is simply asked to listen again.

To have a port that is in use, another server holds it for the first
``HOLD`` seconds. Run it with ``python examples/net_address_in_use.py
[PORT]``: it takes about three seconds.
"""

from __future__ import annotations

import errno
import sys

import trio

from trionet import net

RETRY_AFTER = 1.0  # seconds; the document's 1000 ms
HOLD = 2.5  # how long the other server keeps the port
ATTEMPTS = 10


async def listen_with_retries(server: net.Server, port: int) -> int:
    """Listen on ``port``, retrying on ``EADDRINUSE``; return the number of attempts."""
    for attempt in range(1, ATTEMPTS):
        try:
            await server.listen(port, "127.0.0.1")
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            print("Address in use, retrying...")
            await trio.sleep(RETRY_AFTER)
        else:
            return attempt
    await server.listen(port, "127.0.0.1")  # the last try: its error is the caller's
    return ATTEMPTS


async def main(port: int = 0) -> int:
    """Return how many ``listen()`` attempts it took to get ``port``."""
    async with trio.open_nursery() as nursery:
        other = net.create_server()
        await nursery.start(_hold, other, port)
        address = other.address()
        assert isinstance(address, net.AddressInfo)
        async with net.create_server(lambda sock: sock.end("got the port\n")) as server:
            attempts = await listen_with_retries(server, address.port)
            print(f"listening on port {address.port} after {attempts} attempts")
            server.close()
    return attempts


async def _hold(
    other: net.Server, port: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    async with other:
        await other.listen(port, "127.0.0.1")
        task_status.started()
        await trio.sleep(HOLD)
        other.close()


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
