"""EdgerOS's master and sub-server in two modules: the master, ``./master.js``.

Port of the ``net.createSubServer`` example of the EdgerOS ``net``
document. ``net.createServer('server', 2, './sub', saddr)`` becomes
``net.create_server(group="server", subs=2, sub_main="net_subs_sub:main")``:
the sub-server module is named as ``"module:function"``, imported, and its
function runs in each of the two sub tasks (see ``net_subs_sub.py``). The
master serves its own share of the connections with its own listener.

Run it with ``python examples/net_subs_master.py [PORT]`` (its folder is on
``sys.path`` then, so ``net_subs_sub`` imports).
"""

from __future__ import annotations

import sys

import trio

from trionet import net

CLIENTS = 6


def greet(connect: net.Socket) -> None:
    """The master's own listener."""
    connect.end("hello from the master\n")
    connect.resume()


async def main(port: int = 0, clients: int = CLIENTS) -> list[str]:
    """Start the master (which starts its subs), ask ``clients`` times, return the answers."""
    answers: list[str] = []
    server = net.create_server(greet, group="server", subs=2, sub_main="net_subs_sub:main")
    async with server:
        await server.listen(port, "127.0.0.1")
        for _ in range(clients):
            async with net.connect(server.port(), "127.0.0.1") as client:
                client.set_encoding("utf-8")
                client.on("data", answers.append)
                await client.wait_closed()
        server.close()
    print("".join(answers), end="")
    return answers


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
