"""The JSRE "Multi-Task Server": one task accepts, two worker tasks serve.

Port of the ``tcp`` document's example. The root task accepts connections
with ``Tcp.serve`` and hands each one, round-robin, to one of two worker
tasks: ``fly_away()`` gives up the fd, a ``task.Handoff`` carries it in a
message, and the worker adopts it with ``Tcp.create_by_fd``. Each worker is
a separate ``trio.run`` in its own thread.

Run it with ``python examples/multitask_tcp_server.py``: it serves on a
free loopback port, connects a few clients that each say hello, prints
which worker answered them, and exits.
"""

from __future__ import annotations

import itertools

import trio

from trionet import task
from trionet.tcp import Tcp

CLIENTS = 6
STOP = "stop"


async def worker(name: str) -> None:
    """A worker task: serve every connection handed to it until told to stop."""
    async with trio.open_nursery() as nursery:
        while True:
            message, _sender = await task.recv()
            if message == STOP:
                break
            client = Tcp.create_by_fd(message.claim())
            nursery.start_soon(_greet, name, client)


async def _greet(name: str, client: Tcp) -> None:
    async with client:
        data = await client.recv()
        await client.send_all(f"{name} heard {data.decode()!r}".encode())


async def main() -> list[bytes]:
    """Start two workers, serve a few clients through them, return the replies."""
    server = Tcp.create_server(("127.0.0.1", 0))
    port = server.sock_name().port
    print(f"multi-task server on 127.0.0.1:{port}")
    replies: list[bytes] = []
    async with (
        task.open_task(worker, "worker-0", name="worker-0") as first,
        task.open_task(worker, "worker-1", name="worker-1") as second,
    ):
        workers = itertools.cycle([first, second])

        async def hand_over(client: Tcp, remote: object) -> None:
            print("new client:", remote)
            # The fd now belongs to the worker, which closes it.
            await next(workers).send(task.Handoff(client.fly_away()))

        async with server, trio.open_nursery() as nursery:
            await nursery.start(server.serve, hand_over)
            for number in range(CLIENTS):
                async with await Tcp.create_client(("127.0.0.1", port), timeout=5) as client:
                    await client.send_all(f"hello {number}".encode())
                    replies.append(await client.recv(timeout=5))
                    print(replies[-1].decode())
            nursery.cancel_scope.cancel()
        for handle in (first, second):
            await handle.send(STOP)
    return replies


if __name__ == "__main__":
    trio.run(main)
