"""``subs=N, processes=True`` (SPEC 10): worker processes, fds over SCM_RIGHTS, supervision."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from trionet import _fdpass, net
from trionet._worker import CountReporter

TESTS = Path(__file__).parent


def _master(sock: net.Socket) -> None:
    sock.write(f"master {os.getpid()}\n")
    sock.resume()


async def _ask(port: int) -> tuple[trio.SocketStream, str]:
    """Connect and read the first line: who serves it, and its pid."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    got = b""
    while not got.endswith(b"\n"):
        chunk = await stream.receive_some()
        assert chunk, got
        got += chunk
    return stream, got.decode().strip()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@contextlib.asynccontextmanager
async def _two_workers() -> AsyncIterator[tuple[net.Server, int]]:
    """A listening master whose two workers tell each client ``subN pid``."""
    async with net.create_server(
        _master, subs=2, processes=True, sub_main="_subs_main:attach_pid"
    ) as server:
        await server.listen(0, "127.0.0.1")
        yield server, server.address_info().port


async def test_connections_go_round_robin_to_each_worker() -> None:
    async with _two_workers() as (server, port):
        held = [await _ask(port) for _ in range(6)]
        names = [line.split()[0] for _, line in held]
        pids = {line.split()[0]: int(line.split()[1]) for _, line in held}
        assert names == ["sub1", "sub2"] * 3  # the master serves none itself
        assert len(set(pids.values())) == 2
        assert os.getpid() not in pids.values()
        # Counted over the group (each worker reports within 50 ms).
        with trio.fail_after(5):
            while server.get_connections() != 6:  # noqa: ASYNC110 - counts come from other processes
                await trio.sleep(0.01)
        for stream, _ in held:
            await stream.aclose()
        server.close()
    assert not any(_alive(pid) for pid in pids.values())


async def test_a_failing_sub_main_comes_out_of_the_master_bare() -> None:
    with pytest.raises(LookupError, match="sub_main of sub1 failed"):
        async with net.create_server(subs=1, processes=True, sub_main="_subs_main:fail"):
            pass


async def _kill_a_worker(pids: list[int]) -> None:
    async with _two_workers() as (_server, port):
        held = [await _ask(port) for _ in range(2)]
        pids.extend(int(line.split()[1]) for _, line in held)
        os.kill(pids[1], signal.SIGKILL)
        try:
            await trio.sleep_forever()
        finally:
            for stream, _ in held:
                stream.socket.close()  # cancelled here: aclose() would stop at its checkpoint


async def test_a_worker_killed_takes_the_master_down_with_a_clear_error() -> None:
    pids: list[int] = []
    with pytest.raises(net.WorkerDiedError, match=r"worker sub2 \(pid \d+\).*killed by signal 9"):
        await _kill_a_worker(pids)
    assert not any(_alive(pid) for pid in pids)  # sub1 was stopped and reaped too


