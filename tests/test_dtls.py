"""trionet.dtls over loopback: associations, verification, timeouts, bad input."""

from __future__ import annotations

import importlib.util
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trustme
from _fds import IP_KINDS, open_fds
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL

import trionet
from trionet import SockAddr, dtls

OVER_VNET = True

Handler = Callable[[dtls.DtlsChannel, SockAddr], Awaitable[object]]
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dtls_echo.py"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> dtls.TlsOptions:
    leaf = ca.issue_cert("127.0.0.1", "::1", "localhost")
    return dtls.TlsOptions(cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes())


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> dtls.TlsOptions:
    return dtls.TlsOptions(ca=ca.cert_pem.bytes())


def _address(ip_kind: str) -> tuple[str, int]:
    return (IP_KINDS[ip_kind][1], 0)


async def echo(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
    async for record in channel:
        await channel.send(record)


async def silent(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
    await trio.sleep_forever()


@asynccontextmanager
async def served(
    handler: Handler, server_tls: dtls.TlsOptions | SSL.Context, client_tls: dtls.TlsOptions
) -> AsyncIterator[tuple[dtls.DtlsServer, dtls.DtlsChannel]]:
    """A server on 127.0.0.1 and one client associated with it."""
    async with (
        dtls.serve(handler, ("127.0.0.1", 0), tls=server_tls) as server,
        await dtls.connect(server.sock_name(), tls=client_tls, timeout=10) as channel,
    ):
        yield server, channel


async def test_round_trip(
    ip_kind: str, server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    async with dtls.serve(echo, _address(ip_kind), tls=server_tls) as server:
        address = server.sock_name()
        assert address.domain == IP_KINDS[ip_kind][0]
        async with await dtls.connect(address, tls=client_tls, timeout=10) as channel:
            assert channel.peer_name() == address
            assert await channel.send(b"hello") == 5
            assert await channel.recv(timeout=10) == b"hello"
            assert await channel.send([b"gathered ", memoryview(b"into "), bytearray(b"one")]) == 17
            assert await channel.recv(timeout=10) == b"gathered into one"
            await channel.send("caf\u00e9")
            assert await channel.recv(timeout=10) == "caf\u00e9".encode()
            assert channel.sock_name().domain == address.domain
            assert channel.get_cleartext_mtu() > 1000
            assert channel.alpn_protocol is None
        assert channel.closed


async def test_each_client_gets_its_own_association(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    remotes: list[SockAddr] = []
    ended: list[SockAddr] = []
    all_in, all_out = trio.Event(), trio.Event()

    async def greet(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
        remotes.append(remote)
        if len(remotes) == 3:
            all_in.set()
        name = await channel.recv(timeout=10)
        await all_in.wait()
        await channel.send(b"hello " + name + b" #" + str(remotes.index(remote)).encode())
        assert await channel.recv(timeout=10) == b""
        ended.append(remote)
        if len(ended) == 3:
            all_out.set()

    async def client(server: SockAddr, name: str, replies: dict[str, bytes]) -> None:
        async with await dtls.connect(server, tls=client_tls, timeout=10) as channel:
            await channel.send(name)
            replies[name] = await channel.recv(timeout=10)

    replies: dict[str, bytes] = {}
    async with dtls.serve(greet, ("127.0.0.1", 0), tls=server_tls) as server:
        async with trio.open_nursery() as nursery:
            for name in ("a", "b", "c"):
                nursery.start_soon(client, server.sock_name(), name, replies)
            await all_in.wait()
            assert server.get_connections() == 3
        with trio.fail_after(10):
            await all_out.wait()
        assert server.get_connections() == 0
    assert len(set(remotes)) == 3
    assert sorted(replies) == ["a", "b", "c"]
    numbers = {reply.rpartition(b"#")[2] for reply in replies.values()}
    assert numbers == {b"0", b"1", b"2"}
    for name, reply in replies.items():
        assert reply.startswith(b"hello " + name.encode())


async def test_handshake_timeout_against_a_silent_peer(
    autojump_clock: trio.testing.MockClock, client_tls: dtls.TlsOptions
) -> None:
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as mute:
        await mute.bind(("127.0.0.1", 0))
        start = trio.current_time()
        with pytest.raises(trionet.Timeout) as caught:
            await dtls.connect(mute.getsockname(), tls=client_tls, timeout=30)
        assert trio.current_time() - start == pytest.approx(30)
        assert caught.value.bytes_sent == 0
        assert isinstance(caught.value, TimeoutError)
        # The client did try: its ClientHello reached the silent socket.
        hello, _ = await mute.recvfrom(65536)
        assert hello[0] == 22  # a handshake record


async def test_untrusted_certificate_is_refused_and_the_server_keeps_serving(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    failures: list[tuple[BaseException, SockAddr]] = []
    stranger = dtls.TlsOptions(ca=trustme.CA().cert_pem.bytes())
    async with dtls.serve(
        echo,
        ("127.0.0.1", 0),
        tls=server_tls,
        on_handshake_error=lambda error, remote: failures.append((error, remote)),
    ) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match="local issuer"):
            await dtls.connect(server.sock_name(), tls=stranger, timeout=10)
        async with await dtls.connect(server.sock_name(), tls=client_tls, timeout=10) as channel:
            await channel.send(b"still here")
            assert await channel.recv(timeout=10) == b"still here"
        assert len(failures) == 1
        error, remote = failures[0]
        assert isinstance(error, ssl.SSLError)
        assert "unknown_ca" in str(error)
        assert remote.addr == "127.0.0.1"


async def test_wrong_server_name_is_refused(ca: trustme.CA, server_tls: dtls.TlsOptions) -> None:
    wrong = dtls.TlsOptions(ca=ca.cert_pem.bytes(), server_name="example.com")
    async with dtls.serve(echo, ("127.0.0.1", 0), tls=server_tls) as server:
        with pytest.raises(ssl.SSLCertVerificationError, match=r"example\.com") as caught:
            await dtls.connect(server.sock_name(), tls=wrong, timeout=10)
        assert caught.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
        named = dtls.TlsOptions(ca=ca.cert_pem.bytes(), server_name="localhost")
        async with await dtls.connect(server.sock_name(), tls=named, timeout=10) as channel:
            await channel.send(b"by name")
            assert await channel.recv(timeout=10) == b"by name"


async def test_unverified_client_accepts_any_certificate(server_tls: dtls.TlsOptions) -> None:
    blind = dtls.TlsOptions(verify=False)
    async with served(echo, server_tls, blind) as (_, channel):
        await channel.send(b"x")
        assert await channel.recv(timeout=10) == b"x"


async def test_server_with_ca_requires_client_certificates(
    ca: trustme.CA, server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    mutual = dtls.TlsOptions(cert=server_tls.cert, key=server_tls.key, ca=ca.cert_pem.bytes())
    failures: list[BaseException] = []

    async def on_error(error: BaseException, remote: SockAddr) -> None:
        failures.append(error)

    leaf = ca.issue_cert("client.example")
    with_cert = dtls.TlsOptions(
        cert=leaf.cert_chain_pems[0].bytes(),
        key=leaf.private_key_pem.bytes(),
        ca=ca.cert_pem.bytes(),
    )
    async with dtls.serve(
        echo, ("127.0.0.1", 0), tls=mutual, on_handshake_error=on_error
    ) as server:
        with pytest.raises(ssl.SSLError, match="refused"):
            await dtls.connect(server.sock_name(), tls=client_tls, timeout=10)
        async with await dtls.connect(server.sock_name(), tls=with_cert, timeout=10) as channel:
            await channel.send(b"mutual")
            assert await channel.recv(timeout=10) == b"mutual"
    assert len(failures) == 1
    assert isinstance(failures[0], ssl.SSLError)


async def test_server_without_verify_makes_client_certificates_optional(
    ca: trustme.CA, server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    lenient = dtls.TlsOptions(
        cert=server_tls.cert, key=server_tls.key, ca=ca.cert_pem.bytes(), verify=False
    )
    async with served(echo, lenient, client_tls) as (_, channel):
        await channel.send(b"anonymous")
        assert await channel.recv(timeout=10) == b"anonymous"


async def test_server_handshake_timeout_drops_an_abandoned_handshake(
    autojump_clock: trio.testing.MockClock, server_tls: dtls.TlsOptions
) -> None:
    failures: list[BaseException] = []
    failed = trio.Event()

    def report(error: BaseException, remote: SockAddr) -> None:
        failures.append(error)
        failed.set()

    def crash(*_: object) -> bool:
        # pyOpenSSL re-raises this from do_handshake: the client stops without an alert.
        raise RuntimeError("client gives up")

    quitter = SSL.Context(SSL.DTLS_METHOD)
    quitter.set_verify(SSL.VERIFY_PEER, crash)
    async with dtls.serve(
        echo,
        ("127.0.0.1", 0),
        tls=server_tls,
        handshake_timeout=20,
        on_handshake_error=report,
    ) as server:
        start = trio.current_time()
        with pytest.raises(RuntimeError, match="gives up"):
            await dtls.connect(server.sock_name(), tls=quitter, timeout=10)
        with trio.fail_after(60):
            await failed.wait()
        assert trio.current_time() - start == pytest.approx(20, abs=1)
        assert isinstance(failures[0], trionet.Timeout)


async def test_recv_timeout(
    autojump_clock: trio.testing.MockClock,
    server_tls: dtls.TlsOptions,
    client_tls: dtls.TlsOptions,
) -> None:
    async with served(echo, server_tls, client_tls) as (_, channel):
        start = trio.current_time()
        with pytest.raises(trionet.Timeout):
            await channel.recv(timeout=2.5)
        assert trio.current_time() - start == pytest.approx(2.5)
        with pytest.raises(trionet.Timeout):
            await channel.recv(timeout=0)
        assert trio.current_time() - start == pytest.approx(2.5)
        await channel.send(b"queued")
        await trio.testing.wait_all_tasks_blocked()
        assert await channel.recv(timeout=0) == b"queued"
        # A timed-out recv lost nothing: the channel still works.
        await channel.send(b"after")
        assert await channel.recv(timeout=10) == b"after"


async def test_recv_returns_empty_after_close_notify(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    seen: list[bytes] = []
    done = trio.Event()

    async def record_all(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
        seen.extend([record async for record in channel])
        seen.append(await channel.recv())
        done.set()

    async with dtls.serve(record_all, ("127.0.0.1", 0), tls=server_tls) as server:
        async with await dtls.connect(server.sock_name(), tls=client_tls, timeout=10) as channel:
            await channel.send(b"one")
            await channel.send(b"two")
        with trio.fail_after(10):
            await done.wait()
    assert seen == [b"one", b"two", b""]


async def test_alpn(ca: trustme.CA, server_tls: dtls.TlsOptions) -> None:
    offered = dtls.TlsOptions(cert=server_tls.cert, key=server_tls.key, alpn=["coap", "x"])
    protocols: list[str | None] = []

    async def note(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
        protocols.append(channel.alpn_protocol)

    wants = dtls.TlsOptions(ca=ca.cert_pem.bytes(), alpn=["x", "coap"])
    async with served(note, offered, wants) as (_, channel):
        assert channel.alpn_protocol == "coap"
    assert protocols == ["coap"]


async def test_sni_reaches_the_server(ca: trustme.CA, server_tls: dtls.TlsOptions) -> None:
    names: list[bytes | None] = []
    raw = SSL.Context(SSL.DTLS_METHOD)
    leaf = ca.issue_cert("localhost")
    raw.use_certificate(x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()))
    key = load_pem_private_key(leaf.private_key_pem.bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # trustme's default
    raw.use_privatekey(key)
    raw.set_tlsext_servername_callback(lambda conn: names.append(conn.get_servername()))
    named = dtls.TlsOptions(ca=ca.cert_pem.bytes(), server_name="localhost")
    async with served(echo, raw, named):
        pass
    assert names == [b"localhost"]


async def test_handler_error_leaves_the_server_block_bare(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    async def broken(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
        raise KeyError("handler bug")

    async def run() -> None:
        async with served(broken, server_tls, client_tls):
            await trio.sleep_forever()

    with pytest.raises(KeyError, match="handler bug"):
        await run()


async def test_close_and_wait_closed(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    started = trio.Event()

    async def wait(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
        started.set()
        await trio.sleep_forever()

    async with dtls.serve(wait, ("127.0.0.1", 0), tls=server_tls) as server:
        assert not server.closed
        channel = await dtls.connect(server.sock_name(), tls=client_tls, timeout=10)
        with trio.fail_after(10):
            await started.wait()
        assert server.get_connections() == 1
        server.close()
        await server.wait_closed()
        assert server.closed
        assert server.get_connections() == 0
        channel.close()
        channel.close()
    with pytest.raises(trio.ClosedResourceError):
        await channel.send(b"late")
    with pytest.raises(trio.ClosedResourceError):
        await channel.recv()
    with pytest.raises(trio.ClosedResourceError):
        channel.sock_name()
    assert channel.peer_name().addr == "127.0.0.1"
    with pytest.raises(RuntimeError, match="only once"):
        async with server:
            pass


async def test_second_receiver_is_busy(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    async with (
        served(silent, server_tls, client_tls) as (_, channel),
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(channel.recv)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await channel.recv()
        nursery.cancel_scope.cancel()


def test_sock_name_needs_a_running_server(server_tls: dtls.TlsOptions) -> None:
    with pytest.raises(RuntimeError, match="not running"):
        dtls.serve(echo, ("127.0.0.1", 0), tls=server_tls).sock_name()


def _bad_connect(**changes: Any) -> Callable[[dtls.TlsOptions], Any]:
    def call(client_tls: dtls.TlsOptions) -> Any:
        arguments: dict[str, Any] = {"addr": ("127.0.0.1", 9), "tls": client_tls, **changes}
        return dtls.connect(arguments.pop("addr"), **arguments)

    return call


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (_bad_connect(addr=("127.0.0.1", "9")), TypeError, "addr port"),
        (_bad_connect(addr="127.0.0.1"), TypeError, "addr"),
        (_bad_connect(addr=("localhost", 9)), ValueError, "addr"),
        (_bad_connect(timeout=-1), ValueError, "timeout"),
        (_bad_connect(timeout="1"), TypeError, "timeout"),
        (_bad_connect(tls="yes"), TypeError, "tls"),
        (_bad_connect(local_addr=("::1", 0)), ValueError, "local_addr"),
    ],
)
async def test_connect_rejects_bad_arguments(
    call: Callable[[dtls.TlsOptions], Any],
    error: type[Exception],
    name: str,
    client_tls: dtls.TlsOptions,
) -> None:
    before = open_fds()
    with pytest.raises(error, match=name):
        await call(client_tls)
    assert open_fds() == before


@pytest.mark.parametrize(
    ("changes", "error", "name"),
    [
        ({"handler": 1}, TypeError, "handler"),
        ({"addr": ("127.0.0.1", 70000)}, ValueError, "addr port"),
        ({"tls": None}, TypeError, "tls"),
        ({"tls": dtls.TlsOptions()}, ValueError, "tls"),
        ({"handshake_timeout": -1}, ValueError, "timeout"),
        ({"on_handshake_error": "log"}, TypeError, "on_handshake_error"),
        ({"incoming_packets_buffer": 0}, ValueError, "incoming_packets_buffer"),
        ({"tls": dtls.TlsOptions(cert="/nonexistent.pem", key="k.pem")}, ValueError, "cert"),
        ({"tls": dtls.TlsOptions(cert="-----BEGIN junk", key="k.pem")}, ValueError, "cert"),
    ],
)
def test_serve_rejects_bad_arguments(
    changes: dict[str, Any], error: type[Exception], name: str, server_tls: dtls.TlsOptions
) -> None:
    arguments: dict[str, Any] = {"handler": echo, "addr": ("127.0.0.1", 0), "tls": server_tls}
    arguments.update(changes)
    before = open_fds()
    with pytest.raises(error, match=name):
        dtls.serve(arguments.pop("handler"), arguments.pop("addr"), **arguments)
    assert open_fds() == before


@pytest.mark.parametrize(
    ("changes", "error", "name"),
    [
        ({"cert": 1, "key": "k"}, TypeError, "cert"),
        ({"cert": "-----BEGIN CERTIFICATE-----"}, ValueError, "together"),
        ({"passwd": 1}, TypeError, "passwd"),
        ({"server_name": b"x"}, TypeError, "server_name"),
        ({"verify": 1}, TypeError, "verify"),
        ({"alpn": "coap"}, TypeError, "alpn"),
        ({"alpn": [""]}, ValueError, "alpn"),
    ],
)
def test_tls_options_reject_bad_arguments(
    changes: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        dtls.TlsOptions(**changes)


async def test_send_rejects_bad_data(
    server_tls: dtls.TlsOptions, client_tls: dtls.TlsOptions
) -> None:
    async with served(echo, server_tls, client_tls) as (_, channel):
        with pytest.raises(ValueError, match="data"):
            await channel.send(b"")
        with pytest.raises(TypeError, match="data"):
            await channel.send(42)
        with pytest.raises(ValueError, match="timeout"):
            await channel.recv(timeout=float("nan"))


async def test_certificates_from_files(
    tmp_path: Path, ca: trustme.CA, client_tls: dtls.TlsOptions
) -> None:
    leaf = ca.issue_cert("127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    key.write_bytes(leaf.private_key_pem.bytes())
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    from_files = dtls.TlsOptions(cert=cert, key=str(key))
    async with served(echo, from_files, dtls.TlsOptions(ca=ca_file)) as (_, channel):
        await channel.send(b"files")
        assert await channel.recv(timeout=10) == b"files"


async def test_encrypted_key_with_passwd(ca: trustme.CA, client_tls: dtls.TlsOptions) -> None:
    leaf = ca.issue_cert("127.0.0.1")
    key = load_pem_private_key(leaf.private_key_pem.bytes(), None)
    locked = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"sesame"),
    )
    cert = leaf.cert_chain_pems[0].bytes().decode()
    with pytest.raises(ValueError, match="passwd"):
        dtls.serve(echo, ("127.0.0.1", 0), tls=dtls.TlsOptions(cert=cert, key=locked))
    wrong = dtls.TlsOptions(cert=cert, key=locked, passwd="open")
    with pytest.raises(ValueError, match="passwd"):
        dtls.serve(echo, ("127.0.0.1", 0), tls=wrong)
    unlocked = dtls.TlsOptions(cert=cert, key=locked, passwd="sesame")
    async with served(echo, unlocked, client_tls) as (_, channel):
        await channel.send(b"open")
        assert await channel.recv(timeout=10) == b"open"


@pytest.fixture
def example() -> Any:
    spec = importlib.util.spec_from_file_location("dtls_echo_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_example_runs(example: Any, capsys: pytest.CaptureFixture[str]) -> None:
    await example.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("b'")] == [
        "b'ALICE: HELLO'",
        "b'ALICE: OVER'",
        "b'ALICE: UDP'",
        "b'BOB: HELLO'",
        "b'BOB: OVER'",
        "b'BOB: UDP'",
    ]
    assert sum("closed the association" in line for line in lines) == 2
