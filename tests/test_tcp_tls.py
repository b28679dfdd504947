"""TLS on the object level: ``Tcp`` with ``tls=``, async and in ``compat.tcp`` (SPEC 11)."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import TypeVar

import outcome
import pytest
import trio
from _net_helpers import serving, until
from _tls_pair import client_tls, server_tls
from trionet.compat import tcp as sync_tcp

from trionet import net
from trionet.tcp import Tcp

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True
LOOPBACK_ONLY = {
    "test_sync_compat_tls_client_refuses_an_unknown_certificate": "compat is not simulated",
    "test_sync_compat_tls_client_talks_to_an_async_net_tls_server": "compat is not simulated",
    "test_sync_compat_tls_server_talks_to_an_async_net_client": "compat is not simulated",
}

LOOPBACK = ("127.0.0.1", 0)

T = TypeVar("T")


async def _echo(sock: net.Socket) -> None:
    sock.on("data", sock.write)


async def test_async_tcp_client_and_server_speak_tls() -> None:
    async with Tcp.create_server(LOOPBACK, tls=server_tls()) as listener:
        assert listener.encrypted
        port = listener.sock_name().port

        async def serve_one() -> None:
            connection, remote = await listener.accept(timeout=10)
            async with connection:
                assert connection.encrypted
                assert remote.addr == "127.0.0.1"
                await connection.send_all(await connection.recv(timeout=10))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_one)
            client = await Tcp.create_client(("localhost", port), tls=client_tls(), timeout=10)
            async with client:
                assert client.encrypted
                assert client.ssl_object is not None
                assert client.ssl_object.version() in ("TLSv1.2", "TLSv1.3")
                await client.send_all("héllo over tls")
                buffer = bytearray(64)
                size = await client.recv_into(buffer, timeout=10)
                assert bytes(buffer[:size]) == "héllo over tls".encode()
                with pytest.raises(RuntimeError, match="fly away"):
                    client.fly_away()


async def test_async_tcp_tls_client_talks_to_a_net_server() -> None:
    async with serving(_echo, tls=server_tls()) as served:
        client = await Tcp.create_client(("127.0.0.1", served.port), tls=client_tls())
        async with client:
            for i in range(50):
                assert await client.send(b"ping %d" % i) == len(b"ping %d" % i)
                assert await client.recv(timeout=10) == b"ping %d" % i
            await client.send([b"gathered ", b"parts"])
            data, remote = await client.recvfrom(timeout=10)
            assert data == b"gathered parts"
            assert remote == client.peer_name()


async def test_async_tcp_tls_refuses_an_unknown_certificate() -> None:
    async with serving(_echo, tls=server_tls()) as served:
        with pytest.raises(ssl.SSLCertVerificationError):
            await Tcp.create_client(("localhost", served.port), tls=net.TlsOptions())


def test_tls_arguments_are_checked_before_any_socket() -> None:
    with pytest.raises(TypeError, match="tls"):
        Tcp.create_server(LOOPBACK, tls="cert.pem")
    with pytest.raises(ValueError, match="cert"):
        sync_tcp.Tcp.create_server(LOOPBACK, tls=net.TlsOptions())
    with pytest.raises(ValueError, match="callback"):
        sync_tcp.Tcp.create_client(("127.0.0.1", 1), tls=client_tls(), callback=print)


async def test_serve_over_tls_survives_a_client_that_is_not_tls(
    caplog: pytest.LogCaptureFixture,
) -> None:
    served: list[bytes] = []

    async def handler(connection: Tcp, _remote: object) -> None:
        served.append(await connection.recv(timeout=10))

    async with Tcp.create_server(LOOPBACK, tls=server_tls()) as listener:
        port = listener.sock_name().port
        async with trio.open_nursery() as nursery:
            await nursery.start(listener.serve, handler)
            with caplog.at_level(logging.INFO, "trionet.tcp"):
                async with await Tcp.create_client(("127.0.0.1", port)) as plain:
                    await plain.send_all(b"GET / HTTP/1.0\r\n\r\n")  # not a ClientHello
                    while await plain.recv(timeout=10):  # OpenSSL's alert, then the close
                        pass
                async with await Tcp.create_client(("localhost", port), tls=client_tls()) as good:
                    await good.send_all(b"hello")
                    await until(lambda: served)
            nursery.cancel_scope.cancel()
    assert served == [b"hello"]
    assert "TLS handshake with" in caplog.text


async def _in_thread(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a new thread, which ends with it (and so do its compat fds)."""
    outcomes: list[outcome.Outcome[T]] = []
    thread = threading.Thread(target=lambda: outcomes.append(outcome.capture(function, *args)))
    thread.start()
    await trio.to_thread.run_sync(thread.join)
    return outcomes[0].unwrap()


def _sync_client(port: int, tls: net.TlsOptions, messages: int) -> list[bytes]:
    """A blocking compat.tcp TLS client: what a sync script does."""
    replies = []
    with sync_tcp.Tcp.create_client(("localhost", port), tls=tls, timeout=10) as client:
        assert client.encrypted
        for i in range(messages):
            client.send_all(b"sync %d" % i, timeout=10)
            replies.append(client.recv(timeout=10))
    return replies


async def test_sync_compat_tls_client_talks_to_an_async_net_tls_server() -> None:
    """Verification on: the client trusts only the test CA, and checks the name."""
    async with serving(_echo, tls=server_tls()) as served:
        replies = await _in_thread(_sync_client, served.port, client_tls(), 100)
    assert replies == [b"sync %d" % i for i in range(100)]


async def test_sync_compat_tls_client_refuses_an_unknown_certificate() -> None:
    async with serving(_echo, tls=server_tls()) as served:
        with pytest.raises(ssl.SSLCertVerificationError):
            await _in_thread(_sync_client, served.port, net.TlsOptions(), 1)


def _sync_server(listener: sync_tcp.Tcp) -> bytes:
    connection, _remote = listener.accept(timeout=10)
    with connection:
        data = connection.recv(timeout=10)
        connection.send_all(data.upper(), timeout=10)
        buffer = bytearray(16)
        size = connection.recv_into(buffer, timeout=10)
        return data + bytes(buffer[:size])


async def test_sync_compat_tls_server_talks_to_an_async_net_client() -> None:
    with sync_tcp.Tcp.create_server(LOOPBACK, tls=server_tls()) as listener:
        port = listener.sock_name().port
        async with trio.open_nursery() as nursery:
            got: list[bytes] = []

            async def run_server() -> None:
                got.append(await _in_thread(_sync_server, listener))

            nursery.start_soon(run_server)
            async with await net.open_stream(port, "localhost", tls=client_tls()) as stream:
                await stream.send_all(b"quiet")
                assert await stream.receive_some() == b"QUIET"
                await stream.send_all(b"!")
    assert got == [b"quiet!"]
