"""A server that can be restarted without refusing or cutting anyone.

Each reply names the copy that served it (``old 1`` for a ``1`` sent to a
copy named ``old``). On SIGTERM the copy stops accepting, lets the open
connections finish for up to 30 seconds (``server.shutdown(30)``), prints
``<name> drained`` and exits. Two ways to restart it:

- **reuse_port**: ``python examples/graceful_restart.py 8124 old``, later
  ``python examples/graceful_restart.py 8124 new`` (both listen on 8124 with
  ``SO_REUSEPORT``), then ``kill -TERM`` the old one.
- **socket activation**: started by systemd (or anything that sets
  ``LISTEN_FDS``), it serves the socket passed instead of binding one;
  systemd keeps that socket, and the connections waiting in its backlog,
  while the old copy drains and the new one starts.

``tests/test_deploy.py`` runs both restarts, with clients connecting
throughout.
"""

from __future__ import annotations

import signal
import sys

import trio

from trionet import net


async def main(port: int, name: str) -> None:
    def on_connection(sock: net.Socket) -> None:
        sock.on("data", lambda chunk: sock.write(name.encode() + b" " + chunk))

    fds = net.listen_fds()  # [] unless socket-activated
    async with net.create_server(on_connection, reuse_port=True) as server:
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            if fds:
                await server.listen(fd=fds[0])
            else:
                await server.listen(port, "127.0.0.1")
            print(f"{name} listening on port {server.address_info().port}", flush=True)
            async for _ in signals:
                await server.shutdown(30)
                break
    print(f"{name} drained", flush=True)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]), sys.argv[2])
