"""A TLS load generator for echo servers: the C load generator speaks plain TCP only.

``tlsloadgen.c`` does the same in C and is what ``bench/run.py`` uses where
gcc and OpenSSL's headers are found: this one costs about as much CPU per
message as the fastest Python server, so it would cap that server at its
own rate. It stays as the fallback.

Usage::

    python bench/tlsloadgen.py pingpong HOST PORT CA CONNS MSGS SIZE [PROCS]
    python bench/tlsloadgen.py stream HOST PORT CA MBYTES CHUNK

The same workloads and ``RESULT`` lines as ``loadgen.c``, over TLS (the
stdlib's ``ssl``, verifying the server's certificate for ``localhost``
against the CA file), or over plain TCP when CA is ``-``, so that a plain
server can be driven by the same generator. ``pingpong`` splits the connections over PROCS
processes (default 2), each running its share with non-blocking sockets and
a selector, so no single interpreter limits the rate; every handshake is done
before the clock starts. ``stream`` is one connection in one process, which
sends CHUNK-byte records while reading the echo back. Both also print
``cpu_util``: the generator's CPU time over the elapsed time (1.0 is one CPU
fully busy), to show whether it had room to spare.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import selectors
import socket
import ssl
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier

DEFAULT_PROCS = 2
# Every wait is bounded, as in loadgen.c.
DEADLINE = 300.0


# What a non-blocking socket raises when it cannot go on yet: plain, or at the TLS layer.
WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _context(ca: str) -> ssl.SSLContext | None:
    return None if ca == "-" else ssl.create_default_context(cafile=ca)


def _connect(host: str, port: int, context: ssl.SSLContext | None) -> socket.socket:
    conn = socket.create_connection((host, port), timeout=10)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if context is not None:
        conn = context.wrap_socket(conn, server_hostname="localhost")
    conn.setblocking(False)
    return conn


def _cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def _pingpong_worker(
    address: tuple[str, int, str], conns: int, msgs: int, size: int, gate: Barrier, out: Connection
) -> None:
    """One process's share: ``conns`` connections, each ``msgs`` round trips."""
    host, port, ca = address
    context = _context(ca)
    socks = [_connect(host, port, context) for _ in range(conns)]
    payload = b"x" * size
    left = dict.fromkeys(socks, msgs)
    pending = dict.fromkeys(socks, size)
    sel = selectors.DefaultSelector()
    gate.wait(timeout=60)
    cpu, start = _cpu(), time.perf_counter()
    for conn in socks:
        conn.send(payload)
        sel.register(conn, selectors.EVENT_READ)
    while left and time.perf_counter() - start < DEADLINE:
        for key, _ in sel.select(timeout=1):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                got = conn.recv(65536)
            except WOULD_BLOCK:
                continue
            if not got:
                raise SystemExit("tlsloadgen: the server closed a connection")
            pending[conn] -= len(got)
            if pending[conn] > 0:
                continue
            left[conn] -= 1
            if left[conn]:
                pending[conn] = size
                conn.send(payload)
            else:
                del left[conn]
                sel.unregister(conn)
    end = time.perf_counter()
    out.send((start, end, _cpu() - cpu, not left))
    for conn in socks:
        conn.close()


def pingpong(host: str, port: int, ca: str, conns: int, msgs: int, size: int, procs: int) -> None:
    procs = max(1, min(procs, conns))
    fork = multiprocessing.get_context("fork")
    gate = fork.Barrier(procs)
    workers, pipes = [], []
    for index in range(procs):
        receive, send = fork.Pipe(duplex=False)
        share = conns // procs + (index < conns % procs)
        worker = fork.Process(
            target=_pingpong_worker, args=((host, port, ca), share, msgs, size, gate, send)
        )
        worker.start()
        # Only the worker keeps the sending end: a worker that dies is then seen as EOF.
        send.close()
        workers.append(worker)
        pipes.append(receive)
    results = []
    for receive in pipes:
        try:
            if not receive.poll(DEADLINE + 60):
                raise SystemExit("tlsloadgen: a worker did not finish")
            results.append(receive.recv())
        except EOFError:
            raise SystemExit("tlsloadgen: a worker failed") from None
    for worker in workers:
        worker.join(timeout=10)
    if not all(done for *_, done in results):
        raise SystemExit("tlsloadgen: deadline exceeded")
    elapsed = max(end for _, end, _, _ in results) - min(start for start, *_ in results)
    cpu = sum(used for _, _, used, _ in results)
    print(
        f"RESULT pingpong rtt_per_s={conns * msgs / elapsed:.1f} conns={conns}"
        f" procs={procs} elapsed_s={elapsed:.4f} cpu_util={cpu / elapsed:.3f}"
    )


def stream(host: str, port: int, ca: str, mbytes: int, chunk: int) -> None:
    conn = _connect(host, port, _context(ca))
    total = mbytes * 1024 * 1024
    sent = received = 0
    # No copy per write and no allocation per read: the generator's own cost is the crypto.
    block = memoryview(b"x" * chunk)
    buffer = bytearray(1 << 18)
    sel = selectors.DefaultSelector()
    sel.register(conn, selectors.EVENT_READ | selectors.EVENT_WRITE)
    cpu, start = _cpu(), time.perf_counter()
    while received < total and time.perf_counter() - start < DEADLINE:
        for _, events in sel.select(timeout=1):
            if events & selectors.EVENT_WRITE and sent < total:
                # A record that could not go whole is retried with the same bytes, as
                # OpenSSL requires; ``send`` returns only once all of it went.
                with contextlib.suppress(*WOULD_BLOCK):
                    sent += conn.send(block[: min(chunk, total - sent)])
                if sent >= total:
                    sel.modify(conn, selectors.EVENT_READ)
            # Read until the TLS layer has nothing buffered: select() cannot see its records.
            while events & selectors.EVENT_READ and received < total:
                try:
                    got = conn.recv_into(buffer)
                except WOULD_BLOCK:
                    break
                if not got:
                    raise SystemExit("tlsloadgen: the server closed the connection")
                received += got
    elapsed = time.perf_counter() - start
    conn.close()
    if received < total:
        raise SystemExit("tlsloadgen: deadline exceeded")
    print(
        f"RESULT stream mib_per_s={mbytes / elapsed:.1f} mbytes={mbytes}"
        f" elapsed_s={elapsed:.4f} cpu_util={(_cpu() - cpu) / elapsed:.3f}"
    )


def main() -> None:
    mode, host, port, ca, *rest = sys.argv[1:]
    if not host.startswith("127.") and host != "::1":
        raise SystemExit("tlsloadgen: loopback addresses only")
    numbers = [int(value) for value in rest]
    if mode == "pingpong":
        conns, msgs, size, *procs = numbers
        pingpong(host, int(port), ca, conns, msgs, size, *(procs or [DEFAULT_PROCS]))
    elif mode == "stream":
        stream(host, int(port), ca, *numbers)
    else:
        raise SystemExit(f"tlsloadgen: unknown mode {mode!r}")


if __name__ == "__main__":
    main()
