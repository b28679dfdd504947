"""A multi-process server: the master accepts, two worker processes serve.

``subs=2, processes=True`` runs each sub-server in a process of its own,
so Python handlers use both CPUs (thread subs share one interpreter lock).
Each accepted connection's fd goes to the next worker over a Unix socket
(``SCM_RIGHTS``). ``sub_main`` names this file as a module
(``"worker_processes:attach"``): the workers import it, which works
because the script's folder is on ``sys.path`` and they inherit it.

Run it with ``python examples/worker_processes.py``: it serves on a free
loopback port, connects four clients, prints which process served each,
shuts down gracefully and exits.
"""

from __future__ import annotations

import os

import trio

from trionet import net

CLIENTS = 4


def attach(server: net.Server) -> None:
    """Runs in each worker with its sub-server: say who serves the connection."""
    _group, name = server.group_name

    def greet(sock: net.Socket) -> None:
        sock.end(f"served by {name} (pid {os.getpid()})\n")
        sock.resume()  # read on, to see the client close

    server.on("connection", greet)


async def ask(port: int) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        reply = b""
        while chunk := await stream.receive_some():
            reply += chunk
    return reply.decode().strip()


async def main() -> None:
    async with net.create_server(
        subs=2, processes=True, sub_main="worker_processes:attach"
    ) as server:
        await server.listen(0, "127.0.0.1")
        print(f"master (pid {os.getpid()}) listening on port {server.address_info().port}")
        for _ in range(CLIENTS):
            print(await ask(server.address_info().port))
        await server.shutdown(5)
    print("workers stopped")


if __name__ == "__main__":
    trio.run(main)
