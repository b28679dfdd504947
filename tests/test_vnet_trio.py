"""trio's own sockets inside a ``VirtualNetwork``: virtual, with trio's semantics."""

from __future__ import annotations

import socket as stdsocket

import pytest
import trio
import trio.testing
from trio.testing import MockClock

from trionet import net
from trionet.testing import VirtualNetwork


async def test_trio_streams_and_listeners_are_virtual_and_cross_hosts(
    autojump_clock: MockClock,
) -> None:
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("db.test")
        with vnet.host("db.test"):
            listeners = await trio.open_tcp_listeners(5432, host="0.0.0.0")
        listener = listeners[0]
        assert type(listener.socket).__name__ == "VTrioSocket"
        start = trio.current_time()
        async with listener, await trio.open_tcp_stream("db.test", 5432) as client:
            assert trio.current_time() - start == pytest.approx(0.02)  # one round trip
            server = await listener.accept()
            async with server:
                await client.send_all(b"ping")
                assert await server.receive_some() == b"ping"
                await client.send_eof()
                assert await server.receive_some() == b""
        kinds = [entry.kind for entry in vnet.trace]
        assert kinds[:3] == ["syn", "synack", "data"]
        assert "fin" in kinds


async def test_a_trio_socket_meets_a_net_server_and_is_refused_without_one(
    autojump_clock: MockClock,
) -> None:
    async with VirtualNetwork():

        async def echo(sock: net.Socket) -> None:
            sock.on("data", sock.write)

        async with net.create_server(echo) as server:
            await server.listen(7000, "127.0.0.1")
            with trio.socket.socket() as sock:
                await sock.connect(("127.0.0.1", 7000))
                await sock.send(b"echo")
                assert await sock.recv(10) == b"echo"
            server.close()
        with trio.socket.socket() as refused, pytest.raises(ConnectionRefusedError):
            await refused.connect(("127.0.0.1", 7000))


async def test_trio_socket_rules_hold_busy_bad_sizes_closing_and_datagrams() -> None:
    async with VirtualNetwork():
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        async with listeners[0] as listener:
            port = listener.socket.getsockname()[1]
            async with await trio.open_tcp_stream("127.0.0.1", port) as client:
                with pytest.raises(TypeError):
                    await client.socket.recv(1.5)  # type: ignore[arg-type]
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client.receive_some, 1)
                    await trio.testing.wait_all_tasks_blocked()
                    with pytest.raises(trio.BusyResourceError):
                        await client.receive_some(1)
                    nursery.cancel_scope.cancel()

                async def close_soon() -> None:
                    await trio.testing.wait_all_tasks_blocked()
                    client.socket.close()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(close_soon)
                    with pytest.raises(trio.ClosedResourceError):
                        await client.socket.recv(1)
        with (
            trio.socket.socket(type=stdsocket.SOCK_DGRAM) as a,
            trio.socket.socket(type=stdsocket.SOCK_DGRAM) as b,
        ):
            await a.bind(("127.0.0.1", 0))
            await b.sendto(b"datagram", a.getsockname())
            data, source = await a.recvfrom(100)
            assert (data, source) == (b"datagram", b.getsockname())
