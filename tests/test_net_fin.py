"""SPEC rules 12 and 29: what the peer's FIN does to a socket, by how it is read.

Not read at all, a socket reads one chunk ahead as Node's readable buffer
does: it sees the FIN when nothing unread waits, emits ``'end'``, and
closes if its own side has ended (Node's goodbye server, ported word for
word in ``test_seed_snippets.py``). Pulled, it
follows trio's ``HalfCloseableStream``: the FIN never ends our side.
Flowing, it is Node's: without ``allow_half_open`` the FIN ends our side.
Every test runs on real loopback and on the virtual network.
"""

from __future__ import annotations

import contextlib
import socket as stdsocket
from collections.abc import AsyncIterator

import pytest
import trio
from _net_helpers import EVENTS, names, serving, until
from trio.testing import MockClock

import trionet
from trionet import net
from trionet.testing import socket_pair

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True


@contextlib.asynccontextmanager
async def plain_client(port: int) -> AsyncIterator[trio.socket.SocketType]:
    """A client that is not trionet's: a trio socket connected to ``port``."""
    with trio.socket.socket() as raw:
        await raw.connect(("127.0.0.1", port))
        yield raw


def record(sock: net.Socket, log: list[object]) -> None:
    """Log every event but ``'data'``, whose listener would make the socket flow."""
    for event in EVENTS:
        if event != "data":
            sock.on(event, lambda *args, event=event: log.append((event, *args)))


async def test_an_unread_socket_sees_the_fin_of_a_plain_client(autojump_clock: MockClock) -> None:
    log: list[object] = []
    async with serving(lambda sock: record(sock, log)) as served, plain_client(served.port) as raw:
        peer = await served.next_socket()
        raw.shutdown(stdsocket.SHUT_WR)
        await until(lambda: "end" in names(log))
        # It has said nothing to finish: its side stays open (rule 29).
        assert not peer.destroyed
        assert peer.ready_state == "writeOnly"
        peer.end(b"late reply")
        await peer.wait_closed()
        assert await raw.recv(100) == b"late reply"
    assert names(log) == ["end", "finish", "close"]


async def test_unread_data_keeps_the_fin_unseen_until_it_is_read(autojump_clock: MockClock) -> None:
    log: list[object] = []
    async with serving(lambda sock: record(sock, log)) as served, plain_client(served.port) as raw:
        assert await raw.send(b"unread") == 6
        raw.shutdown(stdsocket.SHUT_WR)
        peer = await served.next_socket()
        await trio.sleep(1)
        assert log == []
        assert peer.bytes_read == 0  # read ahead, not delivered
        got = bytearray()
        peer.on("data", got.extend)
        await peer.wait_closed()
    assert got == b"unread"
    assert names(log) == ["end", "finish", "close"]


async def test_reading_ahead_takes_one_chunk_and_a_pull_gets_everything_in_order(
    autojump_clock: MockClock,
) -> None:
    message = bytes(range(256)) * 4096  # 1 MiB: far more than one chunk
    async with serving() as served, plain_client(served.port) as raw:
        raw.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF, 65536)
        peer = await served.next_socket()
        trionet.socket.set_recv_buffer_size(peer.fileno(), 65536)
        sent = 0
        for _ in range(10_000):
            # A send that blocks for 10 ms: the buffers are full for good.
            with trio.move_on_after(0.01) as blocked:
                sent += await raw.send(memoryview(message)[sent:])
            if blocked.cancelled_caught or sent == len(message):
                break
        # The kernel's buffers and one chunk ahead: the peer feels backpressure.
        assert 0 < sent < len(message)
        received = bytearray()
        while len(received) < sent:
            received += await peer.receive_some()
        assert received == message[: len(received)]


async def test_a_paused_socket_does_not_read_ahead(autojump_clock: MockClock) -> None:
    log: list[object] = []
    async with (
        serving(lambda sock: record(sock, log), pause_on_connect=True) as served,
        plain_client(served.port) as raw,
    ):
        peer = await served.next_socket()
        raw.shutdown(stdsocket.SHUT_WR)
        await trio.sleep(1)
        assert log == []  # paused: it does not read from the kernel at all
        peer.resume()
        await until(lambda: "close" in names(log))
    assert names(log) == ["end", "finish", "close"]


async def test_a_pulled_default_socket_answers_after_the_end(autojump_clock: MockClock) -> None:
    """Generic trio code: read until the end, then reply (rule 29)."""
    async with socket_pair() as (client, server):
        log: list[object] = []
        record(server, log)
        await client.send_all(b"question")
        await client.send_eof()
        asked = b"".join([chunk async for chunk in server])
        assert asked == b"question"
        assert names(log) == ["end"]
        await server.send_all(b"answer")
        await server.send_eof()
        assert b"".join([chunk async for chunk in client]) == b"answer"


async def test_a_flowing_default_socket_ends_its_side_on_the_fin_as_node(
    autojump_clock: MockClock,
) -> None:
    async with socket_pair() as (client, server):
        log: list[object] = []
        record(server, log)
        server.on("data", lambda chunk: None)
        await client.send_eof()
        await server.wait_closed()
        assert names(log) == ["end", "finish", "close"]
        assert await client.receive_some() == b""


async def test_a_flowing_half_open_socket_stays_writable(autojump_clock: MockClock) -> None:
    async with socket_pair(allow_half_open=True) as (client, server):
        ended = trio.Event()
        server.on("data", lambda chunk: None).on("end", ended.set)
        await client.send_eof()
        await ended.wait()
        assert server.write(b"still here")
        server.end()
        assert b"".join([chunk async for chunk in client]) == b"still here"


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
async def test_the_first_pull_takes_over_from_the_read_ahead(
    tls: bool, autojump_clock: MockClock
) -> None:
    async with socket_pair(tls=tls) as (client, server):
        await trio.sleep(1)  # the server's reader waits in its read ahead
        with trio.move_on_after(1) as scope:
            await server.receive_some()
        assert scope.cancelled_caught  # nothing came, nothing was lost
        await client.send_all(b"first")
        assert await server.receive_some() == b"first"
        await client.send_all(b"second")
        assert await server.receive_some() == b"second"


async def test_a_reset_met_reading_ahead_is_raised_by_the_next_call(
    autojump_clock: MockClock,
) -> None:
    errors: list[BaseException] = []
    async with serving() as served, net.connect(served.port, "127.0.0.1") as client:
        client.on("error", errors.append)
        peer = await served.next_socket()
        await client.send_all(b"unanswered")
        trionet.socket.set_linger(peer.fileno(), True, 0)  # close resets
        peer.destroy()
        await client.wait_closed()
        with pytest.raises(trio.BrokenResourceError):
            await client.receive_some()
    assert [type(error) for error in errors] == [ConnectionResetError]
