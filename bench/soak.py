"""The soak: a server survives its peers, measured (issue 15, point 6; docs/reliability.md).

Run it with ``nox -s soak`` or ``python bench/soak.py [--quick]``. Every
item runs on loopback, bounded in count and time, and prints its figures;
the exit status is 1 if a target was missed (a server died, fds not back,
RSS grown more than 15% across the second churn, a missed wake-up).
``--quick`` divides the counts by 10 (a smoke run, not the figures).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import resource
import socket as stdsocket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import trustme

from trionet import net
from trionet.tcp import Tcp

AT_ONCE = 50
RESET_SHARE = 0.3
PAYLOAD = b"x" * 65536
FAILED: list[str] = []


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def target(ok: bool, what: str) -> str:
    if not ok:
        FAILED.append(what)
    return "ok" if ok else "MISSED"


def _reset(sock: trio.socket.SocketType) -> None:
    sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def _client(port: int, rng: random.Random) -> bool:
    """One echo exchange; 30% reset mid-exchange. True if a full echo came back."""
    with trio.socket.socket() as sock:
        await sock.connect(("127.0.0.1", port))
        if rng.random() < RESET_SHARE:
            await sock.send(PAYLOAD[: rng.randrange(1, len(PAYLOAD))])
            if rng.random() < 0.5:
                await trio.lowlevel.checkpoint()
            _reset(sock)
            return False
        await sock.send(PAYLOAD[:1024])
        sock.shutdown(stdsocket.SHUT_WR)
        got = 0
        while chunk := await sock.recv(65536):
            got += len(chunk)
        return got == 1024


async def settled_fds() -> int:
    """The fd count once the server has closed its side of the last connections."""
    count = fds()
    for _ in range(50):
        await trio.sleep(0.02)
        now, count = count, fds()
        if now == count:
            break
    return count


async def churn(port: int, count: int, seed: int) -> int:
    """``count`` clients, ``AT_ONCE`` at a time; how many full echoes came back."""
    rng = random.Random(seed)
    limit = trio.Semaphore(AT_ONCE)
    echoed = 0

    async def one() -> None:
        nonlocal echoed
        try:
            if await _client(port, rng):
                echoed += 1
        except OSError:
            pass  # refused under load, or reset by the server: not a server death
        finally:
            limit.release()

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            await limit.acquire()
            nursery.start_soon(one)
    return echoed


async def churn_item(name: str, serve: Callable[[trio.Nursery], Awaitable[int]], n: int) -> None:
    """Two rounds of ``n`` connections against one server: deaths, fds and RSS."""
    async with trio.open_nursery() as nursery:
        died: list[BaseException] = []

        async def guarded() -> None:
            try:
                await trio.sleep_forever()
            except BaseException as exc:  # a death is a figure, not a crash
                if not isinstance(exc, trio.Cancelled):
                    died.append(exc)
                raise

        port = await serve(nursery)
        nursery.start_soon(guarded)
        fds0, rss0 = await settled_fds(), rss_mib()
        start = time.monotonic()
        echoed1 = await churn(port, n, 1)
        fds1, rss1 = await settled_fds(), rss_mib()
        echoed2 = await churn(port, n, 2)
        fds2, rss2 = await settled_fds(), rss_mib()
        elapsed = time.monotonic() - start
        nursery.cancel_scope.cancel()
    growth = (rss2 - rss1) / rss1
    print(
        f"churn {name}: 2 x {n} connections ({RESET_SHARE:.0%} reset) in {elapsed:.1f} s;"
        f" echoed {echoed1} + {echoed2}; server deaths {len(died)}"
        f" [{target(not died, name + ' death')}]"
    )
    print(
        f"  fds {fds0} -> {fds1} -> {fds2} [{target(fds2 == fds0, name + ' fds')}];"
        f" RSS {rss0:.1f} -> {rss1:.1f} -> {rss2:.1f} MiB,"
        f" {growth:+.1%} across the second round [{target(growth <= 0.15, name + ' RSS')}]"
    )


async def net_echo(nursery: trio.Nursery) -> int:
    """The README's echo server."""
    server = await nursery.start(_net_server, lambda s: s.on("data", s.write))
    return int(server.port())


async def _net_server(
    listener: Callable[[net.Socket], object], task_status: Any, **options: Any
) -> None:
    async with net.create_server(listener, **options) as server:
        await server.listen(0, "127.0.0.1", backlog=1024)
        task_status.started(server)
        await trio.sleep_forever()


async def tcp_echo(nursery: trio.Nursery) -> int:
    async def echo(tcp: Tcp, remote: object) -> None:
        while data := await tcp.recv():
            await tcp.send_all(data)

    listener = Tcp.create_server(("127.0.0.1", 0), 1024)
    nursery.start_soon(_tcp_serve, listener, echo)
    return int(listener.sock_name().port)


async def _tcp_serve(listener: Tcp, echo: Any) -> None:
    async with listener:
        await listener.serve(echo)