MASTER = textwrap.dedent(
    """
    import os, sys, trio
    from trionet import net

    async def main():
        attach = "_subs_main:attach_pid"
        async with net.create_server(subs=2, processes=True, sub_main=attach) as server:
            await server.listen(0, "127.0.0.1")
            print("ready", flush=True)
            await trio.sleep_forever()

    trio.run(main)
    """
)


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started, from ``/proc`` (each thread lists its own)."""
    threads = Path(f"/proc/{pid}/task").glob("*/children")
    return sorted(int(child) for thread in threads for child in thread.read_text().split())


def test_a_master_killed_by_sigkill_leaves_no_worker_after_5_s() -> None:
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
    )
    assert master.stdout is not None
    assert master.stdout.readline() == b"ready\n"
    workers = _children(master.pid)
    assert len(workers) == 2
    assert all(b"trionet._worker" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers)
    assert all(_alive(pid) for pid in workers)
    master.kill()
    master.wait(10)
    master.stdout.close()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def test_what_cannot_reach_a_worker_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="sub_main must be picklable"):
        net.create_server(subs=1, processes=True, sub_main=lambda server: None)
    with pytest.raises(ValueError, match="connection_listener must be picklable"):
        net.create_server(lambda sock: None, subs=1, processes=True)
    with pytest.raises(ValueError, match="tls with processes=True"):
        net.create_server(subs=1, processes=True, tls=ssl.create_default_context())
    with pytest.raises(TypeError, match="processes"):
        net.create_server(subs=1, processes="yes")  # type: ignore[arg-type]


async def test_tls_and_the_proxy_header_are_handled_in_the_worker() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    tls = net.TlsOptions(
        cert=cert.cert_chain_pems[0].bytes().decode(), key=cert.private_key_pem.bytes().decode()
    )
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    replies = []
    async with net.create_server(
        subs=2, processes=True, sub_main="_subs_main:attach_remote", tls=tls, proxy_protocol=True
    ) as server:
        await server.listen(0, "127.0.0.1")
        for n in range(2):
            raw = await trio.open_tcp_stream("127.0.0.1", server.address_info().port)
            await raw.send_all(f"PROXY TCP4 203.0.113.{n} 127.0.0.1 5 6\r\n".encode())
            secure = trio.SSLStream(raw, client_context, server_hostname="localhost")
            replies.append(await secure.receive_some())
            await secure.aclose()
        server.close()
    assert replies == [b"sub1 203.0.113.0\n", b"sub2 203.0.113.1\n"]


async def test_an_async_sub_main_finds_its_server_with_create_sub_server() -> None:
    async with net.create_server(
        subs=2, processes=True, sub_main="_subs_main:attach_async"
    ) as server:
        await server.listen(0, "127.0.0.1")
        replies = [await _read_all(server.address_info().port) for _ in range(4)]
        server.close()
    assert replies == [b"sub1", b"sub2", b"sub1", b"sub2"]


async def _read_all(port: int) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    got = b""
    async with stream:
        while chunk := await stream.receive_some():
            got += chunk
    return got


def test_a_channel_is_read_without_waiting_until_it_is_drained() -> None:
    # What a worker reads its channel with (trionet._worker): None means
    # "drained, wait for the edge"; (None, None) means the master is gone.
    ours, theirs = _fdpass.channel_pair()
    sent, kept = socket.socketpair()
    try:
        assert _fdpass.try_receive(theirs) is None
        assert _fdpass.try_send(ours, ("conn", "127.0.0.1"), sent.fileno())
        assert _fdpass.try_send(ours, ("stop", False, False))
        message, fd = _fdpass.try_receive(theirs) or (None, None)
        assert message == ("conn", "127.0.0.1")
        assert fd is not None
        with socket.socket(fileno=fd) as received:
            received.sendall(b"x")  # the same socket as sent's, duplicated by the kernel
        assert kept.recv(1) == b"x"
        assert _fdpass.try_receive(theirs) == (("stop", False, False), None)
        assert _fdpass.try_receive(theirs) is None
        ours.close()
        assert _fdpass.try_receive(theirs) == (None, None)
    finally:
        for each in (ours, theirs, sent, kept):
            each.close()


async def test_a_worker_reports_its_count_when_it_changes_and_never_polls(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The reporter of trionet._worker, on a server of this run: the server's
    # own bookkeeping wakes it, and between changes it has no timer at all.
    ours, theirs = _fdpass.channel_pair()
    try:
        async with net.create_server(net.Socket.resume) as server, trio.open_nursery() as nursery:
            await server.listen(0, "127.0.0.1")
            nursery.start_soon(CountReporter(server).run, ours)
            await trio.testing.wait_all_tasks_blocked()
            assert trio.lowlevel.current_statistics().seconds_to_next_deadline == math.inf
            address = server.address()
            assert isinstance(address, net.AddressInfo)
            clients = [await trio.open_tcp_stream("127.0.0.1", address.port)]
            assert await _fdpass.receive(theirs) == (("count", 1), None)
            clients += [await trio.open_tcp_stream("127.0.0.1", address.port) for _ in range(2)]
            # Both arrived within the interval after a report: one report of both.
            assert await _fdpass.receive(theirs) == (("count", 3), None)
            await trio.sleep(1)
            assert _fdpass.try_receive(theirs) is None
            assert trio.lowlevel.current_statistics().seconds_to_next_deadline == math.inf
            for client in clients:
                await client.aclose()
            await trio.sleep(1)
            reports = [_fdpass.try_receive(theirs) for _ in range(4)]
            # The first close may be reported alone; the rest come as one report.
            sent = [report for report in reports if report is not None]
            assert 1 <= len(sent) <= 2
            assert sent[-1] == (("count", 0), None)
            nursery.cancel_scope.cancel()
    finally:
        ours.close()
        theirs.close()
