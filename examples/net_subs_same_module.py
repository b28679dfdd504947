"""EdgerOS's multi-task server in one module: ``net.createServer('./server', 2, saddr)``.

Port of the second ``net.createServer`` example of the EdgerOS ``net``
document. The sub-servers run "the same module as the master-server": with
no ``sub_main``, the master's ``connection_listener`` serves in the two sub
tasks as well, each a ``trionet.task`` Task with its own ``trio.run``. The
master accepts every connection and hands it, round-robin, to itself or a
sub; the reply names the task that echoed it.

Run it with ``python examples/net_subs_same_module.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net, task

CLIENTS = 9


def echo(connect: net.Socket) -> None:
    """Echo each chunk, prefixed with the id of the task serving this connection."""
    served_by = task.current().id
    connect.on("data", lambda buf: connect.write(f"task {served_by}: ".encode() + buf))


async def one_client(port: int, number: int, replies: list[str]) -> None:
    """Send one line, keep the server's answer."""
    async with net.connect(port, "127.0.0.1") as client:
        client.write(f"hello {number}")
        replies.append((await client.receive_some()).decode())


async def main(port: int = 0, clients: int = CLIENTS) -> list[str]:
    """Serve ``clients`` concurrent clients over the master and two subs."""
    replies: list[str] = []
    async with net.create_server(echo, subs=2) as server:
        await server.listen(port, "127.0.0.1")
        async with trio.open_nursery() as nursery:
            for number in range(clients):
                nursery.start_soon(one_client, server.address_info().port, number, replies)
        server.close()
    for reply in sorted(replies):
        print(reply)
    return replies


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
