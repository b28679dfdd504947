"""net, tcp, compat and task in one program that passes ``mypy --strict`` with no cast.

A net echo server; a Tcp client and a compat (blocking) client talk to it;
a task doubles numbers and sends them back, typed as ``Task[str, int]``.
"""

from __future__ import annotations

import trio
from trionet.compat import socket as sync_socket

from trionet import SockAddr, net, task
from trionet.tcp import Tcp


def on_connection(sock: net.Socket) -> None:
    sock.on("data", sock.write)  # echo; write returns a bool, as in Node
    sock.on("error", lambda exc: print("peer error:", exc))


async def doubler(count: int) -> str:
    for _ in range(count):
        number, sender = await task.recv()
        await task.send(sender, number * 2)
    return f"doubled {count} numbers"


def blocking_client(address: SockAddr) -> bytes:
    fd = sync_socket.socket(sync_socket.AF_INET, sync_socket.SOCK_STREAM)
    try:
        sync_socket.connect(fd, address, timeout=5)
        sync_socket.send(fd, "from compat", timeout=5)
        return sync_socket.recv(fd, timeout=5)
    finally:
        sync_socket.close(fd)


async def main() -> None:
    async with net.create_server(on_connection) as server:
        await server.listen(0, "127.0.0.1")
        address = SockAddr("127.0.0.1", server.address_info().port)

        async with await Tcp.create_client(address, timeout=5) as client:
            await client.send_all(b"from tcp")
            print("tcp:", await client.recv(timeout=5))

        print("compat:", await trio.to_thread.run_sync(blocking_client, address))

        worker: task.Task[str, int]
        async with task.open_task(doubler, 3, name="doubler") as worker:
            total = 0
            for number in (1, 2, 3):
                await worker.send(number)
                total += await worker.recv(timeout=5)
            print("task:", total, "-", await worker.join())
        server.close()


if __name__ == "__main__":
    trio.run(main)
