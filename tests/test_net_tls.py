"""TLS in ``trionet.net``: ``tls=`` on ``connect`` and ``create_server``, SNI, failures.

Certificates come from ``trustme``; everything runs over loopback (and one
Unix-domain socket). The TLS layer itself is tested in ``test_tls_layer.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket as stdsocket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from _fds import kernel_socket
from _net_helpers import names, record, serving, until
from trio.testing import MockClock

import trionet
from trionet import net, task
from trionet import socket as fdlevel
from trionet._net_tls import HANDSHAKE_TIMEOUT
from trionet._tls import TlsTransport
from trionet._tls_options import client_context

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True

NAMES = ("example.test", "127.0.0.1", "::1")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> net.TlsOptions:
    return _options(ca.issue_cert(*NAMES))


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> net.TlsOptions:
    return net.TlsOptions(ca=ca.cert_pem.bytes())


def _options(leaf: trustme.LeafCert, **extra: Any) -> net.TlsOptions:
    return net.TlsOptions(
        cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes(), **extra
    )


def _dns_names(sock: net.Socket) -> list[str]:
    """The DNS names of the certificate the peer of ``sock`` presented."""
    cert = sock.get_peer_certificate()
    assert cert is not None
    return [value for kind, value in cert["subjectAltName"] if kind == "DNS"]


async def _echo(sock: net.Socket) -> None:
    sock.on("data", sock.write)


async def _exchange(port: int, tls: object, data: bytes, **options: Any) -> bytes:
    """Connect, send ``data``, end, and return everything received until the close."""
    received = bytearray()
    async with net.connect(port, "127.0.0.1", tls=tls, **options) as sock:
        sock.on("data", received.extend)
        sock.end(data)
        await sock.wait_closed()
    return bytes(received)


@pytest.fixture
def net_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="trionet.net")
    return caplog


def _logged(caplog: pytest.LogCaptureFixture, kind: type[BaseException]) -> bool:
    return any(kind.__name__ in record.getMessage() for record in caplog.records)


# -- plain and TLS: the same behaviour ----------------------------------------


class Flavor:
    """Makes servers and clients of one kind: plain TCP, or TLS."""

    def __init__(self, server_tls: net.TlsOptions | None, client_tls: net.TlsOptions | None):
        self.server_tls = server_tls
        self.client_tls = client_tls

    def serving(
        self, listener: Callable[..., Any] | None = None, **options: Any
    ) -> contextlib.AbstractAsyncContextManager[Any]:
        return serving(listener, tls=self.server_tls, **options)

    def connect(self, port: int, **options: Any) -> net.Connecting:
        return net.connect(port, "127.0.0.1", tls=self.client_tls, **options)


@pytest.fixture(params=["tcp", "tls"])
def flavor(
    request: pytest.FixtureRequest, server_tls: net.TlsOptions, client_tls: net.TlsOptions
) -> Flavor:
    if request.param == "tcp":
        return Flavor(None, None)
    return Flavor(server_tls, client_tls)


async def test_events_come_in_node_order(flavor: Flavor, autojump_clock: MockClock) -> None:
    log: list[Any] = []
    async with flavor.serving(_echo) as served, flavor.connect(served.port) as sock:
        record(sock, log)
        assert sock.encrypted is (flavor.client_tls is not None)
        assert sock.write(b"hello") is True
        sock.end()
        await sock.wait_closed()
    assert names(log) == ["connect", "ready", "finish", "data", "end", "close"]
    assert log[3] == ("data", b"hello")
    assert log[-1] == ("close", False)


async def test_connect_emits_connect_and_ready_once_secured(
    flavor: Flavor, autojump_clock: MockClock
) -> None:
    log: list[Any] = []
    async with flavor.serving() as served, net.Socket() as sock:
        record(sock, log)
        sock.write(b"queued before connect")
        assert await sock.connect(served.port, "127.0.0.1", tls=flavor.client_tls) is sock
        assert not sock.pending
        assert sock.encrypted is (flavor.client_tls is not None)
        peer = await served.next_socket()
        assert peer.encrypted is (flavor.server_tls is not None)
        assert await peer.receive_some() == b"queued before connect"
        assert names(log) == ["connect", "ready"]  # on a later tick, as in Node


async def test_half_open_server_keeps_writing_after_the_peers_end(
    flavor: Flavor, autojump_clock: MockClock
) -> None:
    async def on_connection(sock: net.Socket) -> None:
        async def on_end() -> None:
            assert sock.ready_state == "writeOnly"
            for _ in range(100):
                sock.write(b"after your end ")
            sock.end(b"bye")

        sock.on("end", on_end)
        sock.on("data", lambda chunk: None)

    received = bytearray()
    async with (
        flavor.serving(on_connection, allow_half_open=True) as served,
        flavor.connect(served.port) as sock,
    ):
        sock.on("data", received.extend)
        sock.end(b"done")
        assert sock.ready_state == "readOnly"
        await sock.wait_closed()
    assert received == b"after your end " * 100 + b"bye"


async def test_write_callbacks_and_byte_counters_count_application_bytes(
    flavor: Flavor, autojump_clock: MockClock
) -> None:
    done: list[object] = []
    async with flavor.serving(_echo) as served, flavor.connect(served.port) as sock:
        received = bytearray()
        sock.on("data", received.extend)
        sock.write(b"x" * 1000, callback=done.append)
        sock.write("é" * 10)  # 20 bytes of UTF-8
        await until(lambda: len(received) == 1020)
        peer = await served.next_socket()
        assert (sock.bytes_written, sock.bytes_read) == (1020, 1020)
        assert (peer.bytes_read, peer.bytes_written) == (1020, 1020)
    assert done == [None]


async def test_pull_mode_and_send_all(flavor: Flavor, autojump_clock: MockClock) -> None:
    async with flavor.serving() as served, flavor.connect(served.port) as sock:
        await sock.send_all(b"ping")
        peer = await served.next_socket()
        assert await peer.receive_some() == b"ping"
        await peer.send_all(b"pong")
        await peer.send_eof()
        assert await sock.receive_some() == b"pong"
        assert await sock.receive_some() == b""


async def test_small_writes_to_a_reader_that_waits_arrive_in_order_then_drain(
    flavor: Flavor, autojump_clock: MockClock
) -> None:
    # Over TLS each write is encrypted at once, and what the kernel refuses
    # is held until the writer task flushes it: order must survive that.
    async with flavor.serving() as served, flavor.connect(served.port) as sock:
        await sock.send_all(b"go")  # the server side is connected and secured
        peer = await served.next_socket()
        assert await peer.receive_some() == b"go"
        drained = trio.Event()
        peer.on("drain", drained.set)
        written = bytearray()
        for number in range(100_000):  # the buffers fill long before
            chunk = number.to_bytes(4, "big") * 256
            written += chunk
            if not peer.write(chunk):
                break
        assert not peer.write(b"end")
        written += b"end"
        received = bytearray()
        while len(received) < len(written):
            received += await sock.receive_some(1 << 20)
        await drained.wait()
    assert received == written


async def test_a_write_the_kernel_takes_in_part_is_flushed_by_the_writer(
    flavor: Flavor, autojump_clock: MockClock
) -> None:
    async with flavor.serving() as served, flavor.connect(served.port) as sock:
        await sock.send_all(b"go")
        peer = await served.next_socket()
        assert await peer.receive_some() == b"go"
        for fd, setter in (
            (peer.fileno(), trionet.socket.set_send_buffer_size),
            (sock.fileno(), trionet.socket.set_recv_buffer_size),
        ):
            setter(fd, 32768)
        # More than the two small buffers hold, and the chunk the client reads
        # ahead (SPEC rule 12) before it pulls.
        message = bytes(range(256)) * 1200
        peer.write(message)
        finished = trio.Event()
        peer.end(callback=finished.set)
        await trio.sleep(1)
        assert not finished.is_set()  # the rest waits for the reader
        received = bytearray()
        while chunk := await sock.receive_some():
            received += chunk
        await finished.wait()
    assert received == message


@pytest.mark.usefixtures("yield_every_call")
async def test_trio_check_half_closeable_stream(flavor: Flavor) -> None:
    async with contextlib.AsyncExitStack() as stack:
        served = await stack.enter_async_context(flavor.serving(allow_half_open=True))

        async def maker() -> tuple[net.Socket, net.Socket]:
            # Counted before connecting: the server may accept before the
            # client's connect (its TLS handshake) returns.
            index = len(served.accepted)
            client = await stack.enter_async_context(
                flavor.connect(served.port, allow_half_open=True)
            )
            # The checks reset clogged connections: a write error of the
            # writer task would otherwise leave the client's block.
            client.on("error", lambda exc: None)
            return client, await served.next_socket(index)

        async def clogged() -> tuple[net.Socket, net.Socket]:
            left, right = await maker()
            await _clog(left)  # both: the checks also run with the pair flipped
            await _clog(right)
            return left, right

        await trio.testing.check_half_closeable_stream(maker, clogged)


async def _clog(sock: net.Socket) -> None:
    """Write until the writer task waits for the kernel, which waits for the unread peer.

    Not by cancelling a ``send_all``: over TLS, that breaks the connection.
    """
    for _ in range(10_000):
        sock.write(b"x" * 65536)
        await trio.testing.wait_all_tasks_blocked()
        if sock.buffer_size:
            return
    raise AssertionError("the socket never clogged")


# -- TLS specifics ------------------------------------------------------------


async def test_ten_mebibytes_arrive_intact(
    server_tls: net.TlsOptions, client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    data = os.urandom(10 * 2**20)
    async with serving(_echo, tls=server_tls) as served:
        echoed = await _exchange(served.port, client_tls, data)
    assert len(echoed) == len(data)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2])
async def test_end_sends_close_notify_and_keeps_reading(
    server_tls: net.TlsOptions,
    client_tls: net.TlsOptions,
    version: ssl.TLSVersion,
    autojump_clock: MockClock,
) -> None:
    """SPEC 8.23: the server answers long after the client's end(); nothing is lost."""
    context = client_context(client_tls)
    context.maximum_version = version
    reply = os.urandom(300_000)

    async def on_connection(sock: net.Socket) -> None:
        async def on_end() -> None:
            await trio.sleep(5)
            sock.end(reply)

        sock.on("data", lambda chunk: None)
        sock.on("end", on_end)

    async with (
        serving(on_connection, tls=server_tls, allow_half_open=True) as served,
        net.connect(served.port, "127.0.0.1", tls=context) as sock,
    ):
        received = bytearray()
        sock.on("data", received.extend)
        sock.end(b"request" * 50_000)  # queued: end() flushes it first
        await sock.wait_closed()
        assert sock.get_protocol() == version.name.replace("v1_", "v1.")
        transport = sock._transport  # the end of stream was TLS's own, not a TCP FIN
        assert isinstance(transport, TlsTransport)
        assert transport.close_notify_received
    assert received == reply


