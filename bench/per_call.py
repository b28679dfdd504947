"""Per-call cost of a blocking call's fast path: data ready, no timeout, one task.

``python bench/per_call.py KIND [N] [--tcp]`` sends and receives N
(100,000) 64-byte messages over a connected ``socketpair`` (with ``--tcp``,
a TCP connection on 127.0.0.1), each send followed by a receive, and prints
the process CPU time per pair. KIND: ``raw`` (the bare system calls),
``fd`` (``trionet.socket``), ``tcp`` (``Tcp.send_all`` and ``Tcp.recv``;
TCP only), ``pull`` (a ``net.Socket`` read by pulling: ``send_all`` and
``receive_some``), ``trio`` (trio's socket objects).
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Awaitable, Callable

import trio

from trionet import net
from trionet import socket as s
from trionet.tcp import Tcp

MESSAGE = b"x" * 64
KINDS = ("raw", "fd", "tcp", "pull", "trio")


async def _loop(
    send: Callable[[], Awaitable[object]], recv: Callable[[], Awaitable[object]], count: int
) -> float:
    start = time.process_time()
    for _ in range(count):
        await send()
        await recv()
    return time.process_time() - start


def _tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    for end in (client, server):
        end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, server


async def _pairs(kind: str, count: int, tcp: bool) -> float:
    a, b = _tcp_pair() if tcp else socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    if kind == "raw":
        start = time.process_time()
        for _ in range(count):
            a.send(MESSAGE)
            b.recv(64)
        took = time.process_time() - start
    elif kind == "trio":
        ta, tb = trio.socket.from_stdlib_socket(a), trio.socket.from_stdlib_socket(b)
        took = await _loop(lambda: ta.send(MESSAGE), lambda: tb.recv(64), count)
    elif kind == "tcp":
        async with Tcp.create_by_fd(a.detach()) as ca, Tcp.create_by_fd(b.detach()) as cb:
            took = await _loop(lambda: ca.send_all(MESSAGE), lambda: cb.recv(64), count)
    elif kind == "pull":
        async with net.Socket(fd=a.detach()) as na, net.Socket(fd=b.detach()) as nb:
            took = await _loop(lambda: na.send_all(MESSAGE), lambda: nb.receive_some(64), count)
    else:
        fa, fb = a.detach(), b.detach()
        try:
            took = await _loop(lambda: s.send(fa, MESSAGE), lambda: s.recv(fb, 64), count)
        finally:
            s.close(fa)
            s.close(fb)
    a.close()
    b.close()
    return took


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "--tcp"]
    tcp = len(args) < len(sys.argv) - 1
    kind = args[0] if args else "fd"
    if kind not in KINDS or (kind == "tcp" and not tcp):
        raise SystemExit(f"usage: per_call.py {'|'.join(KINDS)} [N] [--tcp] (tcp needs --tcp)")
    count = int(args[1]) if len(args) > 1 else 100_000
    took = trio.run(_pairs, kind, count, tcp)
    print(f"{kind}: {took / count * 1e6:.2f} us of CPU per send + recv")


if __name__ == "__main__":
    main()
