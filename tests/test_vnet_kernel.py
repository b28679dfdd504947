"""The virtual network's kernel, through trionet's own fd level, Tcp, Udp and net."""

from __future__ import annotations

import socket as stdsocket
import sys
from collections.abc import Iterator

import pytest
import trio
from trio.testing import MockClock

from trionet import net
from trionet import socket as s
from trionet._core._fdtable import entry
from trionet.testing import TraceEntry, VirtualNetwork
from trionet.udp import Udp


async def _listener(port: int, addr: str = "0.0.0.0", backlog: int = 5) -> int:
    fd = s.socket(s.AF_INET, s.SOCK_STREAM)
    s.bind(fd, (addr, port))
    s.listen(fd, backlog)
    return fd


async def _connected_to_db(vnet: VirtualNetwork) -> tuple[int, int, int]:
    """A listener on host ``db.test`` (127.77.0.1:5432), and a connection to it from localhost."""
    vnet.add_host("db.test")
    with vnet.host("db.test"):
        listener = await _listener(5432)
    client = s.socket(s.AF_INET, s.SOCK_STREAM)
    await s.connect(client, ("127.77.0.1", 5432))
    server, _ = await s.accept(listener)
    return listener, client, server


async def test_sockets_are_virtual_and_their_fds_are_real_unique_numbers() -> None:
    async with VirtualNetwork():
        fd = s.socket(s.AF_INET, s.SOCK_STREAM)
        other = s.socket(s.AF_INET, s.SOCK_DGRAM)
        try:
            assert type(entry(fd).sock).__name__ == "VStream"
            assert fd != other
            # The number is an eventfd the virtual socket owns.
            assert stdsocket.socket is not type(entry(fd).sock)
        finally:
            s.close(fd)
            s.close(other)


async def test_connect_costs_a_round_trip_of_latency(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.05) as vnet:
        vnet.add_host("db.test")
        with vnet.host("db.test"):
            listener = await _listener(5432)
        client = s.socket(s.AF_INET, s.SOCK_STREAM)
        start = trio.current_time()
        await s.connect(client, ("127.77.0.1", 5432))
        assert trio.current_time() - start == pytest.approx(0.1)
        server, peer = await s.accept(listener)
        assert peer == s.sock_name(client)
        assert s.peer_name(client) == s.sockaddr("127.77.0.1", 5432)
        await s.send(client, b"hello")
        assert await s.recv(server) == b"hello"
        assert trio.current_time() - start == pytest.approx(0.15)
        assert s.get_tcp_state(server) == s.TcpState.ESTABLISHED
        for fd in (client, server, listener):
            s.close(fd)


async def test_nothing_listening_is_refused_after_a_round_trip(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("db.test")
        client = s.socket(s.AF_INET, s.SOCK_STREAM)
        start = trio.current_time()
        with pytest.raises(ConnectionRefusedError):
            await s.connect(client, ("127.77.0.1", 1))
        assert trio.current_time() - start == pytest.approx(0.02)
        s.close(client)
        assert [entry.kind for entry in vnet.trace] == ["syn", "rst"]


async def test_a_full_backlog_drops_syns_until_accepted(autojump_clock: MockClock) -> None:
    async with VirtualNetwork():
        listener = await _listener(80, backlog=0)
        first = s.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(first, ("127.0.0.1", 80))
        second = s.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(s.Timeout):
            await s.connect(second, ("127.0.0.1", 80), timeout=0.5)
        accepted, _ = await s.accept(listener)
        # The retransmitted SYN (1 s after the first) finds room.
        await s.connect(second, ("127.0.0.1", 80), timeout=5)
        for fd in (first, second, accepted, listener):
            s.close(fd)


async def test_a_sender_blocks_while_its_peer_does_not_read(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.001):
        listener = await _listener(81)
        client = s.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, ("127.0.0.1", 81))
        server, _ = await s.accept(listener)
        sent = 0
        for _ in range(100):  # bounded: the buffers fill long before
            try:
                sent += await s.send(client, b"x" * 65536, timeout=1)
            except s.Timeout:
                break
        capacity = s.get_recv_buffer_size(server) + s.get_send_buffer_size(client)
        assert sent == capacity
        assert s.pending(server) == s.get_recv_buffer_size(server)
        got = 0
        while got < sent:
            got += len(await s.recv(server, 1 << 20))
        for fd in (client, server, listener):
            s.close(fd)


