"""Per-call cost of a blocking call's fast path: data ready, no timeout, one task.

``python bench/per_call.py KIND [N]`` sends and receives N (100,000) 64-byte
messages over a connected ``socketpair``, each send followed by a receive,
and prints the process CPU time per pair. KIND: ``raw`` (the bare system
calls), ``fd`` (``trionet.socket``), ``trio`` (trio's socket objects).
"""

from __future__ import annotations

import socket
import sys
import time

import trio

from trionet import socket as s

MESSAGE = b"x" * 64


async def _pairs(kind: str, count: int) -> float:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    start = time.process_time()
    if kind == "raw":
        for _ in range(count):
            a.send(MESSAGE)
            b.recv(64)
    elif kind == "trio":
        ta, tb = trio.socket.from_stdlib_socket(a), trio.socket.from_stdlib_socket(b)
        start = time.process_time()
        for _ in range(count):
            await ta.send(MESSAGE)
            await tb.recv(64)
    else:
        fa, fb = a.detach(), b.detach()
        try:
            start = time.process_time()
            for _ in range(count):
                await s.send(fa, MESSAGE)
                await s.recv(fb, 64)
        finally:
            s.close(fa)
            s.close(fb)
    took = time.process_time() - start
    a.close()
    b.close()
    return took


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "fd"
    if kind not in ("raw", "fd", "trio"):
        raise SystemExit("usage: per_call.py raw|fd|trio [N]")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    took = trio.run(_pairs, kind, count)
    print(f"{kind}: {took / count * 1e6:.2f} us of CPU per send + recv")


if __name__ == "__main__":
    main()
