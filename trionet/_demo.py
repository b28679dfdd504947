"""The scenes of ``python -m trionet demo``: each runs on loopback and narrates."""

from __future__ import annotations

from collections.abc import Callable

import trio

from . import socket as fd
from ._timeout import Timeout

__all__ = ["demo"]

Say = Callable[[str], object]


async def fd_level(say: Say) -> None:
    """A listener, a client and a receive that times out, all on plain fds."""
    say("== fd level (trionet.socket): plain int fds, trio underneath ==")
    listener = fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    client = fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    try:
        fd.bind(listener, (fd.INADDR_LOOPBACK, 0))
        fd.listen(listener)
        address = fd.sock_name(listener)
        say(f"listener fd {listener} on {address}")
        await fd.connect(client, address, timeout=2)
        conn, peer = await fd.accept(listener, timeout=2)
        say(f"accepted fd {conn} from {peer}; state {fd.get_tcp_state(conn).name}")
        try:
            await fd.send(client, [b"hello ", b"trionet"])
            say(f"server received {await fd.recv(conn, timeout=2)!r} (one gathered sendmsg)")
            start = trio.current_time()
            try:
                await fd.recv(client, timeout=0.2)
            except Timeout as exc:
                waited = trio.current_time() - start
                say(f"client recv(timeout=0.2) raised Timeout after {waited:.2f} s: {exc}")
            fd.shutdown(conn, "w")
            data = await fd.recv(client, timeout=2)
            say(f"after the server's shutdown('w'): {data!r}, is_eof = {fd.is_eof(client)}")
        finally:
            fd.close(conn)
    finally:
        fd.close(client)
        fd.close(listener)


async def demo(say: Say) -> None:
    """Run every scene in turn."""
    await fd_level(say)
