"""Lifetimes that are not blocks: ``net.open_stream`` and ``net.open_socket`` (SPEC 11)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trio
import trio.testing
from _net_helpers import serving, until
from _ports import refusing_port
from _tls_pair import client_tls, server_tls

import trionet
from trionet import net
from trionet._tls_options import server_context

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True


@pytest.fixture
async def trio_listener() -> trio.SocketListener:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    async with listeners[0] as listener:
        yield listener


def _port(listener: trio.SocketListener) -> int:
    return int(listener.socket.getsockname()[1])


@pytest.mark.usefixtures("yield_every_call")
async def test_open_stream_passes_trios_half_closeable_check(
    trio_listener: trio.SocketListener,
) -> None:
    async def pair() -> tuple[net.Stream, trio.SocketStream]:
        client = await net.open_stream(_port(trio_listener), "127.0.0.1")
        server = await trio_listener.accept()
        return client, server

    async def reversed_pair() -> tuple[trio.SocketStream, net.Stream]:
        client, server = await pair()
        return server, client

    await trio.testing.check_half_closeable_stream(pair, None)
    await trio.testing.check_half_closeable_stream(reversed_pair, None)


@pytest.mark.usefixtures("yield_every_call")
async def test_open_stream_tls_passes_trios_check(trio_listener: trio.SocketListener) -> None:
    context = server_context(server_tls())

    async def connected() -> tuple[net.Stream, trio.SSLStream[trio.SocketStream]]:
        servers: list[trio.SSLStream[trio.SocketStream]] = []

        async def accept() -> None:
            server = trio.SSLStream(await trio_listener.accept(), context, server_side=True)
            await server.do_handshake()
            servers.append(server)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept)
            client = await net.open_stream(_port(trio_listener), "localhost", tls=client_tls())
        assert client.encrypted
        assert client.ssl_object is not None
        return client, servers[0]

    await trio.testing.check_two_way_stream(connected, None)


async def test_every_stream_call_is_a_cancel_point(trio_listener: trio.SocketListener) -> None:
    stream = await net.open_stream(_port(trio_listener), "127.0.0.1")
    async with stream, await trio_listener.accept() as server:
        await server.send_all(b"ready")
        await until(stream.is_readable)
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await stream.send_all(b"not sent")
            with pytest.raises(trio.Cancelled):
                await stream.receive_some()
        assert await stream.receive_some() == b"ready"  # nothing was taken
        await stream.send_eof()
        assert await server.receive_some() == b""  # and nothing was sent


async def test_open_stream_talks_to_a_net_server_plain_and_tls() -> None:
    async def echo(sock: net.Socket) -> None:
        sock.on("data", sock.write)

    for tls in (False, True):
        options = {"tls": server_tls("h2", "http/1.1")} if tls else {}
        async with serving(echo, **options) as served:
            stream = await net.open_stream(
                served.port, "localhost", tls=client_tls("http/1.1") if tls else None
            )
            async with stream:
                assert stream.encrypted is tls
                assert (stream.ssl_object is not None) is tls
                assert stream.alpn_protocol == ("http/1.1" if tls else None)
                for i in range(20):
                    await stream.send_all(b"ping %d" % i)
                    assert await stream.receive_some() == b"ping %d" % i
            assert stream.fileno() == -1


async def test_open_stream_over_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    async with net.create_server(lambda sock: sock.end(b"hello")) as server:
        await server.listen(path=path)
        async with await net.open_stream(path=path) as stream:
            assert await stream.receive_some() == b"hello"
            assert await stream.receive_some() == b""


async def test_open_stream_refused() -> None:
    with refusing_port() as port, pytest.raises(ConnectionRefusedError):
        await net.open_stream(port, "127.0.0.1")


async def test_open_stream_checks_arguments_first() -> None:
    with pytest.raises(TypeError, match="port"):
        await net.open_stream("80", "127.0.0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tls"):
        await net.open_stream(80, "127.0.0.1", tls="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connect_timeout"):
        await net.open_stream(80, "127.0.0.1", connect_timeout=-1)


async def test_open_stream_bad_certificate_fails_and_leaks_nothing() -> None:
    async with serving(tls=server_tls()) as served:
        with pytest.raises(ssl.SSLCertVerificationError):
            await net.open_stream(served.port, "localhost", tls=net.TlsOptions())


async def test_open_stream_connect_timeout_bounds_the_handshake(
    trio_listener: trio.SocketListener, autojump_clock: trio.testing.MockClock
) -> None:
    # A numeric host: a lookup runs in a thread, whose time the mock clock cannot jump.
    with pytest.raises(trionet.Timeout):  # the listener accepts, then never answers
        await net.open_stream(
            _port(trio_listener), "127.0.0.1", tls=client_tls(), connect_timeout=5
        )
    await (await trio_listener.accept()).aclose()


async def test_is_readable_sees_data_and_the_peer_closing(
    trio_listener: trio.SocketListener,
) -> None:
    stream = await net.open_stream(_port(trio_listener), "127.0.0.1")
    async with stream, await trio_listener.accept() as server:
        assert not stream.is_readable()
        await server.send_all(b"x")
        await until(stream.is_readable)
        assert await stream.receive_some() == b"x"
        assert not stream.is_readable()
        await server.aclose()
        await until(stream.is_readable)
        assert await stream.receive_some() == b""


async def test_stream_busy_and_closed(trio_listener: trio.SocketListener) -> None:
    stream = await net.open_stream(_port(trio_listener), "127.0.0.1")
    async with await trio_listener.accept():

        async def receive_until_closed() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await stream.receive_some()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_until_closed)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await stream.receive_some()
            await stream.aclose()
        with pytest.raises(trio.ClosedResourceError):
            await stream.send_all(b"x")
        with pytest.raises(trio.ClosedResourceError):
            await stream.start_tls(client_tls())


async def test_stream_start_tls_against_a_socket_start_tls() -> None:
    """STARTTLS both ways: a pulled ``Stream`` client and a flowing ``Socket`` server."""
    upgraded = trio.Event()

    async def server_side(sock: net.Socket) -> None:
        async def on_data(chunk: bytes) -> None:
            if not sock.encrypted:
                assert chunk == b"STARTTLS\r\n"
                sock.write(b"220 go ahead\r\n")
                await sock.start_tls(server_tls(), server_side=True)
                assert sock.encrypted
                assert sock.ssl_object is not None
                upgraded.set()
            else:
                sock.write(chunk.upper())

        sock.on("data", on_data)

    async with (
        serving(server_side) as served,
        await net.open_stream(served.port, "localhost") as stream,
    ):
        await stream.send_all(b"STARTTLS\r\n")
        assert await stream.receive_some() == b"220 go ahead\r\n"
        await stream.start_tls(client_tls())
        assert stream.encrypted
        with pytest.raises(RuntimeError, match="TLS already"):
            await stream.start_tls(client_tls())
        await upgraded.wait()
        await stream.send_all(b"secret")
        assert await stream.receive_some() == b"SECRET"


async def test_socket_start_tls_pulled_client_against_stream_server(
    trio_listener: trio.SocketListener,
) -> None:
    async with net.connect(_port(trio_listener), "localhost") as sock:
        raw = await trio_listener.accept()
        assert not sock.encrypted
        assert sock.ssl_object is None
        sock.write(b"queued plaintext")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sock.start_tls, client_tls())
            assert await raw.receive_some() == b"queued plaintext"
            tls_server = trio.SSLStream(raw, server_context(server_tls()), server_side=True)
            await tls_server.do_handshake()
        assert sock.encrypted
        assert sock.get_protocol() is not None
        await tls_server.send_all(b"over tls")
        assert await sock.receive_some() == b"over tls"
        await sock.send_all(b"back")
        assert await tls_server.receive_some() == b"back"
        await tls_server.aclose()


async def test_socket_start_tls_refuses_misuse() -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        with pytest.raises(TypeError, match="tls"):
            await sock.start_tls(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="server_side"):
            await sock.start_tls(client_tls(), server_side=1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="cert"):
            await sock.start_tls(client_tls(), server_side=True)
        assert not sock.encrypted
        sock.end()
        with pytest.raises(RuntimeError, match="ended"):
            await sock.start_tls(client_tls())


async def test_socket_start_tls_failure_destroys_it() -> None:
    async def server_side(sock: net.Socket) -> None:
        with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):  # the client's alert
            await sock.start_tls(server_tls(), server_side=True)

    async with serving(server_side) as served, net.connect(served.port, "127.0.0.1") as sock:
        errors: list[BaseException] = []
        sock.on("error", errors.append)
        with pytest.raises(ssl.SSLCertVerificationError):
            await sock.start_tls(net.TlsOptions())  # the system store does not know our CA
        await sock.wait_closed()
        assert sock.destroyed
        assert len(errors) == 1


async def test_open_socket_outlives_the_block_that_opened_it() -> None:
    async def echo(sock: net.Socket) -> None:
        sock.on("data", sock.write)

    async with serving(echo) as served, trio.open_nursery() as pool:

        async def opener() -> net.Socket:
            return await net.open_socket(served.port, "127.0.0.1", nursery=pool)

        kept = [await opener() for _ in range(3)]
        for sock in kept:  # the blocks that opened them are long gone
            await sock.send_all(b"still here")
            assert await sock.receive_some() == b"still here"
        closes: list[bool] = []
        kept[0].on("close", closes.append)
        await kept[0].aclose()
        kept[1].destroy()
        async with kept[2]:
            pass
        for sock in kept:
            await sock.wait_closed()
        assert closes == [False]


async def test_open_socket_events_and_tls() -> None:
    async with serving(lambda s: s.end(b"bye"), tls=server_tls()) as served:
        async with trio.open_nursery() as pool:
            got: list[object] = []
            sock = await net.open_socket(
                served.port,
                "localhost",
                nursery=pool,
                tls=client_tls(),
                on_connect=lambda: got.append("connect"),
            )
            sock.on("data", got.append)
            sock.on("close", got.append)
            assert sock.encrypted
            await sock.wait_closed()
        assert got == ["connect", b"bye", False]


async def test_open_socket_checks_its_nursery() -> None:
    with pytest.raises(TypeError, match="nursery"):
        await net.open_socket(80, "127.0.0.1", nursery=None)  # type: ignore[arg-type]


async def test_open_socket_refused_raises_and_leaves_the_nursery_alone() -> None:
    with refusing_port() as port:
        async with trio.open_nursery() as pool:
            with pytest.raises(ConnectionRefusedError):
                await net.open_socket(port, "127.0.0.1", nursery=pool)


async def test_open_socket_cancelled_nursery_destroys_it() -> None:
    async with serving() as served:
        async with trio.open_nursery() as pool:
            sock = await net.open_socket(served.port, "127.0.0.1", nursery=pool)
            pool.cancel_scope.cancel()
        assert sock.destroyed


async def test_socket_is_readable() -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        peer = await served.next_socket()
        assert not sock.is_readable()
        peer.write(b"x")
        await until(sock.is_readable)
        assert await sock.receive_some() == b"x"
        assert not sock.is_readable()
        peer.destroy()
        await until(sock.is_readable)
