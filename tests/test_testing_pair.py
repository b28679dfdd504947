"""SPEC section 11: ``testing.socket_pair``, ``trionet_tls`` and ``trionet_socket_pair``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio
import trio.testing

from trionet import net
from trionet.testing import TlsPair, socket_pair

Pair = tuple[net.Socket, net.Socket]


@contextlib.asynccontextmanager
async def _makers(
    tls: bool, allow_half_open: bool = True
) -> AsyncIterator[Callable[[], Awaitable[Pair]]]:
    # Each pair must outlive the maker's call: the stack, entered by the
    # test's own task, holds every pair's block open until the checks end.
    async with contextlib.AsyncExitStack() as stack:

        async def maker() -> Pair:
            pair = socket_pair(tls=tls, allow_half_open=allow_half_open)
            return await stack.enter_async_context(pair)

        yield maker


@pytest.mark.usefixtures("yield_every_call")
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_socket_pair_passes_trio_check_half_closeable_stream(tls: bool) -> None:
    async with _makers(tls) as maker:
        await trio.testing.check_half_closeable_stream(maker, None)


@pytest.mark.usefixtures("yield_every_call")
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_default_socket_pair_passes_trio_check_half_closeable_stream(tls: bool) -> None:
    async with _makers(tls, allow_half_open=False) as maker:
        await trio.testing.check_half_closeable_stream(maker, None)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_socket_pair_is_connected_both_ways(tls: bool) -> None:
    async with socket_pair(tls=tls) as (client, server):
        assert (client.encrypted, server.encrypted) == (tls, tls)
        assert client.remote_port == server.local_port
        assert server.remote_port == client.local_port
        assert client.remote_address == server.remote_address == "127.0.0.1"
        await client.send_all(b"ping")
        assert await server.receive_some() == b"ping"
        await server.send_all(b"pong")
        assert await client.receive_some() == b"pong"


async def test_socket_pair_destroys_a_server_side_left_open() -> None:
    async with socket_pair() as (client, server):
        client.end()
    assert client.destroyed
    assert server.destroyed


async def test_socket_pair_sockets_flow_once_they_get_a_data_listener() -> None:
    got = bytearray()
    async with socket_pair() as (client, server):
        server.on("data", got.extend)
        client.end(b"flowing")
        await server.wait_closed()
    assert got == b"flowing"


@pytest.mark.parametrize("bad", ["yes", 1, None])
async def test_socket_pair_rejects_a_non_bool_by_name(bad: object) -> None:
    with pytest.raises(TypeError, match="tls"):
        async with socket_pair(tls=bad):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="allow_half_open"):
        async with socket_pair(allow_half_open=bad):  # type: ignore[arg-type]
            pass


async def test_trionet_socket_pair_fixture_is_a_connected_pair(
    trionet_socket_pair: Pair,
) -> None:
    client, server = trionet_socket_pair
    client.write("over the fixture")
    assert await server.receive_some() == b"over the fixture"


async def test_trionet_tls_fixture_gives_options_that_trust_each_other(
    trionet_tls: TlsPair,
) -> None:
    assert trionet_tls.client.server_name == "localhost"
    async with net.create_server(
        lambda sock: sock.on("data", sock.write), tls=trionet_tls.server
    ) as server:
        await server.listen(0, "127.0.0.1")
        port = server.address_info().port
        async with net.connect(port, "127.0.0.1", tls=trionet_tls.client) as client:
            assert client.encrypted
            client.write(b"hello tls")
            assert await client.receive_some() == b"hello tls"
        server.close()


async def test_a_client_without_the_fixture_ca_rejects_its_server(trionet_tls: TlsPair) -> None:
    other = TlsPair.from_ca(pytest.importorskip("trustme").CA())
    async with net.create_server(tls=trionet_tls.server).unref() as server:
        await server.listen(0, "127.0.0.1")
        port = server.address_info().port
        with pytest.raises(OSError, match="certificate verify failed"):
            async with net.connect(port, "127.0.0.1", tls=other.client):
                pass
        server.close()


# --- Server.address_info --------------------------------------------------------


async def test_address_info_is_the_address_of_a_tcp_server() -> None:
    async with net.create_server() as server:
        await server.listen(0, "127.0.0.1")
        info = server.address_info()
        assert info == server.address()
        assert (info.address, info.family, info.port) == ("127.0.0.1", "IPv4", server.port())
        server.close()


async def test_address_info_raises_when_not_listening() -> None:
    async with net.create_server() as server:
        with pytest.raises(net.ServerNotRunningError):
            server.address_info()


async def test_address_info_raises_for_a_unix_socket_server(tmp_path: trio.Path) -> None:
    path = str(tmp_path / "sock")
    async with net.create_server() as server:
        await server.listen(path=path)
        with pytest.raises(RuntimeError, match="Unix-domain socket"):
            server.address_info()
        assert server.address() == path
        server.close()
