"""EdgerOS's single server: ``net.createServer('server', 0, saddr)``.

Port of the first ``net.createServer`` example of the EdgerOS ``net``
document: a server of group ``'server'`` with no sub-servers (``subs=0``),
so the one task that listens also serves. Its ``'connection'`` listener is
the echo of the document's server example. ``server.port()`` gives the port
picked for ``0`` (EdgerOS: "the port can be found through server.port()").

Run it with ``python examples/net_subs_single.py [PORT]``.
"""

from __future__ import annotations

import sys

import trio

from trionet import net

MESSAGES = ("first", "second")


def echo(connect: net.Socket) -> None:
    """The document's server: print, and write back what arrives."""
    print("connect open.")
    connect.on("data", lambda buf: (print("recv msg:" + buf.decode()), connect.write(buf)))
    connect.on("close", lambda _had_error: print("connect close."))


async def main(port: int = 0) -> list[bytes]:
    """Listen on loopback, echo one message per client, return the echoes."""
    echoes: list[bytes] = []
    async with net.create_server(echo, group="server", subs=0) as server:
        await server.listen(port, "127.0.0.1")
        print("group", server.group_name, "master:", server.is_master(), "port", server.port())
        for message in MESSAGES:
            async with net.connect(server.port(), "127.0.0.1") as client:
                client.write(message)
                echoes.append(await client.receive_some())
        server.close()
    return echoes


if __name__ == "__main__":
    print(trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 0))
