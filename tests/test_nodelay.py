"""SPEC rule 28: TCP_NODELAY is on by default on every TCP socket trionet makes.

Read back from the kernel with ``getsockopt`` on a duplicate of each fd:
client and server-side ``net`` sockets (plain, IPv6, ``fd=``), ``Tcp`` in
both APIs (connected, accepted, adopted). Then what it is for: h11, which
sends a response in three ``send_all`` calls, answering curl's 100
keep-alive requests; with Nagle each response waited ~40 ms for the
delayed ACK (4.4 s for 100).
"""

from __future__ import annotations

import os
import shutil
import socket as stdsocket
import time

import h11
import pytest
import trio
from _fds import Owned
from _net_helpers import serving
from trio.testing import MockClock
from trionet.compat import iosched
from trionet.compat.tcp import Tcp as SyncTcp

from trionet import net
from trionet.tcp import Tcp

GUARD = 5.0


def _no_delay(fd: int) -> bool:
    with stdsocket.socket(fileno=os.dup(fd)) as raw:
        return bool(raw.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY))


async def test_net_client_and_server_side_sockets_have_nagle_off(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        peer = await served.next_socket()
        assert _no_delay(sock.fileno())
        assert _no_delay(peer.fileno())


async def test_net_ipv6_sockets_have_nagle_off(autojump_clock: MockClock) -> None:
    async with serving(host="::1") as served, net.connect(served.port, "::1") as sock:
        peer = await served.next_socket()
        assert _no_delay(sock.fileno())
        assert _no_delay(peer.fileno())


async def test_set_no_delay_false_before_connect_restores_nagle(
    autojump_clock: MockClock,
) -> None:
    async with serving() as served, net.Socket() as sock:
        sock.set_no_delay(False)
        await sock.connect(served.port, "127.0.0.1")
        assert not _no_delay(sock.fileno())
        sock.set_no_delay(True)
        assert _no_delay(sock.fileno())


async def test_a_socket_wrapping_an_fd_has_nagle_off(
    owned: Owned, autojump_clock: MockClock
) -> None:
    listener = owned(Tcp.create_server(("127.0.0.1", 0)))
    client = owned(await Tcp.create_client(listener.sock_name()))
    accepted, _ = await listener.accept()
    accepted.set_no_delay(False)
    async with net.Socket(fd=accepted.fly_away()) as sock:
        assert _no_delay(sock.fileno())
        sock.destroy()
    assert _no_delay(client.sock_fd)


async def test_tcp_objects_have_nagle_off(owned: Owned, autojump_clock: MockClock) -> None:
    listener = owned(Tcp.create_server(("127.0.0.1", 0)))
    client = owned(await Tcp.create_client(listener.sock_name()))
    server, _ = await listener.accept()
    owned(server)
    assert _no_delay(client.sock_fd)
    assert _no_delay(server.sock_fd)
    server.set_no_delay(False)
    adopted = owned(Tcp.create_by_fd(server.fly_away()))
    assert _no_delay(adopted.sock_fd)


def test_compat_tcp_objects_have_nagle_off() -> None:
    with (
        SyncTcp.create_server(("127.0.0.1", 0)) as listener,
        SyncTcp.create_client(listener.sock_name(), timeout=GUARD) as client,
    ):
        server, _ = listener.accept(timeout=GUARD)
        with server:
            assert _no_delay(client.sock_fd)
            assert _no_delay(server.sock_fd)


def test_compat_callback_clients_have_nagle_off() -> None:
    seen: list[bool] = []

    def on_connected(tcp: SyncTcp | None, remote: object) -> None:
        assert tcp is not None
        seen.append(_no_delay(tcp.sock_fd))
        tcp.close()

    with SyncTcp.create_server(("127.0.0.1", 0)) as listener:
        SyncTcp.create_client(listener.sock_name(), timeout=GUARD, callback=on_connected)
        iosched.forever()
        listener.accept(timeout=GUARD)[0].close()
    assert seen == [True]


# -- what it is for: h11 answering a real curl ----------------------------------


async def _answer(sock: net.Socket) -> None:
    """An h11 server loop as h11's own examples write it: one send_all per event."""
    conn = h11.Connection(h11.SERVER)
    async with sock:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await sock.receive_some())
            elif isinstance(event, h11.Request):
                body = b"ok\n"
                headers = [("content-length", str(len(body)))]
                await sock.send_all(conn.send(h11.Response(status_code=200, headers=headers)))
                await sock.send_all(conn.send(h11.Data(data=body)))
                await sock.send_all(conn.send(h11.EndOfMessage()))
            elif isinstance(event, h11.EndOfMessage):
                if conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return


async def test_h11_answers_100_keep_alive_requests_from_curl_well_under_a_second() -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is needed for this test (apt-get install curl)")
    async with net.create_server(_answer) as server:
        await server.listen(0, "127.0.0.1")
        urls = [f"http://127.0.0.1:{server.port()}/{i}" for i in range(100)]
        start = time.monotonic()
        done = await trio.run_process(
            [curl, "-sS", "--fail", *urls], capture_stdout=True, capture_stderr=True, check=False
        )
        elapsed = time.monotonic() - start
        server.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok\n" * 100
    # With Nagle: ~40 ms a response, 4.4 s measured. Without: 0.04-0.25 s.
    assert elapsed < 1.0, f"100 keep-alive requests took {elapsed:.2f} s"
