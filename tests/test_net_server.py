"""``net.Server``: listening in every form, closing, limits, and surviving peers."""

from __future__ import annotations

import logging
import os
import socket as stdsocket
import stat
import struct
from pathlib import Path
from typing import Any

import pytest
import trio
from _net_helpers import serving, until
from _ports import aretry_on_addr_in_use, hold_port
from trio.testing import MockClock

import trionet
from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True
LOOPBACK_ONLY = {
    "test_unix_path_with_permissions_is_unlinked_on_close": "virtual paths are not files",
    "test_listen_on_an_fd_takes_it_over": "hands in a stdlib socket",
    "test_two_hundred_clients_resetting_never_stop_the_server": "its clients are stdlib sockets",
    "test_close_right_after_listen_leaves_a_reused_fd_number_alone": "opens a real file",
}


async def _echo(sock: net.Socket) -> None:
    sock.on("data", sock.write)


async def _roundtrip(port: int, host: str = "127.0.0.1", payload: bytes = b"ping") -> bytes:
    got = bytearray()
    async with net.connect(port, host) as sock:
        sock.on("data", got.extend)
        sock.end(payload)
        await sock.wait_closed()
    return bytes(got)


async def test_listen_emits_listening_and_serves_connections(autojump_clock: MockClock) -> None:
    log: list[Any] = []
    async with net.create_server(_echo) as server:
        server.on("listening", lambda: log.append("listening"))
        server.on("connection", lambda sock: log.append("connection"))
        server.on("close", lambda: log.append("close"))
        assert await server.listen(0, "127.0.0.1", 16) is server
        assert server.listening
        address = server.address()
        assert isinstance(address, net.AddressInfo)
        assert (address.address, address.family, address.port) == (
            "127.0.0.1",
            "IPv4",
            server.port(),
        )
        assert await _roundtrip(address.port) == b"ping"
        assert server.close() is server
        await server.wait_closed()
        assert not server.listening
        assert server.address() is None
        assert server.port() is None
    assert log == ["listening", "connection", "close"]


async def test_default_host_is_dual_stack_and_ipv6_only_is_not(autojump_clock: MockClock) -> None:
    async with net.create_server(_echo) as server:
        await server.listen()
        assert server.address().family == "IPv6"  # type: ignore[union-attr]
        port = server.port()
        assert port is not None
        assert await _roundtrip(port, "127.0.0.1") == b"ping"
        assert await _roundtrip(port, "::1") == b"ping"
        server.close()

    async def refused_on_ipv4_beside_ipv6_only() -> None:
        async with net.create_server(_echo) as server:
            await server.listen(0, "::", ipv6_only=True)
            port = server.port()
            assert port is not None
            # 127.0.0.1 at that port is free: hold it so nobody else listens
            # there (someone who has it already makes this attempt retry).
            with hold_port(port), pytest.raises(ConnectionRefusedError):
                await _roundtrip(port, "127.0.0.1")
            server.close()

    await aretry_on_addr_in_use(refused_on_ipv4_beside_ipv6_only)


