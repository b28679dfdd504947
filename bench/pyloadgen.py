"""A Python stand-in for the C load generator, used when gcc or loadgen.c is missing.

It speaks the same command line and prints the same ``RESULT`` lines for the
``pingpong``, ``stream`` and ``idle`` modes. Being Python, it is often the
bottleneck: ``run.py`` says so whenever it had to use it.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import sys
import time


def _connect(host: str, port: int, count: int) -> list[socket.socket]:
    conns = []
    for _ in range(count):
        conn = socket.create_connection((host, port), timeout=10)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setblocking(False)
        conns.append(conn)
    return conns


def pingpong(host: str, port: int, conns: int, msgs: int, size: int) -> None:
    socks = _connect(host, port, conns)
    sel = selectors.DefaultSelector()
    payload = b"x" * size
    left = dict.fromkeys(socks, msgs)
    pending = dict.fromkeys(socks, size)
    start = time.perf_counter()
    for s in socks:
        s.send(payload)
        sel.register(s, selectors.EVENT_READ)
    deadline = start + 300
    while left and time.perf_counter() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            pending[s] -= len(s.recv(65536))
            if pending[s] <= 0:
                left[s] -= 1
                if left[s]:
                    pending[s] = size
                    s.send(payload)
                else:
                    del left[s]
                    sel.unregister(s)
    elapsed = time.perf_counter() - start
    for s in socks:
        s.close()
    rate = conns * msgs / elapsed
    print(f"RESULT pingpong rtt_per_s={rate:.1f} conns={conns} elapsed_s={elapsed:.4f}")


def stream(host: str, port: int, mbytes: int, chunk: int) -> None:
    (s,) = _connect(host, port, 1)
    total = mbytes * 1024 * 1024
    sent = received = 0
    block = b"x" * chunk
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    start = time.perf_counter()
    while received < total and time.perf_counter() - start < 300:
        for _, events in sel.select(timeout=1):
            if events & selectors.EVENT_WRITE and sent < total:
                with contextlib.suppress(BlockingIOError):
                    sent += s.send(block[: min(chunk, total - sent)])
                if sent >= total:
                    sel.modify(s, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                with contextlib.suppress(BlockingIOError):
                    received += len(s.recv(1 << 20))
    elapsed = time.perf_counter() - start
    s.close()
    print(f"RESULT stream mib_per_s={mbytes / elapsed:.1f} mbytes={mbytes} elapsed_s={elapsed:.4f}")


def idle(host: str, port: int, count: int, seconds: int) -> None:
    socks = _connect(host, port, count)
    for s in socks:
        s.setblocking(True)
        s.sendall(b"x")
        s.recv(1)
    print(f"READY {count}", flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()
    print(f"RESULT idle conns={count}")


def main() -> None:
    mode, host, port, *rest = sys.argv[1:]
    if not host.startswith("127.") and host != "::1":
        raise SystemExit("pyloadgen: loopback addresses only")
    numbers = [int(value) for value in rest]
    {"pingpong": pingpong, "stream": stream, "idle": idle}[mode](host, int(port), *numbers)


if __name__ == "__main__":
    main()
