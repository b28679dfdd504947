"""``proxy_protocol=True`` (SPEC 10) on ``net.create_server``, ``Tcp.serve`` and compat's.

Clients here write the header themselves (v1 and v2, as HAProxy does);
``test_haproxy.py`` puts the real HAProxy in front.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket as stdsocket
import ssl
import threading
from collections.abc import AsyncIterator

import pytest
import trio
from test_proxy_header import v2, v2_inet
from trio.testing import MockClock
from trionet.compat.tcp import Tcp as SyncTcp

import trionet
from trionet import net
from trionet.tcp import Tcp

V1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 40001 8124\r\n"
V2 = v2_inet("2001:db8::7", "::1", 40002, 8124)


class Seen:
    """What the server saw of each connection: its remote and the bytes after the header."""

    def __init__(self) -> None:
        self.remotes: list[tuple[str | None, int | None, str | None]] = []
        self.connected = trio.Event()

    async def listener(self, sock: net.Socket) -> None:
        self.remotes.append((sock.remote_address, sock.remote_port, sock.remote_family))
        sock.on("data", sock.write)
        self.connected.set()


async def exchange(port: int, header: bytes, payload: bytes = b"after the header") -> bytes:
    """Send ``header`` then ``payload``, half-close, and read the echo to the end.

    A server that drops the connection may reset it (it leaves bytes unread):
    that ends the exchange too.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    got = b""
    async with stream:
        try:
            await stream.send_all(header + payload)
            await stream.send_eof()
            while chunk := await stream.receive_some():
                got += chunk
        except trio.BrokenResourceError:
            pass
    return got


@pytest.fixture
async def proxied_server() -> AsyncIterator[tuple[net.Server, Seen]]:
    seen = Seen()
    async with net.create_server(seen.listener, proxy_protocol=True) as server:
        await server.listen(0, "127.0.0.1")
        yield server, seen
        server.close()


async def test_v1_and_v2_give_the_client_address(
    proxied_server: tuple[net.Server, Seen],
) -> None:
    server, seen = proxied_server
    port = server.address_info().port
    assert await exchange(port, V1) == b"after the header"
    assert await exchange(port, V2) == b"after the header"
    assert seen.remotes == [("203.0.113.7", 40001, "IPv4"), ("2001:db8::7", 40002, "IPv6")]


async def test_local_and_unknown_keep_the_real_peer(
    proxied_server: tuple[net.Server, Seen],
) -> None:
    server, seen = proxied_server
    port = server.address_info().port
    assert await exchange(port, v2(0, 0x00, b"")) == b"after the header"
    assert await exchange(port, b"PROXY UNKNOWN\r\n") == b"after the header"
    assert [remote[0] for remote in seen.remotes] == ["127.0.0.1", "127.0.0.1"]


@pytest.mark.parametrize(
    ("header", "logged"),
    [
        (b"GET / HTTP/1.0\r\n\r\n", "not a PROXY protocol header"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "bad PROXY v1 header"),
        (b"PROXY TCP4 1.2", "connection closed after 30 bytes"),
    ],
)
async def test_a_bad_header_is_dropped_and_logged_and_the_server_goes_on(
    proxied_server: tuple[net.Server, Seen],
    caplog: pytest.LogCaptureFixture,
    header: bytes,
    logged: str,
) -> None:
    server, seen = proxied_server
    port = server.address_info().port
    with caplog.at_level(logging.WARNING, logger="trionet.net"):
        # The drop is logged before the connection closes, so before this returns.
        assert await exchange(port, header) == b""
    assert seen.remotes == []
    assert any(
        "dropped a connection from 127.0.0.1:" in r.message and logged in r.message
        for r in caplog.records
    ), caplog.text
    assert await exchange(port, V1) == b"after the header"