async def test_unix_path_with_permissions_is_unlinked_on_close(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    path = str(tmp_path / "echo.sock")
    async with net.create_server(_echo) as server:
        await server.listen(path=path, readable_all=True, writable_all=True)
        assert server.address() == path
        assert server.port() is None
        assert os.stat(path).st_mode & 0o666 == 0o666
        got = bytearray()
        async with net.connect(path=path) as sock:
            sock.on("data", got.extend)
            sock.end(b"unix")
            await sock.wait_closed()
        assert got == b"unix"
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        server.close()
        with pytest.raises(FileNotFoundError):
            os.stat(path)


async def test_listen_on_an_fd_takes_it_over(autojump_clock: MockClock) -> None:
    raw = stdsocket.socket()
    raw.bind(("127.0.0.1", 0))
    async with net.create_server(_echo) as server:
        await server.listen(fd=raw.detach())
        port = server.port()
        assert port is not None
        assert await _roundtrip(port) == b"ping"
        server.close()
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as udp:
        async with net.create_server() as server:
            with pytest.raises(ValueError, match="stream"):
                await server.listen(fd=udp.fileno())


async def test_listening_twice_and_closing_when_not_running_raise(
    autojump_clock: MockClock,
) -> None:
    async with net.create_server() as server:
        with pytest.raises(net.ServerNotRunningError):
            server.close()
        await server.listen(0, "127.0.0.1")
        with pytest.raises(net.ServerAlreadyListeningError):
            await server.listen(0, "127.0.0.1")
        server.close()
        await server.wait_closed()
        await server.listen(0, "127.0.0.1")  # after close(): allowed again
        server.close()


async def test_listening_comes_on_a_later_tick_and_not_once_closed(
    autojump_clock: MockClock,
) -> None:
    log: list[str] = []
    async with net.create_server() as server:
        await server.listen(0, "127.0.0.1")
        server.on("listening", lambda: log.append("listening"))  # after, as in Node
        assert log == []
        await until(lambda: log)
        server.close()
        await server.listen(0, "127.0.0.1")
        server.close()  # before the tick: no 'listening' (Node's emitListeningNT)
        await server.wait_closed()
    assert log == ["listening"]


async def test_close_right_after_listen_leaves_a_reused_fd_number_alone(
    tmp_path: Path, autojump_clock: MockClock
) -> None:
    # close() before the accept task first ran: the fd number is free, and
    # here a file takes it. The accept task used to adopt that number
    # ("ValueError: fd N is not a socket") and would have accepted on
    # another socket's; now it sees that its listen() is over.
    closes: list[str] = []
    async with net.create_server(_echo) as server:
        server.on("close", lambda: closes.append("close"))
        await server.listen(0, "127.0.0.1")
        number = server._listener  # the listening fd's number
        server.close()
        taker = os.open(tmp_path / "taker", os.O_CREAT | os.O_WRONLY)
        try:
            assert taker == number
            await server.wait_closed()
        finally:
            os.close(taker)
        await server.listen(0, "127.0.0.1")  # a new listen() right away serves
        server.close()
        await server.listen(0, "127.0.0.1")
        assert await _roundtrip(server.address_info().port) == b"ping"
        server.close()
    assert closes == ["close"] * 3


async def test_address_in_use_raises_and_emits_error(autojump_clock: MockClock) -> None:
    errors: list[BaseException] = []
    async with serving() as served, net.create_server() as second:
        second.on("error", errors.append)
        with pytest.raises(OSError, match="in use") as caught:
            await second.listen(served.port, "127.0.0.1")
        assert errors == [caught.value]
        assert not second.listening
    async with serving() as served, net.create_server() as third:
        with pytest.raises(OSError, match="in use"):  # no listener: raised only
            await third.listen(served.port, "127.0.0.1")


async def test_listen_outside_the_block_and_bad_arguments(autojump_clock: MockClock) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await net.Server().listen()
    async with net.create_server() as server:
        with pytest.raises(TypeError, match="port"):
            await server.listen(True)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="backlog"):
            await server.listen(0, backlog=-1)
        assert not server.listening
    with pytest.raises(ValueError, match="max_connections"):
        net.create_server(max_connections=-1)
    with pytest.raises(ValueError, match="subs"):
        net.create_server(subs=-1)


async def test_close_stops_accepting_at_once_and_close_waits_for_connections(
    autojump_clock: MockClock,
) -> None:
    log: list[str] = []
    async with serving(_echo) as served:
        served.server.on("close", lambda: log.append("server close"))
        port = served.port
        async with net.connect(port, "127.0.0.1") as sock:
            sock.on("data", lambda chunk: None)
            sock.on("close", lambda had_error: log.append("client close"))
            await served.next_socket()
            served.server.close()
            with pytest.raises(ConnectionRefusedError):
                await _roundtrip(port)
            assert served.server.get_connections() == 1
            await trio.sleep(1)
            assert log == []  # the open connection holds 'close' back
            sock.end()
        await served.server.wait_closed()
    assert log == ["client close", "server close"]


