"""Where the virtual kernel differed from Linux, found by running the suite on both networks.

Each test pins one fix at the kernel level, through trionet's fd level
inside a ``VirtualNetwork``: the suite's modules with ``OVER_VNET`` found
the difference, this module says what Linux does.
"""

from __future__ import annotations

import errno
import socket as stdsocket

import pytest
import trio
from trio.testing import MockClock

from trionet import socket as s
from trionet._core._fdtable import entry
from trionet.testing import VirtualNetwork


async def _connected(port: int) -> tuple[int, int, int]:
    listener = s.socket(s.AF_INET, s.SOCK_STREAM)
    s.bind(listener, ("127.0.0.1", port))
    s.listen(listener, 5)
    client = s.socket(s.AF_INET, s.SOCK_STREAM)
    await s.connect(client, ("127.0.0.1", port))
    server, _ = await s.accept(listener)
    return listener, client, server


async def test_sockets_closed_after_the_block_only_free_their_fds(
    autojump_clock: MockClock,
) -> None:
    # A sync fixture closes what the test opened after the trio run is over.
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("db.test")
        listener, client, server = await _connected(90)
        with vnet.host("db.test"):
            far = s.socket(s.AF_INET, s.SOCK_DGRAM)
            s.bind(far, ("0.0.0.0", 53))
        await s.send(client, b"unread")  # so the close would send RST
        await trio.sleep(1)
        seen = len(vnet.trace)
    for fd in (client, server, listener, far):
        s.close(fd)
    assert len(vnet.trace) == seen  # nothing was sent any more


async def test_all_of_127_0_0_0_8_is_each_hosts_loopback(autojump_clock: MockClock) -> None:
    async with VirtualNetwork() as vnet:
        vnet.add_host("db.test")
        for host in ("localhost", "db.test"):
            with vnet.host(host):
                listener = s.socket(s.AF_INET, s.SOCK_STREAM)
                s.bind(listener, ("127.0.0.2", 0))
                s.listen(listener, 1)
                client = s.socket(s.AF_INET, s.SOCK_STREAM)
                s.bind(client, ("127.0.0.3", 0))
                await s.connect(client, s.sock_name(listener))
                server, remote = await s.accept(listener)
                assert remote == s.sock_name(client)
                assert isinstance(remote, s.SockAddr)
                assert remote.addr == "127.0.0.3"
                for fd in (client, server, listener):
                    s.close(fd)
        # The virtual range names hosts: it is nobody's loopback.
        other = s.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(OSError, match="assign") as caught:
            s.bind(other, ("127.77.9.9", 0))
        assert caught.value.errno == errno.EADDRNOTAVAIL
        s.close(other)


async def test_bind_to_device_knows_lo_and_a_first_binding_is_free() -> None:
    async with VirtualNetwork():
        fd = s.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(OSError, match="device") as caught:
            s.bind_to_device(fd, "nosuchif0")
        assert caught.value.errno == errno.ENODEV
        s.bind_to_device(fd, "lo")  # no privilege needed while unbound (Linux >= 5.7)
        assert entry(fd).sock.getsockopt(stdsocket.SOL_SOCKET, 25, 16) == b"lo"
        s.close(fd)


async def test_a_connection_queues_4_mib_and_a_blocked_writer_waits_for_room(
    autojump_clock: MockClock,
) -> None:
    # On Linux loopback (tcp_wmem 4096 16384 4194304) an unconnected socket
    # reports 16 KiB and an established one 4 MiB, and a writer blocked on
    # a full buffer is woken once the free space is half what is queued.
    async with VirtualNetwork():
        unconnected = s.socket(s.AF_INET, s.SOCK_STREAM)
        assert s.get_send_buffer_size(unconnected) == 16384
        s.close(unconnected)
        listener, client, server = await _connected(91)
        assert s.get_send_buffer_size(client) == s.get_send_buffer_size(server) == 4 << 20
        queued = 0
        for _ in range(100):  # bounded: 4 MiB + 128 KiB fill in 67 sends
            try:
                queued += await s.send(client, b"q" * 65536, timeout=0)
            except s.Timeout:
                break
        assert queued == (4 << 20) + s.get_recv_buffer_size(server)
        woken: list[int] = []

        async def writer() -> None:
            woken.append(await s.send(client, b"w" * 65536))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            await trio.testing.wait_all_tasks_blocked()
            assert len(await s.recv(server, 1 << 20)) == 1 << 17  # room for 64 KiB...
            await trio.testing.wait_all_tasks_blocked()
            assert woken == []  # ...but poll does not say writable yet
            taken = 1 << 17
            while taken < 2 << 20:
                taken += len(await s.recv(server, 1 << 20))
        assert woken == [65536]
        for fd in (client, server, listener):
            s.close(fd)