async def idle_timeout_item(n: int) -> None:
    """``n`` clients that connect and say nothing (or one byte) against a 1 s idle timeout."""

    def on_connection(sock: net.Socket) -> None:
        sock.set_timeout(1.0, sock.destroy)
        sock.on("data", lambda data: None)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(_net_server, on_connection)
        port = int(server.port())
        dropped: list[float] = []
        start = time.monotonic()

        async def silent(index: int) -> None:
            with trio.socket.socket() as sock:
                await sock.connect(("127.0.0.1", port))
                if index % 2:
                    await sock.send(b"x")  # slow: one byte, then nothing
                with trio.move_on_after(10):
                    while await sock.recv(1024):
                        pass
                    dropped.append(time.monotonic() - start)

        async with trio.open_nursery() as clients:
            for index in range(n):
                clients.start_soon(silent, index)
        nursery.cancel_scope.cancel()
    late = max(dropped) if dropped else float("inf")
    ok = len(dropped) == n and late < 3.0
    print(
        f"idle timeout 1 s: {len(dropped)} of {n} slow/silent clients dropped,"
        f" the last after {late:.2f} s [{target(ok, 'idle timeout')}]"
    )


async def tls_garbage_item(n: int) -> None:
    """``n`` connections sending garbage to a TLS server, a valid client every 25th."""
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    server_tls = net.TlsOptions(
        cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes()
    )
    client_tls = net.TlsOptions(ca=ca.cert_pem.bytes(), server_name="localhost")
    rng = random.Random(7)
    served = tried = 0
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            functools.partial(_net_server, lambda s: s.on("data", s.write), tls=server_tls)
        )
        port = int(server.port())
        fds0 = fds()
        limit = trio.Semaphore(AT_ONCE)

        async def garbage() -> None:
            try:
                with trio.socket.socket() as sock:
                    await sock.connect(("127.0.0.1", port))
                    await sock.send(rng.randbytes(rng.randrange(1, 2048)))
                    if rng.random() < 0.5:
                        _reset(sock)
            except OSError:
                pass
            finally:
                limit.release()

        async def valid() -> None:
            nonlocal served
            try:
                with trio.fail_after(10):
                    async with net.connect(port, "127.0.0.1", tls=client_tls) as client:
                        got = bytearray()
                        done = trio.Event()

                        def on_data(data: bytes) -> None:
                            got.extend(data)
                            if len(got) >= 5:
                                done.set()

                        client.on("data", on_data)
                        client.write(b"hello")
                        await done.wait()
                        served += bytes(got) == b"hello"
            finally:
                limit.release()

        async with trio.open_nursery() as clients:
            for index in range(n):
                await limit.acquire()
                if index % 25 == 0:
                    tried += 1
                    clients.start_soon(valid)
                else:
                    clients.start_soon(garbage)
        await trio.sleep(0.5)  # the server's side of the last garbage closes
        fds1 = fds()
        nursery.cancel_scope.cancel()
    ok = served == tried and fds1 == fds0
    print(
        f"TLS garbage: {n - tried} garbage connections, {served} of {tried} valid clients"
        f" served; fds {fds0} -> {fds1} [{target(ok, 'TLS garbage')}]"
    )


async def never_reading_item() -> None:
    """A client that never reads; the server writes 256 MiB three ways."""
    total, chunk = 256 * 2**20, b"y" * 65536
    for mode in ("ignoring backpressure", "awaiting drain()", "max_buffer_size=1 MiB"):
        peak = 0
        peak_rss = rss_mib()
        outcome = "wrote it all"
        done = trio.Event()
        rss0 = rss_mib()
        start = time.monotonic()

        async def flood(sock: net.Socket, mode: str = mode, done: trio.Event = done) -> None:
            nonlocal peak, peak_rss, outcome
            sock.on("error", lambda error: None)
            try:
                with trio.move_on_after(2):
                    for _ in range(total // len(chunk)):
                        sock.write(bytearray(chunk))  # copied: distinct bytes, as a real reply
                        if sock.buffer_size > peak:
                            peak, peak_rss = sock.buffer_size, rss_mib()
                        if sock.destroyed:
                            outcome = "destroyed at its bound (BufferLimitError)"
                            return
                        if mode == "awaiting drain()":
                            await sock.drain()
                        else:
                            await trio.lowlevel.checkpoint()
                    return
                outcome = "still waiting in drain() after 2 s, as it should"
            finally:
                done.set()

        options = {"max_buffer_size": 2**20} if mode.startswith("max") else {}
        async with trio.open_nursery() as nursery:
            server = await nursery.start(functools.partial(_net_server, flood, **options))
            with trio.socket.socket() as client:
                client.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF, 65536)
                await client.connect(("127.0.0.1", int(server.port())))
                await done.wait()
                grown = peak_rss - rss0
            nursery.cancel_scope.cancel()
        print(
            f"never-reading client, {mode}: queue peak {peak / 2**10:,.0f} KiB,"
            f" RSS +{grown:.0f} MiB at it"
            f" in {time.monotonic() - start:.1f} s; {outcome}"
        )