async def test_a_silent_client_is_dropped_after_10_s(
    autojump_clock: MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    async with net.create_server(seen.listener, proxy_protocol=True) as server:
        await server.listen(0, "127.0.0.1")
        stream = await trio.open_tcp_stream("127.0.0.1", server.address_info().port)
        async with stream:
            start = trio.current_time()
            assert await stream.receive_some() == b""  # the server closed it
            assert trio.current_time() - start == pytest.approx(10.0, abs=0.5)
        server.close()
    assert seen.remotes == []
    assert "no complete PROXY header" in caplog.text


async def test_the_header_comes_before_tls() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    tls = net.TlsOptions(
        cert=cert.cert_chain_pems[0].bytes().decode(), key=cert.private_key_pem.bytes().decode()
    )
    seen = Seen()
    async with net.create_server(seen.listener, proxy_protocol=True, tls=tls) as server:
        await server.listen(0, "127.0.0.1")
        raw = await trio.open_tcp_stream("127.0.0.1", server.address_info().port)
        await raw.send_all(V1)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        secure = trio.SSLStream(raw, client_context, server_hostname="localhost")
        async with secure:
            await secure.send_all(b"secret")
            assert await secure.receive_some() == b"secret"
        server.close()
    assert seen.remotes == [("203.0.113.7", 40001, "IPv4")]


async def test_subs_read_the_header_where_they_serve() -> None:
    seen = Seen()
    async with net.create_server(seen.listener, proxy_protocol=True, subs=2) as server:
        await server.listen(0, "127.0.0.1")
        port = server.address_info().port
        for n in range(6):
            header = f"PROXY TCP4 198.51.100.{n} 127.0.0.1 {1000 + n} 8124\r\n".encode()
            assert await exchange(port, header, b"x") == b"x"
        server.close()
    assert sorted(seen.remotes) == [(f"198.51.100.{n}", 1000 + n, "IPv4") for n in range(6)]


def test_proxy_protocol_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="proxy_protocol"):
        net.create_server(proxy_protocol=1)  # type: ignore[arg-type]


async def test_tcp_serve_passes_the_client_address(caplog: pytest.LogCaptureFixture) -> None:
    remotes: list[trionet.SockAddr] = []

    async def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
        remotes.append(remote)
        while data := await tcp.recv():
            await tcp.send_all(data)

    async with Tcp.create_server(("127.0.0.1", 0)) as listener:
        port = listener.sock_name().port
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: listener.serve(
                    handler, proxy_protocol=True, task_status=task_status
                )
            )
            assert await exchange(port, V1) == b"after the header"
            assert await exchange(port, V2) == b"after the header"
            assert await exchange(port, b"junk\r\n") == b""
            nursery.cancel_scope.cancel()
    assert remotes == [
        trionet.SockAddr("203.0.113.7", 40001),
        trionet.SockAddr("2001:db8::7", 40002),
    ]
    assert "not a PROXY protocol header" in caplog.text


def _sync_exchange(port: int, header: bytes) -> bytes:
    with stdsocket.create_connection(("127.0.0.1", port), timeout=10) as client:
        got = b""
        try:
            client.sendall(header + b"sync")
            # A server that drops a bad header may have reset the connection
            # already: then shutdown finds it gone (ENOTCONN) or recv does.
            client.shutdown(stdsocket.SHUT_WR)
            while chunk := client.recv(1024):
                got += chunk
        except OSError as exc:
            if exc.errno not in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE):
                raise  # a dropped connection, closed with our bytes unread, is expected
    return got


def test_compat_tcp_serve_passes_the_client_address(caplog: pytest.LogCaptureFixture) -> None:
    remotes: list[trionet.SockAddr] = []

    def handler(tcp: SyncTcp, remote: trionet.SockAddr) -> None:
        remotes.append(remote)
        while data := tcp.recv():
            tcp.send_all(data)

    listener = SyncTcp.create_server(("127.0.0.1", 0))
    port = listener.sock_name().port
    serving = threading.Thread(target=lambda: _serve_until_closed(listener, handler))
    serving.start()
    try:
        assert _sync_exchange(port, V1) == b"sync"
        assert _sync_exchange(port, V2) == b"sync"
        assert _sync_exchange(port, b"PROXY TCP4 x\r\n") == b""
    finally:
        listener.close()
        serving.join(10)
    assert remotes == [
        trionet.SockAddr("203.0.113.7", 40001),
        trionet.SockAddr("2001:db8::7", 40002),
    ]
    assert "bad PROXY v1 header" in caplog.text


def _serve_until_closed(listener: SyncTcp, handler: object) -> None:
    with contextlib.suppress(trio.ClosedResourceError):
        listener.serve(handler, proxy_protocol=True)  # type: ignore[arg-type]
