"""The TLS layer on its own: ``TlsTransport`` over fd-level transports on loopback.

Certificates come from ``trustme``. Each test connects two fds of the fd
level, wraps each in an ``FdTransport`` and that in a ``TlsTransport``, as
``net`` does, and drives both ends from trio tasks.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from _fds import Fds
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

import trionet
from trionet import socket as s
from trionet._net_transport import FdTransport
from trionet._tls import TlsTransport
from trionet._tls_options import SniCertificates, TlsOptions, client_context, server_context

HOST = "example.test"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(HOST)


def server_options(leaf: trustme.LeafCert, **extra: Any) -> TlsOptions:
    return TlsOptions(
        cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes(), **extra
    )


def client_options(ca: trustme.CA, **extra: Any) -> TlsOptions:
    return TlsOptions(ca=ca.cert_pem.bytes(), **extra)


async def tcp_pair(fds: Fds) -> tuple[int, int]:
    """A connected pair of stream fds over 127.0.0.1, owned by ``fds``."""
    listener = fds.socket(s.AF_INET, s.SOCK_STREAM)
    s.bind(listener, ("127.0.0.1", 0))
    s.listen(listener)
    address = s.sock_name(listener)
    client = fds.socket(s.AF_INET, s.SOCK_STREAM)
    await s.connect(client, address)
    server, _ = await s.accept(listener)
    fds.track(server)
    fds.close(listener)
    return client, server


class Pair:
    """Wraps fds in transports; closes every transport it made at the end."""

    def __init__(self, fds: Fds) -> None:
        self.fds = fds
        self.made: list[TlsTransport | FdTransport] = []

    def plain(self, fd: int) -> FdTransport:
        self.fds.give_away(fd)
        transport = FdTransport(fd)
        self.made.append(transport)
        return transport

    def tls(self, fd: int, context: ssl.SSLContext, **kwargs: Any) -> TlsTransport:
        inner = self.plain(fd)
        self.made.remove(inner)
        transport = TlsTransport(inner, context, **kwargs)
        self.made.append(transport)
        return transport

    async def connect(
        self,
        server_ctx: ssl.SSLContext,
        client_ctx: ssl.SSLContext,
        hostname: str | None = HOST,
        **client_kwargs: Any,
    ) -> tuple[TlsTransport, TlsTransport]:
        client_fd, server_fd = await tcp_pair(self.fds)
        client = self.tls(
            client_fd, client_ctx, server_side=False, server_hostname=hostname, **client_kwargs
        )
        server = self.tls(server_fd, server_ctx, server_side=True)
        return client, server

    async def usual(
        self,
        ca: trustme.CA,
        leaf: trustme.LeafCert,
        *,
        tls12: bool = False,
        handshake: bool = False,
        **client_kwargs: Any,
    ) -> tuple[TlsTransport, TlsTransport]:
        """The common case: ``leaf`` on the server, ``ca`` trusted by the client."""
        client_ctx = client_context(client_options(ca))
        if tls12:
            client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        server_ctx = server_context(server_options(leaf))
        client, server = await self.connect(server_ctx, client_ctx, **client_kwargs)
        if handshake:
            await handshake_both(client, server)
        return client, server

    def close_all(self) -> None:
        while self.made:
            self.made.pop().close()


@pytest.fixture
async def pair(fds: Fds) -> AsyncIterator[Pair]:
    made = Pair(fds)
    try:
        yield made
    finally:
        made.close_all()


async def handshake_both(client: TlsTransport, server: TlsTransport) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server.do_handshake)
        await client.do_handshake()


async def receive_exactly(transport: TlsTransport, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        data = await transport.receive(65536)
        assert data, f"end of stream after {len(chunks)} of {size} bytes"
        chunks += data
    return bytes(chunks)


async def receive_to_end(transport: TlsTransport) -> bytes:
    chunks = bytearray()
    for _ in range(100_000):
        data = await transport.receive(65536)
        if not data:
            return bytes(chunks)
        chunks += data
    raise AssertionError("the stream did not end")


async def send_all(transport: TlsTransport, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await transport.send(view) :]


def san_names(cert: dict[str, Any] | None) -> list[str]:
    assert cert is not None
    return [value for kind, value in cert["subjectAltName"] if kind == "DNS"]


# -- handshake and data ------------------------------------------------------


async def test_handshake_and_round_trip(pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert) -> None:
    client, server = await pair.usual(ca, leaf)
    assert client.encrypted
    assert server.encrypted
    assert not client.handshake_done
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send, b"hello")
        assert await server.receive(100) == b"hello"
    await server.send(b"world")
    assert await client.receive(100) == b"world"
    assert client.handshake_done
    assert server.handshake_done
    assert client.version() == server.version() == "TLSv1.3"
    assert client.cipher() is not None
    assert client.server_hostname == HOST
    assert not client.server_side
    assert server.server_side
    assert client.selected_alpn_protocol() is None
    assert san_names(client.getpeercert()) == [HOST]
    assert isinstance(client.getpeercert(binary_form=True), bytes)
    assert server.getpeercert() is None  # no client certificate asked for
    assert client.fd >= 0


async def test_alpn_agrees_on_the_servers_choice(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.connect(
        server_context(server_options(leaf, alpn=["http/1.1"])),
        client_context(client_options(ca, alpn=["h2", "http/1.1"])),
    )
    await handshake_both(client, server)
    assert client.selected_alpn_protocol() == server.selected_alpn_protocol() == "http/1.1"


async def test_ten_mib_arrive_intact(pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert) -> None:
    client, server = await pair.usual(ca, leaf)
    payload = random.Random(7).randbytes(10 * 1024 * 1024)
    received: list[bytes] = []

    async def read_all() -> None:
        received.append(await receive_exactly(server, len(payload)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await send_all(client, payload)
    assert hashlib.sha256(received[0]).digest() == hashlib.sha256(payload).digest()


async def test_reader_and_writer_tasks_at_once_both_ways(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    # No explicit handshake: four tasks race to start it, and both ends send
    # and receive 2 MiB at the same time (full duplex, as net's tasks do).
    client, server = await pair.usual(ca, leaf)
    size = 2 * 1024 * 1024
    data = {client: random.Random(1).randbytes(size), server: random.Random(2).randbytes(size)}
    got: dict[TlsTransport, bytes] = {}

    async def reader(me: TlsTransport) -> None:
        got[me] = await receive_exactly(me, size)

    async with trio.open_nursery() as nursery:
        for me in (client, server):
            nursery.start_soon(reader, me)
            nursery.start_soon(send_all, me, data[me])
    assert got[server] == data[client]
    assert got[client] == data[server]


async def test_gathered_send_and_receive_into(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf, handshake=True)
    sent = await client.send([b"ab", bytearray(b"cd"), memoryview(b"ef")])
    assert sent == 6
    assert await client.send(b"") == 0
    buffer = bytearray(4)
    assert await server.receive_into(memoryview(buffer)) == 4
    assert buffer == b"abcd"
    assert await server.receive(10) == b"ef"


async def test_records_received_together_come_as_one_chunk(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf, handshake=True)
    payload = random.Random(4).randbytes(40_000)  # three records, one inner read
    await server.send(payload)
    assert await client.receive(65536) == payload
    await server.send(payload)
    view = memoryview(bytearray(65536))
    assert await client.receive_into(view) == len(payload)
    assert view[: len(payload)] == payload


async def test_an_error_after_good_records_comes_on_the_next_read(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client_fd, server_fd = await tcp_pair(pair.fds)
    client = pair.tls(
        client_fd, client_context(client_options(ca)), server_side=False, server_hostname=HOST
    )
    inner = pair.plain(server_fd)
    pair.made.remove(inner)
    server = TlsTransport(inner, server_context(server_options(leaf)), server_side=True)
    pair.made.append(server)
    await handshake_both(client, server)
    await server.send(b"good")
    await inner.send(b"\x17\x03\x03\x00\x20" + bytes(32))  # a record that fails its MAC
    assert await client.receive(65536) == b"good"
    with pytest.raises(ssl.SSLError, match=r"BAD_RECORD_MAC|bad record mac|DECRYPTION"):
        await client.receive(65536)


async def test_try_send_waits_for_the_handshake(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf)
    with pytest.raises(BlockingIOError):
        client.try_send(b"x")
    await handshake_both(client, server)
    assert client.try_send(b"") == 0
    assert client.try_send(b"x") == 1
    assert not client.held
    assert await server.receive(10) == b"x"


async def test_try_send_holds_what_the_kernel_refused(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf, handshake=True)
    s.set_send_buffer_size(client.fd, 4096)
    sent = bytearray()
    for round_number in range(10_000):  # the kernel's buffers fill long before
        chunk = round_number.to_bytes(4, "big") * 4096
        sent += chunk[: client.try_send(chunk)]
        if client.held:
            break
    assert client.held
    with pytest.raises(BlockingIOError):  # nothing may overtake the held records
        client.try_send(b"x")
    received = bytearray()

    async def read_all() -> None:
        while len(received) < len(sent):
            received.extend(await server.receive(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await client.flush()
        assert not client.held
    assert received == sent


async def test_cancelled_receive_leaves_the_connection_usable(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert, autojump_clock: trio.testing.MockClock
) -> None:
    client, server = await pair.usual(ca, leaf, handshake=True)
    with trio.move_on_after(5) as scope:
        await client.receive(100)
    assert scope.cancelled_caught
    await server.send(b"still here")
    assert await client.receive(100) == b"still here"


# -- half-close --------------------------------------------------------------


async def half_close_both_ways(client: TlsTransport, server: TlsTransport) -> None:
    await handshake_both(client, server)
    await client.send(b"request")
    await client.send_eof()
    await client.send_eof()  # twice is a no-op
    with pytest.raises(BrokenPipeError):
        await client.send(b"more")
    assert await receive_to_end(server) == b"request"
    assert server.close_notify_received
    assert await server.receive(10) == b""  # and it stays ended
    for _ in range(3):  # the server keeps writing after the client's close_notify
        await server.send(b"reply ")
    assert await receive_exactly(client, 18) == b"reply " * 3
    await server.send_eof()
    assert await client.receive(10) == b""
    assert client.close_notify_received


@pytest.mark.parametrize(("tls12", "version"), [(False, "TLSv1.3"), (True, "TLSv1.2")])
async def test_half_close_both_ways(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert, tls12: bool, version: str
) -> None:
    # TLS 1.3 defines half-close; on 1.2 it works between two trionet peers.
    client, server = await pair.usual(ca, leaf, tls12=tls12)
    await half_close_both_ways(client, server)
    assert client.version() == version


async def test_tls12_peer_that_answers_close_notify_ends_the_connection(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    # RFC 5246 peers answer close_notify and close: send_eof becomes a full close.
    client, server = await pair.usual(ca, leaf, tls12=True, handshake=True)
    await client.send_eof()
    assert await server.receive(10) == b""
    await server.send_eof()
    server.close()
    assert await client.receive(10) == b""
    assert client.close_notify_received


async def test_send_eof_keeps_records_already_received(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    # Records waiting in the incoming buffer when close_notify goes out must
    # neither be lost nor make OpenSSL fail the connection.
    client, server = await pair.usual(ca, leaf)
    payload = random.Random(3).randbytes(40_000)
    await handshake_both(client, server)
    await server.send(payload)
    first = await client.receive(100)
    await client.send_eof()
    rest = await receive_exactly(client, len(payload) - len(first))
    assert first + rest == payload
    assert await server.receive(10) == b""
    await server.send(b"after")
    await server.send_eof()
    assert await receive_to_end(client) == b"after"


async def test_ragged_eof_reads_as_the_end_by_default(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf, handshake=True)
    await server.send(b"last words")
    server.close()  # no close_notify
    assert await receive_to_end(client) == b"last words"
    assert not client.close_notify_received


async def test_ragged_eof_raises_when_not_suppressed(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf, suppress_ragged_eofs=False, handshake=True)
    server.close()
    with pytest.raises(ssl.SSLEOFError):
        await client.receive(10)


# -- verification ------------------------------------------------------------


async def expect_failed_handshake(
    client: TlsTransport, server: TlsTransport
) -> tuple[BaseException, BaseException]:
    errors: dict[str, BaseException] = {}

    async def run(name: str, transport: TlsTransport) -> None:
        try:
            await transport.do_handshake()
        except (OSError, trio.BrokenResourceError) as exc:
            errors[name] = exc
            transport.close()  # as net does: the peer sees the end at once

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "server", server)
        nursery.start_soon(run, "client", client)
    return errors["client"], errors["server"]


async def test_untrusted_certificate_fails_on_the_client(
    pair: Pair, leaf: trustme.LeafCert
) -> None:
    stranger = trustme.CA()
    client, server = await pair.connect(
        server_context(server_options(leaf)), client_context(client_options(stranger))
    )
    client_error, server_error = await expect_failed_handshake(client, server)
    assert isinstance(client_error, ssl.SSLCertVerificationError)
    assert isinstance(server_error, ssl.SSLError)
    assert "unknown ca" in str(server_error)  # the client's alert reached it
    with pytest.raises(trio.ClosedResourceError):
        await client.receive(10)


async def test_wrong_host_name_fails(pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert) -> None:
    client, server = await pair.usual(ca, leaf, hostname="other.test")
    client_error, _ = await expect_failed_handshake(client, server)
    assert isinstance(client_error, ssl.SSLCertVerificationError)
    assert "other.test" in str(client_error)


async def test_broken_connection_keeps_failing(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, server = await pair.usual(ca, leaf, hostname="other.test")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_swallow, server.do_handshake)
        with pytest.raises(ssl.SSLCertVerificationError):
            await client.do_handshake()
        server.close()
    with pytest.raises(ssl.SSLError, match="failed earlier"):
        await client.send(b"x")


async def _swallow(function: Callable[[], Any]) -> None:
    with contextlib.suppress(OSError, trio.ClosedResourceError):
        await function()


async def test_verify_false_accepts_any_certificate(pair: Pair, leaf: trustme.LeafCert) -> None:
    client, server = await pair.connect(
        server_context(server_options(leaf)),
        client_context(TlsOptions(verify=False)),
        hostname="anything.test",
    )
    await handshake_both(client, server)
    assert client.getpeercert() == {}  # not verified, so not parsed


async def test_client_certificates_when_the_server_has_a_ca(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    user = ca.issue_cert("client.test")
    server_ctx = server_context(server_options(leaf, ca=ca.cert_pem.bytes()))
    with_cert = client_options(
        ca, cert=user.cert_chain_pems[0].bytes(), key=user.private_key_pem.bytes()
    )
    client, server = await pair.connect(server_ctx, client_context(with_cert))
    await handshake_both(client, server)
    assert san_names(server.getpeercert()) == ["client.test"]
    anonymous, server2 = await pair.connect(server_ctx, client_context(client_options(ca)))
    # TLS 1.3 sends the verdict after the client's handshake: it shows on reading.
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_swallow, server2.do_handshake)
        with pytest.raises(ssl.SSLError, match="certificate required"):
            await anonymous.receive(10)


# -- server certificates: SNI, keys, files -----------------------------------


async def test_sni_picks_the_certificate_by_name(pair: Pair, ca: trustme.CA) -> None:
    default = ca.issue_cert("default.test")
    server_ctx = server_context(server_options(default))
    sni = SniCertificates(server_ctx)
    for name in ("a.test", "b.test", "*.wild.test"):
        issued = ca.issue_cert(name)
        sni.add(name, issued.cert_chain_pems[0].bytes(), issued.private_key_pem.bytes())
    client_ctx = client_context(client_options(ca))
    client_ctx.check_hostname = False  # the default certificate does not name c.test
    seen = {}
    for name in ("a.test", "B.Test", "x.wild.test", "c.test"):
        client, server = await pair.connect(server_ctx, client_ctx, hostname=name)
        await handshake_both(client, server)
        seen[name] = san_names(client.getpeercert())
    assert seen == {
        "a.test": ["a.test"],
        "B.Test": ["b.test"],
        "x.wild.test": ["*.wild.test"],
        "c.test": ["default.test"],
    }
    assert sni.lookup(None) is None


def test_sni_refuses_bad_names_and_foreign_callbacks(ca: trustme.CA) -> None:
    issued = ca.issue_cert("a.test")
    cert, key = issued.cert_chain_pems[0].bytes(), issued.private_key_pem.bytes()
    sni = SniCertificates(server_context(server_options(issued)))
    with pytest.raises(TypeError, match="name"):
        sni.add(b"a.test", cert, key)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        sni.add(" ", cert, key)
    with pytest.raises(ValueError, match="cert"):
        sni.add("a.test", None, None)  # type: ignore[arg-type]
    foreign = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    foreign.sni_callback = lambda *args: None
    with pytest.raises(ValueError, match="sni_callback"):
        SniCertificates(foreign).add("a.test", cert, key)


def encrypted_key(leaf: trustme.LeafCert, password: bytes) -> bytes:
    key = load_pem_private_key(leaf.private_key_pem.bytes(), None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


async def test_encrypted_key_needs_its_passwd(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    locked = encrypted_key(leaf, b"s3cret")
    cert = leaf.cert_chain_pems[0].bytes()
    server_ctx = server_context(TlsOptions(cert=cert, key=locked, passwd="s3cret"))
    client, server = await pair.connect(server_ctx, client_context(client_options(ca)))
    await handshake_both(client, server)
    with pytest.raises(ValueError, match="passwd"):
        server_context(TlsOptions(cert=cert, key=locked, passwd=b"wrong"))
    with pytest.raises(ValueError, match="passwd"):  # and no prompt on the terminal
        server_context(TlsOptions(cert=cert, key=locked))


async def test_pem_text_and_paths_are_both_accepted(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert, tmp_path: Path
) -> None:
    cert_path, key_path, ca_path = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    servers = [
        TlsOptions(cert=cert_path, key=str(key_path)),
        TlsOptions(cert=cert_path.read_text(), key=key_path.read_bytes()),
    ]
    clients = [
        TlsOptions(ca=ca_path),
        TlsOptions(ca=str(ca_path)),
        TlsOptions(ca=ca_path.read_text()),
    ]
    for server_opts, client_opts in zip(servers * 2, clients + clients[:1], strict=True):
        client, server = await pair.connect(
            server_context(server_opts), client_context(client_opts)
        )
        await handshake_both(client, server)
        assert san_names(client.getpeercert()) == [HOST]


def test_contexts_are_strict_by_default(ca: trustme.CA, leaf: trustme.LeafCert) -> None:
    client_ctx = client_context(TlsOptions())
    assert client_ctx.verify_mode == ssl.CERT_REQUIRED
    assert client_ctx.check_hostname
    assert client_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert client_ctx.cert_store_stats()["x509_ca"] >= 0  # the system store, where there is one
    server_ctx = server_context(server_options(leaf))
    assert server_ctx.verify_mode == ssl.CERT_NONE
    assert server_ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    optional = server_context(server_options(leaf, ca=ca.cert_pem.bytes(), verify=False))
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    mine = ssl.create_default_context()
    assert client_context(mine) is mine
    assert server_context(mine) is mine


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"cert": 123, "key": "k"}, TypeError, "cert"),
        ({"ca": ["a", "b"]}, TypeError, "ca"),
        ({"ca": ""}, ValueError, "ca"),
        ({"passwd": 1}, TypeError, "passwd"),
        ({"server_name": 1}, TypeError, "server_name"),
        ({"server_name": ""}, ValueError, "server_name"),
        ({"verify": "yes"}, TypeError, "verify"),
        ({"alpn": "h2"}, TypeError, "alpn"),
        ({"alpn": [b"h2"]}, TypeError, "alpn"),
        ({"alpn": [""]}, ValueError, "alpn"),
        ({"cert": "cert.pem"}, ValueError, "key"),
        ({"key": "key.pem"}, ValueError, "cert"),
    ],
)
def test_bad_options_name_the_argument(
    kwargs: dict[str, Any], error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        TlsOptions(**kwargs)


def test_options_are_keyword_only_and_frozen(leaf: trustme.LeafCert) -> None:
    with pytest.raises(TypeError):
        TlsOptions("cert", "key")  # type: ignore[call-arg]
    options = server_options(leaf)
    with pytest.raises(AttributeError):
        options.verify = False  # type: ignore[misc]


def test_bad_files_and_keys_name_the_argument(
    ca: trustme.CA, leaf: trustme.LeafCert, tmp_path: Path
) -> None:
    cert = leaf.cert_chain_pems[0].bytes()
    other_key = ca.issue_cert("other.test").private_key_pem.bytes()
    with pytest.raises(ValueError, match="tls"):
        server_context(TlsOptions(ca=ca.cert_pem.bytes()))
    with pytest.raises(TypeError, match="tls"):
        client_context("example.test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cert: no such file"):
        server_context(TlsOptions(cert=tmp_path / "missing.pem", key=other_key))
    with pytest.raises(ValueError, match="key"):
        server_context(TlsOptions(cert=cert, key=other_key))
    with pytest.raises(ValueError, match="ca"):
        client_context(TlsOptions(ca="-----BEGIN CERTIFICATE-----\nnot base64\n"))
    with pytest.raises(ValueError, match="ca"):
        client_context(TlsOptions(ca=tmp_path / "missing.pem"))


async def test_bad_transport_arguments(fds: Fds, ca: trustme.CA) -> None:
    client_fd, _ = await tcp_pair(fds)
    fds.give_away(client_fd)
    inner = FdTransport(client_fd)
    try:
        ctx = client_context(client_options(ca))
        with pytest.raises(TypeError, match="context"):
            TlsTransport(inner, "ctx", server_side=False)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="server_side"):
            TlsTransport(inner, ctx, server_side=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="server_hostname"):
            TlsTransport(inner, ctx, server_side=False, server_hostname=b"x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="server_hostname"):
            TlsTransport(inner, ctx, server_side=False)
        transport = TlsTransport(inner, ctx, server_side=False, server_hostname=HOST)
        with pytest.raises(TypeError, match="timeout"):
            await transport.do_handshake(timeout="1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            await transport.do_handshake(timeout=-1)
    finally:
        inner.close()


# -- a peer that does not speak TLS, and closing ------------------------------


@pytest.mark.parametrize("says", [b"GET / HTTP/1.0\r\n\r\n", b""])
async def test_plain_tcp_client_is_an_error_on_the_server(
    pair: Pair, leaf: trustme.LeafCert, says: bytes
) -> None:
    client_fd, server_fd = await tcp_pair(pair.fds)
    plain = pair.plain(client_fd)
    server = pair.tls(server_fd, server_context(server_options(leaf)), server_side=True)
    if says:
        await plain.send(says)
    await plain.send_eof()
    with pytest.raises(ssl.SSLError):
        await server.receive(100)
    with pytest.raises(ssl.SSLError, match="failed earlier"):
        await server.send(b"x")


async def test_silent_client_times_out_the_handshake(
    pair: Pair, leaf: trustme.LeafCert, autojump_clock: trio.testing.MockClock
) -> None:
    client_fd, server_fd = await tcp_pair(pair.fds)
    pair.plain(client_fd)
    server = pair.tls(server_fd, server_context(server_options(leaf)), server_side=True)
    with pytest.raises(trionet.Timeout):
        await server.do_handshake(timeout=10)
    with pytest.raises(ssl.SSLError, match="failed earlier"):
        await server.receive(10)


async def test_close_wakes_a_waiting_receive(
    pair: Pair, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    client, _server = await pair.usual(ca, leaf, handshake=True)
    async with trio.open_nursery() as nursery:

        async def receive() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await client.receive(10)

        nursery.start_soon(receive)
        await trio.testing.wait_all_tasks_blocked()
        client.close()
    client.close()  # twice is a no-op
    for call in (client.receive(1), client.send(b"x"), client.send_eof(), client.do_handshake()):
        with pytest.raises(trio.ClosedResourceError):
            await call
