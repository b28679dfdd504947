"""The JSRE "Multi-Task Server", as a sync script: one thread accepts, two tasks serve.

Port of the ``tcp`` document's example with ``trionet.compat``. The main
thread accepts in callback mode and hands each connection, round-robin, to
one of two worker tasks (``compat.task``, each a thread): ``fly_away()``
gives up the fd, a ``task.Handoff`` carries it in a message, and the
worker adopts it with ``Tcp.create_by_fd`` and watches it with an
``iosched`` READ event, as the document's ``task.js`` does.

The document's worker waits for messages with ``Task.on('message', ...)``
inside ``iosched.forever()``. A sync task's inbox has no fd for ``iosched``
to watch, so here the main thread rings a doorbell (an ``eventfd``) after
each message, and the worker's READ event on the doorbell takes the
messages with ``task.recv(timeout=0)``.

Run it with ``python examples/jsre_multitask_server_sync.py``: it serves on
a free loopback port, starts a few clients in another thread, prints which
worker heard each of them, and exits.
"""

from __future__ import annotations

import os
import sys
import threading

from trionet.compat import iosched, task
from trionet.compat.tcp import Tcp

from trionet import SockAddr

CLIENTS = 6
STOP = "stop"


def say(line: str) -> None:
    # One write per line: three threads print.
    sys.stdout.write(line + "\n")


def worker(name: str, doorbell: int) -> None:
    """A worker task: serve every connection handed to it, until told to stop."""
    buffer = bytearray(4096)

    def on_readable(client: Tcp) -> bool:
        num = client.recv_into(buffer, timeout=0)
        if num > 0:
            say(f"{name}: client {client.peer_name().addr} says {buffer[:num].decode()!r}")
            return True
        client.close()
        return False

    def on_doorbell() -> bool:
        os.eventfd_read(doorbell)
        while True:
            try:
                message, _sender = task.recv(timeout=0)
            except TimeoutError:
                return True  # the inbox is empty: wait for the next ring
            if message == STOP:
                return False  # the clients' events keep forever() going until they leave
            assert isinstance(message, task.Handoff)
            client = Tcp.create_by_fd(message.claim())
            iosched.add(iosched.event(iosched.READ, client.sock_fd, on_readable, client))

    iosched.add(iosched.event(iosched.READ, doorbell, on_doorbell))
    iosched.forever()


def run_clients(address: SockAddr) -> None:
    """Blocking clients in their own thread: each says hello and leaves."""
    for number in range(CLIENTS):
        with Tcp.create_client(address, timeout=5) as client:
            client.send_all(f"hello {number}", timeout=5)


def main() -> None:
    doorbells = [os.eventfd(0, os.EFD_CLOEXEC) for _ in range(2)]
    try:
        with (
            Tcp.create_server(("127.0.0.1", 0)) as server,
            task.open_task(worker, "worker-0", doorbells[0], name="worker-0") as first,
            task.open_task(worker, "worker-1", doorbells[1], name="worker-1") as second,
        ):
            workers = [(first, doorbells[0]), (second, doorbells[1])]
            say(f"multi-task server on {server.sock_name()}")
            handed: list[int] = []

            def on_connection(client: Tcp, remote: SockAddr) -> bool:
                say(f"New client: {remote}")
                handle, doorbell = workers[len(handed) % 2]
                # The fd now belongs to the worker, which closes it.
                handle.send(task.Handoff(client.fly_away()))
                os.eventfd_write(doorbell, 1)
                handed.append(handle.id)
                return len(handed) < CLIENTS  # False: stop accepting

            clients = threading.Thread(target=run_clients, args=(server.sock_name(),))
            clients.start()
            try:
                server.accept(callback=on_connection)
                while len(handed) < CLIENTS:  # then on_connection returned False
                    if not iosched.poll(1) and not clients.is_alive():
                        raise RuntimeError("the clients' thread ended before every client came")
            finally:
                clients.join()
                for handle, doorbell in workers:
                    handle.send(STOP)
                    os.eventfd_write(doorbell, 1)
    finally:
        for doorbell in doorbells:
            os.close(doorbell)


if __name__ == "__main__":
    main()
