"""Ping-pong clients for the benchmark, one per implementation.

Usage: ``python bench/clients.py KIND PORT MESSAGES SIZE``; prints
``RESULT rtt_per_s=<float> cpu_us_per_rt=<float>``. Each client opens one
connection and does MESSAGES round trips of SIZE bytes. ``net`` is a
``trionet.net`` client driven by its ``'data'`` listener (Node style),
``net-pull`` one that pulls with ``receive_some``, ``net-stream`` a
``net.open_stream`` stream (no tasks). The ``compat``,
``compat-tcp`` and ``stdlib`` clients are synchronous:
``trionet.compat.socket`` calls and ``trionet.compat.tcp.Tcp`` methods, each
with a ``timeout``, and a blocking stdlib socket with ``settimeout``.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import trio
from trionet.compat import socket as sync_fd
from trionet.compat.tcp import Tcp as SyncTcp

from trionet import net
from trionet import socket as fd
from trionet.tcp import Tcp

# The sync clients' per-call limit: generous, it only has to be set.
TIMEOUT = 5.0


async def _pingpong(
    send: Callable[[bytes], Awaitable[object]],
    receive: Callable[[], Awaitable[bytes]],
    messages: int,
    size: int,
) -> None:
    """The measured loop, shared by the trio-based clients so only the calls differ."""
    payload = b"x" * size
    start = _clock()
    for _ in range(messages):
        await send(payload)
        got = 0
        while got < size:
            got += len(await receive())
    _report(start, messages)


async def trionet_client(port: int, messages: int, size: int) -> None:
    conn = fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    try:
        await fd.connect(conn, ("127.0.0.1", port))
        fd.set_no_delay(conn, True)
        await _pingpong(partial(fd.send, conn), partial(fd.recv, conn, 65536), messages, size)
    finally:
        fd.close(conn)


async def tcp_client(port: int, messages: int, size: int) -> None:
    async with await Tcp.create_client(("127.0.0.1", port)) as conn:
        conn.set_no_delay(True)
        await _pingpong(conn.send_all, partial(conn.recv, 65536), messages, size)


async def net_client(port: int, messages: int, size: int) -> None:
    """Node's way: each echoed message, counted in the ``'data'`` listener, sends the next."""
    payload = b"x" * size
    done = trio.Event()
    got, left = 0, messages

    async with net.connect(port, "127.0.0.1") as sock:
        sock.set_no_delay(True)

        def on_data(chunk: bytes) -> None:
            nonlocal got, left
            got += len(chunk)
            if got < size:
                return
            got, left = 0, left - 1
            if left:
                sock.write(payload)
            else:
                done.set()

        sock.on("data", on_data)
        start = _clock()
        sock.write(payload)
        await done.wait()
        _report(start, messages)


async def net_pull_client(port: int, messages: int, size: int) -> None:
    async with net.connect(port, "127.0.0.1") as sock:
        sock.set_no_delay(True)
        await _pingpong(sock.send_all, partial(sock.receive_some, 65536), messages, size)


async def net_stream_client(port: int, messages: int, size: int) -> None:
    """``net.open_stream``: a task-free trio stream over the socket transport."""
    async with await net.open_stream(port, "127.0.0.1") as stream:
        await _pingpong(stream.send_all, partial(stream.receive_some, 65536), messages, size)


async def trio_client(port: int, messages: int, size: int) -> None:
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await _pingpong(stream.send_all, partial(stream.receive_some, 65536), messages, size)


async def asyncio_client(port: int, messages: int, size: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"x" * size
    start = _clock()
    for _ in range(messages):
        writer.write(payload)
        await writer.drain()
        got = 0
        while got < size:
            got += len(await reader.read(65536))
    _report(start, messages)
    writer.close()
    await writer.wait_closed()


def _pingpong_sync(
    send: Callable[[bytes], object], receive: Callable[[], bytes], messages: int, size: int
) -> None:
    """The measured loop of the sync clients: ``_pingpong`` without ``await``."""
    payload = b"x" * size
    start = _clock()
    for _ in range(messages):
        send(payload)
        got = 0
        while got < size:
            got += len(receive())
    _report(start, messages)


def compat_client(port: int, messages: int, size: int) -> None:
    conn = sync_fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    try:
        sync_fd.connect(conn, ("127.0.0.1", port), timeout=TIMEOUT)
        sync_fd.set_no_delay(conn, True)
        send = partial(sync_fd.send, conn, timeout=TIMEOUT)
        receive = partial(sync_fd.recv, conn, 65536, timeout=TIMEOUT)
        _pingpong_sync(send, receive, messages, size)
    finally:
        sync_fd.close(conn)


def compat_tcp_client(port: int, messages: int, size: int) -> None:
    with SyncTcp.create_client(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        conn.set_no_delay(True)
        send = partial(conn.send_all, timeout=TIMEOUT)
        _pingpong_sync(send, partial(conn.recv, 65536, timeout=TIMEOUT), messages, size)


def stdlib_client(port: int, messages: int, size: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _pingpong_sync(conn.sendall, partial(conn.recv, 65536), messages, size)


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _report(start: tuple[float, float], messages: int) -> None:
    wall = time.perf_counter() - start[0]
    cpu = time.process_time() - start[1]
    print(f"RESULT rtt_per_s={messages / wall:.1f} cpu_us_per_rt={cpu / messages * 1e6:.2f}")


def main() -> None:
    kind, port, messages, size = sys.argv[1], *map(int, sys.argv[2:5])
    if kind == "trionet":
        trio.run(trionet_client, port, messages, size)
    elif kind == "trionet-tcp":
        trio.run(tcp_client, port, messages, size)
    elif kind == "net":
        trio.run(net_client, port, messages, size)
    elif kind == "net-pull":
        trio.run(net_pull_client, port, messages, size)
    elif kind == "net-stream":
        trio.run(net_stream_client, port, messages, size)
    elif kind == "trio":
        trio.run(trio_client, port, messages, size)
    elif kind == "asyncio":
        asyncio.run(asyncio_client(port, messages, size))
    elif kind == "compat":
        compat_client(port, messages, size)
    elif kind == "compat-tcp":
        compat_tcp_client(port, messages, size)
    elif kind == "stdlib":
        stdlib_client(port, messages, size)
    else:
        raise SystemExit(f"unknown client kind {kind!r}")


if __name__ == "__main__":
    main()
