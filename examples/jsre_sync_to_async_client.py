"""The JSRE "Synchronous to asynchronous" client, as a sync script.

Port of the ``tcp`` document's example: ``Tcp.create_client(addr,
callback=...)`` starts connecting and returns at once; the callback runs
inside ``iosched`` once connected (or with ``None, None`` if the connection
failed), says hello and goodbye, and closes. The document loops on
``iosched.poll()`` forever; ``iosched.forever()`` here returns once no
event is left, that is, once the callback ran.

Run it with ``python examples/jsre_sync_to_async_client.py``: a plain
blocking server in another thread plays the peer and prints what it heard.
"""

from __future__ import annotations

import threading

from trionet.compat import iosched
from trionet.compat.tcp import Tcp

from trionet import SockAddr


def on_connected(client: Tcp | None, remote: SockAddr | None) -> None:
    """The document's callback: ``remote`` is ``None`` when the connection failed."""
    if client is None:
        print("Connection failed")
        return
    print("Connected to", remote)
    client.send_all("Hello I am client ^_^")
    client.send_all("Goodbye!")
    client.close()


def listen_once(server: Tcp) -> None:
    """The peer: accept one connection and print everything it sends."""
    connection, remote = server.accept(timeout=10)
    with connection:
        heard = bytearray()
        while data := connection.recv(timeout=10):
            heard += data
    print(f"Server heard {remote.addr}: {heard.decode()!r}")


def main() -> None:
    with Tcp.create_server(("127.0.0.1", 0)) as server:
        peer = threading.Thread(target=listen_once, args=(server,))
        peer.start()
        try:
            Tcp.create_client(server.sock_name(), timeout=5, callback=on_connected)
            iosched.forever()  # on_connected is called in here
        finally:
            peer.join()


if __name__ == "__main__":
    main()
