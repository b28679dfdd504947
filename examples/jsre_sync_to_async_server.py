"""The JSRE "Synchronous to asynchronous" server, as a sync script.

Port of the ``tcp`` document's example. The server accepts in callback
mode (``server.accept(callback=...)``), and watches each client's fd with
an ``iosched`` READ event whose callback receives and reports what the
client says. A lost client is closed, and its callback returns ``False``,
which removes its event. Everything runs in ``iosched.poll()``, in one
thread. As the document's closing question suggests, one receive buffer
is reused for every client (``recv_into``).

Run it with ``python examples/jsre_sync_to_async_server.py``: it serves on
a free loopback port, starts a few clients in another thread (each says
something and leaves), prints what the server heard, and exits once every
client is gone.
"""

from __future__ import annotations

import threading

from trionet.compat import iosched
from trionet.compat.tcp import Tcp

from trionet import SockAddr

CLIENTS = 3


def on_message(client: Tcp, buffer: bytearray, num: int) -> None:
    """What the document's ``client.on('message', onMessage)`` listener does."""
    print("Client:", client.peer_name().addr, "Say:", buffer[:num].decode())


def serve(server: Tcp, clients: threading.Thread) -> None:
    """Serve in callback mode until every client came and went."""
    buffer = bytearray(4096)
    lost: list[SockAddr] = []

    def on_readable(client: Tcp) -> bool:
        num = client.recv_into(buffer, timeout=0)
        if num > 0:
            on_message(client, buffer, num)
            return True
        lost.append(client.peer_name())
        print("Client lost:", lost[-1])
        client.close()
        return False

    def on_connection(client: Tcp, remote: SockAddr) -> None:
        print("New client:", remote)
        iosched.add(iosched.event(iosched.READ, client.sock_fd, on_readable, client))

    server.accept(callback=on_connection)
    while len(lost) < CLIENTS:
        if not iosched.poll(1) and not clients.is_alive():
            raise RuntimeError("the clients' thread ended before every client was served")


def run_clients(address: SockAddr) -> None:
    """Blocking clients in their own thread: each says hello and leaves."""
    for number in range(CLIENTS):
        with Tcp.create_client(address, timeout=5) as client:
            client.send_all(f"hello from client {number}", timeout=5)


def main() -> None:
    with Tcp.create_server(("127.0.0.1", 0)) as server:
        print("server on", server.sock_name())
        clients = threading.Thread(target=run_clients, args=(server.sock_name(),))
        clients.start()
        try:
            serve(server, clients)
        finally:
            clients.join()


if __name__ == "__main__":
    main()