async def handoff_item(rounds: int) -> None:
    """A multi-task server (2 subs) cancelled at random points while clients connect."""
    rng = random.Random(11)
    fds0 = fds()
    handed = 0
    for _ in range(rounds):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(
                    _net_server, lambda s: s.on("data", s.write), subs=2, group="soak"
                )
            )
            port = int(server.port())

            async def client(port: int = port) -> None:
                nonlocal handed
                try:
                    with trio.socket.socket() as sock:
                        await sock.connect(("127.0.0.1", port))
                        handed += 1
                        await sock.send(b"x")
                        await sock.recv(1)
                except OSError:
                    pass

            for _ in range(20):
                nursery.start_soon(client)
            await trio.sleep(rng.random() * 0.02)
            nursery.cancel_scope.cancel()
    await trio.sleep(0.1)
    fds1 = fds()
    print(
        f"handoff under cancellation: {rounds} servers cancelled at random points,"
        f" {handed} connections made; fds {fds0} -> {fds1} [{target(fds1 == fds0, 'handoff')}]"
    )


def close_race_item(iterations: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import test_close_race as close_race  # type: ignore[import-not-found]  # the suite's race

    for follower in (False, True):
        start = time.monotonic()
        outcomes = close_race.race(iterations, follower=follower, seed=32 + follower)
        missed = iterations - outcomes["closed"]
        role = "follower" if follower else "leader"
        print(
            f"close race, task as {role}: {iterations} iterations in"
            f" {time.monotonic() - start:.1f} s, {missed} missed wake-ups {dict(outcomes)}"
            f" [{target(missed == 0, 'close race ' + role)}]"
        )


async def emfile_item(storm: int) -> None:
    """A net echo server in a child with RLIMIT_NOFILE=64, ``storm`` connections at once.

    Held 1 s (the server meanwhile fails ``accept`` with EMFILE), then
    closed: how long until a new client is served, and the child's CPU.
    """
    child = subprocess.Popen(  # noqa: ASYNC220 - a spawn, before any I/O
        [sys.executable, __file__, "--emfile-child"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # its "accept: EMFILE; retrying" log lines
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        fds0 = len(os.listdir(f"/proc/{child.pid}/fd"))
        held = []
        for _ in range(storm):
            sock = trio.socket.socket()
            held.append(sock)
            with trio.move_on_after(1):
                await sock.connect(("127.0.0.1", port))
        cpu0, wall0 = _child_cpu(child.pid), time.monotonic()
        await trio.sleep(1.0)
        cpu = (_child_cpu(child.pid) - cpu0) / (time.monotonic() - wall0)
        for sock in held:
            _reset(sock)
        stormed = time.monotonic()
        recovered = None
        while time.monotonic() - stormed < 10:
            try:
                with trio.socket.socket() as sock, trio.fail_after(0.5):
                    await sock.connect(("127.0.0.1", port))
                    await sock.send(b"ping")
                    if await sock.recv(4) == b"ping":
                        recovered = time.monotonic() - stormed
                        break
            except (OSError, trio.TooSlowError):
                await trio.sleep(0.01)
        await trio.sleep(0.5)
        fds1 = len(os.listdir(f"/proc/{child.pid}/fd"))
        alive = child.poll() is None
    finally:
        child.kill()
        child.wait()
    ok = alive and recovered is not None and fds1 == fds0
    shown = "never" if recovered is None else f"{recovered:.2f} s"
    print(
        f"EMFILE storm (server RLIMIT_NOFILE=64, {storm} connections held 1 s): server CPU"
        f" {cpu:.1%} meanwhile (10 ms ticks); served again {shown} after;"
        f" server fds {fds0} -> {fds1},"
        f" alive {alive} [{target(ok, 'EMFILE storm')}]"
    )


def _child_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _emfile_child() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(_net_server, lambda s: s.on("data", s.write))
        print(server.port(), flush=True)


async def main(scale: int) -> None:
    await churn_item("net echo (README)", net_echo, 10_000 // scale)
    await churn_item("Tcp.serve echo", tcp_echo, 10_000 // scale)
    await emfile_item(300 // scale)
    await idle_timeout_item(500 // scale)
    await tls_garbage_item(1_000 // scale)
    await never_reading_item()
    close_race_item(10_000 // scale)
    await handoff_item(100 // scale)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of every count")
    parser.add_argument("--emfile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emfile_child:
        trio.run(_emfile_child)
        sys.exit(0)
    began = time.monotonic()
    trio.run(main, 10 if args.quick else 1)
    print(f"soak done in {time.monotonic() - began:.0f} s; targets missed: {FAILED or 'none'}")
    sys.exit(1 if FAILED else 0)