async def test_pause_and_resume(
    server_tls: net.TlsOptions, client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    async with (
        serving(tls=server_tls) as served,
        net.connect(served.port, "127.0.0.1", tls=client_tls) as sock,
    ):
        received = bytearray()
        sock.on("data", received.extend)
        peer = await served.next_socket()
        peer.write(b"one")
        await until(lambda: received == b"one")
        sock.pause()  # the reader waits for ciphertext: the pause ends that wait
        assert sock.is_paused()
        peer.write(b"two")
        await trio.sleep(10)
        assert received == b"one"
        assert fdlevel.pending(sock.fileno()) > 0  # the record waits in the kernel, unread
        sock.resume()
        await until(lambda: received == b"onetwo")


async def test_set_timeout_fires_when_idle(
    server_tls: net.TlsOptions, client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    fired: list[float] = []
    async with (
        serving(_echo, tls=server_tls) as served,
        net.connect(served.port, "127.0.0.1", tls=client_tls, timeout=3) as sock,
    ):
        sock.on("data", lambda chunk: None)
        start = trio.current_time()
        sock.on("timeout", lambda: fired.append(trio.current_time() - start))
        await trio.sleep(2)
        sock.write(b"activity")  # re-arms the timer
        await until(lambda: fired)
        assert sock.timeout == 3
        assert not sock.destroyed
    assert 5 <= fired[0] < 5.5


async def test_onread_reuses_one_buffer_over_tls(
    server_tls: net.TlsOptions, client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    buffer = bytearray(1000)
    received = bytearray()

    def on_read(nread: int, buf: bytearray) -> None:
        assert buf is buffer
        received.extend(buf[:nread])

    data = os.urandom(100_000)
    async with (
        serving(tls=server_tls) as served,
        net.connect(
            served.port, "127.0.0.1", tls=client_tls, onread={"buffer": buffer, "callback": on_read}
        ) as sock,
    ):
        peer = await served.next_socket()
        peer.end(data)
        await sock.wait_closed()
    assert received == data


async def test_tls_turns_nagle_off_and_set_no_delay_still_works(
    server_tls: net.TlsOptions, client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    async with (
        serving(tls=server_tls) as served,
        net.connect(served.port, "127.0.0.1", tls=client_tls) as sock,
    ):
        peer = await served.next_socket()
        assert _no_delay(sock)
        assert _no_delay(peer)
        sock.set_no_delay(False)
        assert not _no_delay(sock)


def _no_delay(sock: net.Socket) -> bool:
    with kernel_socket(sock.fileno()) as raw:
        return bool(raw.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY))


async def test_what_the_handshake_agreed_on(ca: trustme.CA, autojump_clock: MockClock) -> None:
    leaf = ca.issue_cert(*NAMES)
    server_tls = _options(leaf, alpn=["h2", "http/1.1"])
    client_tls = net.TlsOptions(ca=ca.cert_pem.bytes(), alpn=["spdy/3", "http/1.1"])
    async with (
        serving(tls=server_tls) as served,
        net.Socket() as sock,
    ):
        assert sock.get_peer_certificate() is None  # nothing agreed yet
        await sock.connect(served.port, "127.0.0.1", tls=client_tls)
        peer = await served.next_socket()
        for end in (sock, peer):
            assert end.alpn_protocol == "http/1.1"
            assert end.get_protocol() == "TLSv1.3"
            cipher = end.get_cipher()
            assert cipher is not None
            assert cipher[1] == "TLSv1.3"
        assert sock.get_peer_certificate(binary_form=True) == ssl.PEM_cert_to_DER_cert(
            leaf.cert_chain_pems[0].bytes().decode()
        )
        assert peer.get_peer_certificate() is None  # the client presented none
        await sock.aclose()
        assert sock.get_protocol() == "TLSv1.3"  # still readable after close, as in Node


async def test_plain_sockets_have_no_tls_details(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        await until(lambda: sock.ready_state == "open")
        assert sock.alpn_protocol is None
        assert sock.get_protocol() is None
        assert sock.get_cipher() is None
        assert sock.get_peer_certificate() is None
        assert sock.get_peer_certificate(binary_form=True) is None


async def test_client_certificates_mutual_tls(ca: trustme.CA, autojump_clock: MockClock) -> None:
    server_tls = _options(ca.issue_cert(*NAMES), ca=ca.cert_pem.bytes())
    identities: list[Any] = []

    def on_connection(sock: net.Socket) -> None:
        identities.append(sock.get_peer_certificate())
        sock.on("data", sock.write)

    async with serving(on_connection, tls=server_tls) as served:
        anonymous = net.TlsOptions(ca=ca.cert_pem.bytes())
        async with net.connect(served.port, "127.0.0.1", tls=anonymous) as sock:
            # TLS 1.3: the client's handshake ends before the server checks
            # its certificate; the refusal comes as an alert, when it reads.
            with pytest.raises(trio.BrokenResourceError) as caught:
                await sock.receive_some()
        assert isinstance(caught.value.__cause__, ssl.SSLError)
        assert "CERTIFICATE_REQUIRED" in str(caught.value.__cause__)
        known = _options(ca.issue_cert("client.test"), ca=ca.cert_pem.bytes())
        assert await _exchange(served.port, known, b"me") == b"me"
    assert len(identities) == 1
    assert ("DNS", "client.test") in identities[0]["subjectAltName"]


async def test_sni_picks_the_certificate_by_name(
    ca: trustme.CA, server_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    a, b = ca.issue_cert("a.test"), ca.issue_cert("*.b.test")
    unchecked = client_context(net.TlsOptions(ca=ca.cert_pem.bytes()))
    unchecked.check_hostname = False  # still verified against the CA
    async with serving(_echo, tls=server_tls) as served:
        assert served.server.add_cert("a.test", *_pems(a)) is served.server
        served.server.add_cert("*.B.test", *_pems(b))  # while listening; any case
        for name, expected in [
            ("a.test", ["a.test"]),
            ("x.b.test", ["*.b.test"]),
            ("other.test", list(NAMES[:1])),  # unknown: the default certificate
        ]:
            tls = net.TlsOptions(ca=ca.cert_pem.bytes())  # server_name: the host
            if name == "other.test":
                with pytest.raises(ssl.SSLCertVerificationError, match=r"other\.test"):
                    async with net.connect(served.port, name, tls=tls, lookup=_loopback):
                        pass
                tls = unchecked  # type: ignore[assignment]
            async with net.connect(served.port, name, tls=tls, lookup=_loopback) as sock:
                assert _dns_names(sock) == expected
                sock.write(b"hi")
                assert await sock.receive_some() == b"hi"


def _pems(leaf: trustme.LeafCert) -> tuple[bytes, bytes]:
    return leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()


def _loopback(host: str, family: int) -> str:
    return "127.0.0.1"


async def test_add_cert_needs_a_tls_server(ca: trustme.CA) -> None:
    server = net.create_server()
    with pytest.raises(RuntimeError, match="tls="):
        server.add_cert("a.test", *_pems(ca.issue_cert("a.test")))


async def test_add_cert_checks_its_arguments(server_tls: net.TlsOptions) -> None:
    server = net.create_server(tls=server_tls)
    with pytest.raises(TypeError, match="name"):
        server.add_cert(42, b"cert", b"key")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cert"):
        server.add_cert("a.test", "/no/such/cert.pem", "/no/such/key.pem")


async def test_untrusted_certificate_fails_on_the_client_and_the_server_keeps_serving(
    server_tls: net.TlsOptions,
    client_tls: net.TlsOptions,
    net_log: pytest.LogCaptureFixture,
    autojump_clock: MockClock,
) -> None:
    stranger = net.TlsOptions(ca=trustme.CA().cert_pem.bytes())
    connections: list[net.Socket] = []
    async with serving(_echo, tls=server_tls) as served:
        served.server.on("connection", connections.append)
        with pytest.raises(ssl.SSLCertVerificationError):
            async with net.connect(served.port, "127.0.0.1", tls=stranger):
                pytest.fail("the connect succeeded")
        log: list[Any] = []
        async with net.Socket() as sock:
            record(sock, log)
            with pytest.raises(ssl.SSLCertVerificationError):
                await sock.connect(served.port, "127.0.0.1", tls=stranger)
        assert names(log) == ["error", "close"]
        assert isinstance(log[0][1], ssl.SSLCertVerificationError)
        assert log[1] == ("close", True)
        await until(lambda: served.server.get_connections() == 0)
        assert connections == []  # 'connection' comes only after the handshake
        assert await _exchange(served.port, client_tls, b"still here") == b"still here"
    assert _logged(net_log, ssl.SSLError)


async def test_wrong_host_name_fails_verification(
    server_tls: net.TlsOptions, ca: trustme.CA, autojump_clock: MockClock
) -> None:
    async with serving(_echo, tls=server_tls) as served:
        tls = net.TlsOptions(ca=ca.cert_pem.bytes(), server_name="wrong.test")
        with pytest.raises(ssl.SSLCertVerificationError, match=r"wrong\.test"):
            async with net.connect(served.port, "127.0.0.1", tls=tls):
                pass
        unverified = net.TlsOptions(verify=False, server_name="wrong.test")
        assert await _exchange(served.port, unverified, b"anyway") == b"anyway"


async def test_plain_client_to_a_tls_server_is_logged_and_the_server_keeps_serving(
    server_tls: net.TlsOptions,
    client_tls: net.TlsOptions,
    net_log: pytest.LogCaptureFixture,
    autojump_clock: MockClock,
) -> None:
    async with serving(_echo, tls=server_tls) as served:
        errors: list[BaseException] = []
        async with net.connect(served.port, "127.0.0.1") as plain:
            plain.on("error", errors.append)
            plain.on("data", lambda chunk: None)  # the server's alert, if it got through
            plain.write(b"GET / HTTP/1.0\r\n\r\n")
            await plain.wait_closed()
        assert all(isinstance(error, ConnectionResetError) for error in errors)
        assert await _exchange(served.port, client_tls, b"still here") == b"still here"
        assert served.server.listening
    assert _logged(net_log, ssl.SSLError)


async def test_a_silent_client_is_dropped_after_the_handshake_timeout(
    server_tls: net.TlsOptions, net_log: pytest.LogCaptureFixture, autojump_clock: MockClock
) -> None:
    connections: list[net.Socket] = []
    async with serving(tls=server_tls) as served:
        served.server.on("connection", connections.append)
        async with net.connect(served.port, "127.0.0.1") as silent:
            silent.resume()  # reads, so it sees the server's FIN
            start = trio.current_time()
            await until(lambda: served.server.get_connections() == 1)
            await silent.wait_closed()
            assert HANDSHAKE_TIMEOUT <= trio.current_time() - start < HANDSHAKE_TIMEOUT + 1
        assert served.server.get_connections() == 0
    assert connections == []
    assert _logged(net_log, trionet.Timeout)


async def test_connect_timeout_covers_the_handshake(
    client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    # A TCP server that never speaks TLS: the client's handshake waits.
    async with serving() as served:
        log: list[Any] = []
        start = trio.current_time()
        async with net.Socket() as sock:
            record(sock, log)
            with pytest.raises(trionet.Timeout):
                await sock.connect(served.port, "127.0.0.1", tls=client_tls, connect_timeout=7)
        assert 7 <= trio.current_time() - start < 7.5
        assert names(log) == ["error", "close"]


async def test_destroy_interrupts_the_handshake(
    client_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    async with serving() as served, net.Socket() as sock:
        log: list[Any] = []
        record(sock, log)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_destroy_later, sock)
            with pytest.raises(trio.ClosedResourceError):
                await sock.connect(served.port, "127.0.0.1", tls=client_tls)
        assert names(log) == ["close"]
        assert sock.destroyed


async def _destroy_later(sock: net.Socket) -> None:
    await trio.sleep(1)
    assert sock.connecting  # the TCP connect is done; the handshake is not
    sock.destroy()


async def test_tls_over_a_unix_socket_needs_a_server_name(
    server_tls: net.TlsOptions, ca: trustme.CA, tmp_path: Path, autojump_clock: MockClock
) -> None:
    path = str(tmp_path / "tls.sock")
    with pytest.raises(ValueError, match="server_name"):
        net.connect(path=path, tls=net.TlsOptions(ca=ca.cert_pem.bytes()))
    async with net.create_server(_echo, tls=server_tls) as server:
        await server.listen(path=path)
        tls = net.TlsOptions(ca=ca.cert_pem.bytes(), server_name="example.test")
        received = bytearray()
        async with net.connect(path=path, tls=tls) as sock:
            assert sock.encrypted
            sock.on("data", received.extend)
            sock.end(b"over unix")
            await sock.wait_closed()
        server.close()
    assert received == b"over unix"


async def test_a_context_of_ones_own_is_used_as_it_is(
    ca: trustme.CA, autojump_clock: MockClock
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    async with serving(_echo, tls=server_context) as served:
        assert await _exchange(served.port, client, b"own contexts") == b"own contexts"


def test_bad_tls_arguments_are_refused_before_connecting(ca: trustme.CA) -> None:
    with pytest.raises(TypeError, match="tls"):
        net.connect(1234, "127.0.0.1", tls={"ca": "x"})
    with pytest.raises(TypeError, match="tls"):
        net.create_server(tls=42)
    with pytest.raises(ValueError, match="cert and key"):
        net.create_server(tls=net.TlsOptions(ca=ca.cert_pem.bytes()))
    with pytest.raises(ValueError, match="ca"):
        net.connect(1234, "127.0.0.1", tls=net.TlsOptions(ca="/no/such/ca.pem"))
    with pytest.raises(TypeError, match="verify"):
        net.TlsOptions(verify=1)  # type: ignore[arg-type]


async def test_socket_connect_checks_tls_before_connecting() -> None:
    async with net.Socket() as sock:
        with pytest.raises(TypeError, match="tls"):
            await sock.connect(1234, "127.0.0.1", tls="yes")
        assert not sock.connecting
        assert not sock.destroyed


# -- multi-task servers -------------------------------------------------------


def _reply_task_id(sock: net.Socket) -> None:
    sock.end(str(task.current().id))
    sock.resume()


async def test_subs_handshake_in_the_task_that_serves(
    ca: trustme.CA, server_tls: net.TlsOptions
) -> None:
    """Round-robin: master, sub, master, sub; SNI added on the master serves the subs."""
    with trio.fail_after(30):
        async with net.create_server(_reply_task_id, tls=server_tls, subs=1) as server:
            server.add_cert("a.test", *_pems(ca.issue_cert("a.test")))
            await server.listen(0, "127.0.0.1")
            port = server.port()
            assert port is not None
            tls = net.TlsOptions(ca=ca.cert_pem.bytes(), server_name="a.test")
            replies = [await _exchange(port, tls, b"") for _ in range(4)]
            server.close()
    assert replies[0] == replies[2] != replies[1] == replies[3]