async def test_max_connections_drops_the_extra_client(autojump_clock: MockClock) -> None:
    drops: list[dict[str, object]] = []
    async with serving(max_connections=1) as served:
        assert served.server.max_connections == 1
        served.server.on("drop", drops.append)
        async with net.connect(served.port, "127.0.0.1"):
            await served.next_socket()
            got = bytearray()
            async with net.connect(served.port, "127.0.0.1") as second:
                second.on("data", got.extend)
                await second.wait_closed()
            assert got == b""
            assert len(drops) == 1
            assert drops[0]["remote_address"] == "127.0.0.1"
            assert drops[0]["local_port"] == served.port
            assert served.server.get_connections() == 1
            served.server.max_connections = None
            async with net.connect(served.port, "127.0.0.1"):
                await until(lambda: served.server.get_connections() == 2)


async def test_pause_on_connect_starts_connections_paused(autojump_clock: MockClock) -> None:
    async with (
        serving(pause_on_connect=True) as served,
        net.connect(served.port, "127.0.0.1") as sock,
    ):
        peer = await served.next_socket()
        assert peer.is_paused()
        sock.write(b"x")


async def test_unref_server_destroys_connections_when_its_block_ends(
    autojump_clock: MockClock,
) -> None:
    async with net.create_server() as server:
        await server.listen(0, "127.0.0.1")
        port = server.port()
        assert port is not None
        async with net.connect(port, "127.0.0.1") as sock:
            sock.on("data", lambda chunk: None)
            await until(lambda: server.get_connections() == 1)
            assert server.unref() is server
            assert server.ref() is server
            server.unref()
        # the client left; the server side, not reading, would wait forever


async def test_listener_exception_comes_out_of_the_server_block(autojump_clock: MockClock) -> None:
    async def broken(sock: net.Socket) -> None:
        raise LookupError("from user code")

    async def serve() -> None:
        async with net.create_server(broken) as server:
            await server.listen(0, "127.0.0.1")
            port = server.port()
            assert port is not None
            async with net.connect(port, "127.0.0.1") as sock:
                sock.resume()
                await sock.wait_closed()
            await server.wait_closed()

    with pytest.raises(LookupError, match="user code"):
        await serve()


def _reset(sock: stdsocket.socket) -> None:
    sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_two_hundred_clients_resetting_never_stop_the_server(
    caplog: pytest.LogCaptureFixture, autojump_clock: MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="trionet.net")
    closed = 0

    async def on_connection(sock: net.Socket) -> None:
        nonlocal closed
        sock.on("data", sock.write)

        def on_close(had_error: bool) -> None:
            nonlocal closed
            closed += 1

        sock.on("close", on_close)

    async with serving(on_connection) as served:
        for _ in range(200):
            raw = stdsocket.create_connection(("127.0.0.1", served.port))
            raw.sendall(b"hello")
            await until(lambda: served.server.get_connections() >= 1)
            _reset(raw)
        await until(lambda: closed == 200)
        assert await _roundtrip(served.port, payload=b"still here") == b"still here"
    assert any(record.name == "trionet.net" for record in caplog.records)


async def test_edgeros_positional_form_and_saddr(autojump_clock: MockClock) -> None:
    # EdgerOS: net.createServer(group, subs[, subMode][, saddr[, tlsOpt]]).
    saddr = trionet.sockaddr("127.0.0.1", 0)
    async with net.create_server("server", 0, saddr) as server:
        assert server.group_name == ("server", "master")
        await server.listen()  # on saddr
        assert server.address_info().address == "127.0.0.1"
        server.close()
    async with net.create_server(_echo, saddr=("127.0.0.1", 0)) as server:
        await server.listen()
        assert await _roundtrip(server.address_info().port) == b"ping"
        server.close()
    with pytest.raises(TypeError, match="subs is missing"):
        net.create_server("server")
    with pytest.raises(TypeError, match="subs twice"):
        net.create_server("server", 0, subs=1)
    with pytest.raises(TypeError, match="too many"):
        net.create_server("server", 0, "m:f", saddr, None, 1)
    with pytest.raises(TypeError, match="one positional argument"):
        net.create_server(_echo, 0)
    with pytest.raises(TypeError, match="saddr"):
        net.create_server(saddr=3000)  # type: ignore[arg-type]
