"""``net`` cases the other test modules leave out: the second direction of a
half-open connection, pause/resume while connecting, a 10 MiB ``write``, a
client that never reads, ``high_water_mark=0``, and ``destroy`` or an outer
cancel racing a connect that succeeds (no fd may leak)."""

from __future__ import annotations

import pytest
import trio
from _net_helpers import serving, until
from trio.testing import MockClock

from trionet import _net_dial, _net_socket, net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True


def _local(host: str, family: int) -> str:
    """A ``lookup`` that answers at once, so ``'lookup'`` fires while connecting."""
    return "127.0.0.1"


async def test_half_open_client_keeps_writing_after_the_servers_fin(
    autojump_clock: MockClock,
) -> None:
    received = bytearray()
    states: list[str] = []

    async def on_connection(sock: net.Socket) -> None:
        sock.on("data", received.extend)
        sock.end(b"server done")

    async with serving(on_connection) as served:
        async with net.connect(served.port, "127.0.0.1", allow_half_open=True) as sock:

            def on_end() -> None:
                states.append(sock.ready_state)
                sock.write(b"client still ")
                sock.end(b"talking")

            got = bytearray()
            sock.on("data", got.extend)
            sock.on("end", on_end)
            await sock.wait_closed()
        peer = await served.next_socket()
        await peer.wait_closed()
    assert got == b"server done"
    assert states == ["writeOnly"]
    assert received == b"client still talking"


async def test_pause_and_resume_while_connecting(autojump_clock: MockClock) -> None:
    async def greet(sock: net.Socket) -> None:
        sock.write(b"greeting")

    async with serving(greet) as served:
        got = bytearray()
        async with net.Socket() as sock:
            sock.on("data", got.extend)
            sock.on("lookup", lambda *args: sock.pause() if sock.connecting else None)
            await sock.connect(served.port, "name", lookup=_local)
            assert sock.is_paused()
            await trio.sleep(1)
            assert got == b""  # the greeting waits in the kernel
            sock.resume()
            await until(lambda: got == b"greeting")

        resumed = bytearray()
        async with net.Socket() as sock:
            sock.on("data", resumed.extend)
            sock.pause()
            sock.on("lookup", lambda *args: sock.resume() if sock.connecting else None)
            await sock.connect(served.port, "name", lookup=_local)
            assert not sock.is_paused()
            await until(lambda: resumed == b"greeting")


async def test_a_ten_mib_string_in_one_write_returns_false_then_drains(
    autojump_clock: MockClock,
) -> None:
    text = "0123456789abcdef" * (64 << 10) * 10
    got = bytearray()

    async def on_connection(sock: net.Socket) -> None:
        sock.on("data", got.extend)

    with trio.fail_after(60):
        async with serving(on_connection) as served:
            async with net.connect(served.port, "127.0.0.1") as sock:
                drained = trio.Event()
                sock.on("drain", drained.set)
                assert sock.write(text) is False
                assert sock.bytes_written == 10 << 20
                assert 0 < sock.buffer_size <= 10 << 20
                await drained.wait()
                assert sock.buffer_size == 0
            await (await served.next_socket()).wait_closed()
    assert got == text.encode()


async def test_a_client_that_never_reads_holds_the_server_back_until_it_reads(
    autojump_clock: MockClock,
) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        peer = await served.next_socket()
        drains: list[int] = []
        peer.on("drain", lambda: drains.append(sock.bytes_read))
        writes = 1
        while peer.write(b"w" * 65536):  # the kernel's buffers fill, then write says stop
            writes += 1
            assert writes < 2000
        await trio.sleep(5)
        assert drains == []  # the client has still not read a byte
        assert peer.buffer_size >= 65536
        received = 0
        while received < writes * 65536:
            received += len(await sock.receive_some(1 << 20))
        await until(lambda: drains)
        assert peer.buffer_size == 0
        assert received == peer.bytes_written


async def test_high_water_mark_zero_makes_every_write_false_with_a_drain_after(
    autojump_clock: MockClock,
) -> None:
    async with serving() as served, net.Socket(high_water_mark=0) as sock:
        await sock.connect(served.port, "127.0.0.1")
        drains = 0

        def on_drain() -> None:
            nonlocal drains
            drains += 1

        sock.on("drain", on_drain)
        assert sock.write(b"sent at once") is False  # Node: length < 0 never holds
        await until(lambda: drains == 1)
        assert sock.buffer_size == 0


async def test_destroy_as_the_connect_succeeds_closes_the_new_fd(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[object] = []
    real_dial = _net_socket.dial

    async with serving() as served, net.Socket() as sock:

        async def dial_then_destroy(options: _net_dial.ConnectOptions, report: object) -> int:
            fd = await real_dial(options, sock._report_lookup)
            sock.destroy()  # in the same step as the connect's success
            return fd

        monkeypatch.setattr(_net_socket, "dial", dial_then_destroy)
        sock.on("close", log.append)
        with pytest.raises(trio.ClosedResourceError):
            await sock.connect(served.port, "127.0.0.1")
        assert log == [False]
        assert sock.fileno() == -1
    # the leak check of conftest.py: the connected fd was closed


async def test_outer_cancel_after_a_happy_eyeballs_winner_closes_the_winner(
    autojump_clock: MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect_one = _net_dial._connect_one
    connected: list[int] = []

    async with serving() as served:
        with trio.CancelScope() as outer:

            async def connect_then_cancel(domain: int, address: object, options: object) -> int:
                fd = await real_connect_one(domain, address, options)  # type: ignore[arg-type]
                connected.append(fd)
                outer.cancel()  # the caller gives up just as this attempt wins
                return fd

            monkeypatch.setattr(_net_dial, "_connect_one", connect_then_cancel)
            two = lambda host, family: ["127.0.0.1", "127.0.0.1"]  # noqa: E731
            async with net.connect(served.port, "name", lookup=two):
                pytest.fail("the connect was cancelled")
        assert outer.cancelled_caught
        assert len(connected) == 1
    # the leak check of conftest.py: the winner's fd was closed