async def test_fin_half_closes_and_close_with_unread_data_resets(
    autojump_clock: MockClock,
) -> None:
    async with VirtualNetwork(latency=0.01):
        listener = await _listener(82)
        client = s.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, ("127.0.0.1", 82))
        server, _ = await s.accept(listener)
        s.shutdown(client, "w")
        assert await s.recv(server) == b""
        assert s.is_eof(server)
        assert s.get_tcp_state(server) == s.TcpState.CLOSE_WAIT
        await s.send(server, b"still open")  # half-closed: the other way works
        assert await s.recv(client) == b"still open"
        await s.send(server, b"unread")
        await trio.sleep(1)
        s.close(client)  # with unread data: RST
        with pytest.raises(ConnectionResetError):
            await s.recv(server)
        s.close(server)
        s.close(listener)


async def test_udp_loss_drops_datagrams_deterministically(autojump_clock: MockClock) -> None:
    async def lost(seed: int) -> list[TraceEntry]:
        async with VirtualNetwork(seed=seed, loss=0.5, latency=0.01) as vnet:
            vnet.add_host("b.test")
            with vnet.host("b.test"):
                receiver = Udp.create(("0.0.0.0", 9000))
            sender = Udp.create(("0.0.0.0", 0))
            for _ in range(40):
                await sender.sendto(("127.77.0.1", 9000), b"ping")
            await trio.sleep(1)
            got = s.pending(receiver.sock_fd)
            assert got == 4
            sender.close()
            receiver.close()
            return vnet.trace

    first, again, other = await lost(1), await lost(1), await lost(2)
    assert first == again
    assert first != other
    kinds = [entry.kind for entry in first]
    assert 5 < kinds.count("lost") < 35
    assert kinds.count("lost") + kinds.count("udp") == 40


async def test_broadcast_and_multicast_reach_every_host(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.001) as vnet:
        vnet.add_host("a.test")
        vnet.add_host("b.test")
        receivers = []
        for name in ("a.test", "b.test"):
            with vnet.host(name):
                udp = Udp.create(("0.0.0.0", 7000))
                s.add_membership(udp.sock_fd, "239.1.2.3")
                receivers.append(udp)
        sender = Udp.create(("0.0.0.0", 0))
        with pytest.raises(PermissionError):
            await sender.sendto(("255.255.255.255", 7000), b"all")
        s.set_broadcast(sender.sock_fd, True)
        await sender.sendto(("255.255.255.255", 7000), b"all")
        await sender.sendto(("239.1.2.3", 7000), b"group")
        for udp in receivers:
            assert (await udp.recvfrom())[0] == b"all"
            assert (await udp.recvfrom())[0] == b"group"
            udp.close()
        sender.close()


async def test_unix_paths_belong_to_their_host() -> None:
    async with VirtualNetwork() as vnet:
        vnet.add_host("other.test")
        here = s.socket(s.AF_UNIX, s.SOCK_STREAM)
        s.bind(here, "/run/app.sock")
        s.listen(here)
        with vnet.host("other.test"):
            there = s.socket(s.AF_UNIX, s.SOCK_STREAM)
            s.bind(there, "/run/app.sock")  # no clash: another namespace
            client = s.socket(s.AF_UNIX, s.SOCK_STREAM)
            with pytest.raises(ConnectionRefusedError):
                await s.connect(client, "/run/app.sock")  # bound, not listening
        client2 = s.socket(s.AF_UNIX, s.SOCK_STREAM)
        await s.connect(client2, "/run/app.sock")
        server, _ = await s.accept(here)
        await s.send(client2, b"local")
        assert await s.recv(server) == b"local"
        for fd in (here, there, client, client2, server):
            s.close(fd)


