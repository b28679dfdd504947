"""A TLS server connection read inline (``trionet._tls`` rule 8), against a raw TLS peer.

The peer is an ``ssl.SSLObject`` between memory BIOs over a trio socket,
so a test decides what ciphertext reaches the server and when: a record
cut in two, a record that does not authenticate, two records at once.
Each test runs two peers at once: a connection is read inline only while
another task leads the readiness layer, so at least one of the two
connections is.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trustme
from _net_helpers import serving, until
from trio.testing import MockClock

from trionet import net


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> net.TlsOptions:
    leaf = ca.issue_cert("localhost")
    return net.TlsOptions(cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes())


class RawPeer:
    """A TLS client whose every byte of ciphertext the test sends itself."""

    def __init__(self, stream: trio.SocketStream, context: ssl.SSLContext) -> None:
        self.stream = stream
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    async def handshake(self) -> None:
        for _ in range(20):
            try:
                self.tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            if self.outgoing.pending:
                await self.stream.send_all(self.outgoing.read())
            if done:
                return
            self.incoming.write(await self.stream.receive_some())
        raise AssertionError("the handshake did not end")

    def record(self, data: bytes) -> bytes:
        """The ciphertext of ``data``: one record (``data`` is small)."""
        self.tls.write(data)
        return self.outgoing.read()

    async def read(self, size: int) -> bytes:
        """Decrypt ``size`` bytes of what the server sent."""
        got = bytearray()
        for _ in range(1000):
            while len(got) < size:
                try:
                    got += self.tls.read(size - len(got))
                except ssl.SSLWantReadError:
                    break
            if len(got) >= size:
                return bytes(got)
            self.incoming.write(await self.stream.receive_some())
        raise AssertionError("the server's data did not come")


PEERS = 2


@asynccontextmanager
async def raw_peers(port: int, ca: trustme.CA) -> AsyncIterator[list[RawPeer]]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    peers = []
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(PEERS):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stack.enter_async_context(stream)
            peer = RawPeer(stream, context)
            await peer.handshake()
            peers.append(peer)
        yield peers


def _echo_and_log(logs: list[list[Any]]) -> Any:
    """Echo each connection's data, and log its data, errors and end in a list of its own."""

    def on_connection(sock: net.Socket) -> None:
        log: list[Any] = []
        logs.append(log)
        sock.on("data", log.append)
        sock.on("data", sock.write)
        sock.on("error", log.append)
        sock.on("end", lambda: log.append("end"))

    return on_connection


async def test_a_record_cut_in_two_arrives_once_whole(
    ca: trustme.CA, server_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    logs: list[list[Any]] = []
    async with (
        serving(_echo_and_log(logs), tls=server_tls) as served,
        raw_peers(served.port, ca) as peers,
    ):
        records = [peer.record(b"hello, inline") for peer in peers]
        for peer, record in zip(peers, records, strict=True):
            await peer.stream.send_all(record[:7])
        await trio.sleep(0.1)  # the servers have read the first pieces: no plaintext yet
        assert logs == [[]] * PEERS
        for peer, record in zip(peers, records, strict=True):
            await peer.stream.send_all(record[7:])
        for peer in peers:
            assert await peer.read(13) == b"hello, inline"
        assert logs == [[b"hello, inline"]] * PEERS


async def test_records_that_come_together_are_one_chunk(
    ca: trustme.CA, server_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    logs: list[list[Any]] = []
    async with (
        serving(_echo_and_log(logs), tls=server_tls) as served,
        raw_peers(served.port, ca) as peers,
    ):
        for peer in peers:
            await peer.stream.send_all(peer.record(b"one ") + peer.record(b"two"))
        for peer in peers:
            assert await peer.read(7) == b"one two"
        assert logs == [[b"one two"]] * PEERS


async def test_a_record_that_does_not_authenticate_destroys_the_connection(
    ca: trustme.CA, server_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    logs: list[list[Any]] = []
    async with (
        serving(_echo_and_log(logs), tls=server_tls) as served,
        raw_peers(served.port, ca) as peers,
    ):
        for peer in peers:
            await peer.stream.send_all(peer.record(b"fine"))
            assert await peer.read(4) == b"fine"
        for peer in peers:
            record = bytearray(peer.record(b"tampered"))
            record[-1] ^= 0xFF  # the authentication tag
            await peer.stream.send_all(bytes(record))
        await until(lambda: all(len(log) > 1 for log in logs))
        for log in logs:
            assert log[0] == b"fine"
            assert isinstance(log[1], ssl.SSLError)
            assert b"tampered" not in log
        for peer in peers:
            # The server told the peer why, then closed.
            with pytest.raises(ssl.SSLError, match=r"BAD_RECORD_MAC|bad record mac"):
                await peer.read(1)


async def test_close_notify_read_inline_ends_the_stream(
    ca: trustme.CA, server_tls: net.TlsOptions, autojump_clock: MockClock
) -> None:
    logs: list[list[Any]] = []
    async with (
        serving(_echo_and_log(logs), tls=server_tls) as served,
        raw_peers(served.port, ca) as peers,
    ):
        for peer in peers:
            await peer.stream.send_all(peer.record(b"bye"))
            assert await peer.read(3) == b"bye"
        for peer in peers:
            with contextlib.suppress(ssl.SSLWantReadError):
                peer.tls.unwrap()  # close_notify is written; no answer is awaited here
            await peer.stream.send_all(peer.outgoing.read())
        await until(lambda: all("end" in log for log in logs))
        assert logs == [[b"bye", "end"]] * PEERS
