"""EdgerOS's multi-task ``net`` server: a master and two sub-servers.

Port of the ``Server mult-task`` examples of the EdgerOS ``net`` document
(``net.createServer('./server', 2, saddr)``, with ``net.createSubServer``
for a sub-server in another module). The master listens and accepts; each
connection goes, round-robin, to the master itself or to one of the
``subs=2`` sub-servers, each a ``trionet.task`` Task with its own
``trio.run`` in its own thread. ``sub_main`` plays the sub-server module:
it runs in every sub task with that task's server object and attaches its
``'connection'`` listener. Each connection is told which task served it.

Run it with ``python examples/net_multitask_server.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net, task

GROUP = "echo"
SUBS = 2
CLIENTS = 6


def serve(sock: net.Socket) -> None:
    """The ``'connection'`` listener of every server: say who serves, then end."""
    sock.end(f"served by task {task.current().id}")
    sock.resume()  # read, so that the client's FIN is seen and the socket closes


def sub_main(sub: net.Server) -> None:
    """What the EdgerOS sub-server module does: attach the listener."""
    # One write per line: the subs print from their own threads at once.
    print(f"sub-server {sub.group_name} is master: {sub.is_master()}\n", end="")
    sub.on("connection", serve)


async def ask(port: int) -> str:
    """Connect, return the server's sentence."""
    async with net.connect(port, "127.0.0.1") as sock:
        sock.set_encoding("utf-8")
        reply: list[str] = []
        sock.on("data", reply.append)
        await sock.wait_closed()
    return "".join(reply)


async def main(port: int = 0, clients: int = CLIENTS) -> list[str]:
    """Serve ``clients`` connections one after another; return the replies."""
    async with net.create_server(serve, group=GROUP, subs=SUBS, sub_main=sub_main) as server:
        await server.listen(port, "127.0.0.1")
        listening = server.port()
        assert listening is not None
        print("master", server.group_name, "is master:", server.is_master(), "port", listening)
        replies = [await ask(listening) for _ in range(clients)]
        server.close()
    for reply in replies:
        print(reply)
    return replies


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