async def test_a_partition_delays_tcp_until_it_heals(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.01) as vnet:
        listener, client, server = await _connected_to_db(vnet)
        vnet.partition("localhost", "db.test")
        await s.send(client, b"late")
        with pytest.raises(s.Timeout):
            await s.recv(server, timeout=5)
        vnet.heal("localhost", "db.test")
        assert await s.recv(server, timeout=30) == b"late"
        kinds = [entry.kind for entry in vnet.trace]
        assert "retransmit" in kinds
        assert kinds.index("heal") < len(kinds) - 1
        for fd in (client, server, listener):
            s.close(fd)


async def test_reset_and_crash_and_restart(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.01) as vnet:
        listener, client, server = await _connected_to_db(vnet)
        vnet.reset("localhost", "db.test")
        with pytest.raises(ConnectionResetError):
            await s.recv(client)
        with pytest.raises(ConnectionResetError):
            await s.send(server, b"x")
        s.close(client)
        s.close(server)
        vnet.crash("db.test")
        with pytest.raises(trio.ClosedResourceError):
            await s.accept(listener, timeout=0)
        s.close(listener)
        again = s.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(s.Timeout):  # SYNs to a crashed host go unanswered
            await s.connect(again, ("127.77.0.1", 5432), timeout=3)
        s.close(again)
        vnet.restart("db.test")
        refused = s.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):  # back, with nothing bound
            await s.connect(refused, ("127.77.0.1", 5432), timeout=3)
        s.close(refused)


async def test_names_resolve_through_trionets_lookups(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.02) as vnet:
        vnet.add_host("db.test")

        async def echo(sock: net.Socket) -> None:
            sock.on("data", sock.write)

        with vnet.host("db.test"):
            server = net.create_server(echo)
            async with server:
                await server.listen(6000, "db.test")
                got = bytearray()
                async with net.connect(6000, "db.test") as sock:
                    sock.on("data", got.extend)
                    sock.end(b"ping")
                    await sock.wait_closed()
                assert got == b"ping"
                with pytest.raises(stdsocket.gaierror):
                    async with net.connect(6000, "nowhere.test"):
                        pass
                server.close()


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="seed"):
        VirtualNetwork(seed="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loss"):
        VirtualNetwork(loss=2)
    with pytest.raises(ValueError, match="latency"):
        VirtualNetwork(latency=-1)


@pytest.fixture
def socket_audit() -> Iterator[list[object]]:
    opened: list[object] = []
    watching = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "socket.__new__" and watching[0]:
            opened.append(args)

    sys.addaudithook(hook)  # hooks cannot be removed: this one stops watching
    try:
        yield opened
    finally:
        watching[0] = False


async def test_no_real_socket_is_opened_inside_the_block(
    socket_audit: list[object], autojump_clock: MockClock
) -> None:
    # trio's own run (its wake-up socketpair) opened real sockets before.
    del socket_audit[:]
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("db.test")

        async def echo(sock: net.Socket) -> None:
            sock.on("data", sock.write)

        server = net.create_server(echo)
        async with server:
            with vnet.host("db.test"):
                await server.listen(7000, "0.0.0.0")
            got = bytearray()
            async with net.connect(7000, "db.test") as sock:
                sock.on("data", got.extend)
                sock.end(b"audit")
                await sock.wait_closed()
            udp = Udp.create(("0.0.0.0", 0))
            udp.close()
            server.close()
        assert got == b"audit"
    assert socket_audit == []


async def test_the_fixture_makes_the_tests_sockets_virtual(
    trionet_vnet: VirtualNetwork, autojump_clock: MockClock
) -> None:
    trionet_vnet.add_host("peer.test")
    fd = s.socket(s.AF_INET, s.SOCK_DGRAM)
    try:
        assert type(entry(fd).sock).__name__ == "VDatagram"
        s.bind(fd, ("127.0.0.1", 0))
        await s.sendto(fd, s.sock_name(fd), b"self")
        assert await s.recvfrom(fd) == (b"self", s.sock_name(fd))
    finally:
        s.close(fd)
    assert [entry.kind for entry in trionet_vnet.trace] == ["udp"]


async def test_a_host_without_addresses_gets_the_first_free_one() -> None:
    async with VirtualNetwork() as vnet:
        vnet.add_host("given.test", addresses=["127.77.0.1"])
        later = vnet.add_host("later.test")
        assert later.addresses == ("127.77.0.2",)
