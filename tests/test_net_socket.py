"""``net.Socket``: events and their order, writing, ending and destroying."""

from __future__ import annotations

import socket as stdsocket
import struct
from typing import Any

import pytest
import trio
from _fds import kernel_socket
from _net_helpers import names, record, serving, until
from trio.testing import MockClock

from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True
LOOPBACK_ONLY = {
    "test_socket_wraps_an_existing_fd": "wraps the fds of a stdlib socketpair (real ones)",
    "test_socket_rejects_a_datagram_fd_and_leaves_it_open": "hands in a stdlib UDP socket",
}


async def _echo(sock: net.Socket) -> None:
    sock.on("data", sock.write)


def _reset(peer: net.Socket) -> None:
    """Destroy ``peer`` with SO_LINGER 0: the kernel sends RST instead of FIN."""
    with kernel_socket(peer.fileno()) as raw:
        raw.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.destroy()  # closes the last fd of the connection


async def test_client_events_come_in_node_order_and_close_is_last_and_once(
    autojump_clock: MockClock,
) -> None:
    log: list[Any] = []
    async with serving(_echo) as served, net.connect(served.port, "127.0.0.1") as sock:
        record(sock, log)
        assert sock.write(b"hello") is True
        sock.end()
        await sock.wait_closed()
    # 'connect' comes on a later tick, as in Node: the block's listeners hear it.
    assert names(log) == ["connect", "ready", "finish", "data", "end", "close"]
    assert log[3] == ("data", b"hello")
    assert log[-1] == ("close", False)


async def test_connect_and_ready_come_on_a_later_tick_as_in_node(
    autojump_clock: MockClock,
) -> None:
    log: list[Any] = []
    async with serving() as served, net.Socket() as sock:
        record(sock, log)
        assert sock.pending
        assert not sock.connecting
        assert await sock.connect(served.port, "127.0.0.1") is sock
        assert names(log) == []  # not yet: the caller has not waited since
        assert not sock.pending
        assert not sock.connecting
        late: list[str] = []
        sock.on("connect", lambda: late.append("connect"))  # added after connect()
        await until(lambda: late)
        assert names(log) == ["connect", "ready"]
    assert names(log) == ["connect", "ready", "finish", "close"]


async def test_a_connect_listener_may_use_the_name_the_block_binds(
    autojump_clock: MockClock,
) -> None:
    # Node: `const socket = net.connect(port, () => socket.end('hi'))`.
    async with serving(_echo) as served:
        heard = bytearray()
        async with net.connect(
            served.port, "127.0.0.1", on_connect=lambda: socket.end("hi")
        ) as socket:
            socket.on("data", heard.extend)
            await socket.wait_closed()
        assert heard == b"hi"


async def test_a_socket_destroyed_before_the_tick_never_emits_connect(
    autojump_clock: MockClock,
) -> None:
    log: list[Any] = []
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        record(sock, log)
        sock.destroy()
        await sock.wait_closed()
    assert names(log) == ["close"]


async def test_a_connect_listener_s_exception_comes_out_of_the_block(
    autojump_clock: MockClock,
) -> None:
    def on_connect() -> None:
        raise KeyError("from the listener")

    async with serving() as served:
        with pytest.raises(KeyError, match="from the listener"):
            async with net.connect(served.port, "127.0.0.1", on_connect=on_connect) as sock:
                await sock.wait_closed()


async def test_server_side_events_on_peer_end(autojump_clock: MockClock) -> None:
    log: list[Any] = []

    async def on_connection(sock: net.Socket) -> None:
        record(sock, log)
        sock.on("end", lambda: log.append(("state in end", sock.ready_state)))

    async with serving(on_connection) as served:
        async with net.connect(served.port, "127.0.0.1") as sock:
            sock.write("ping")
        await (await served.next_socket()).wait_closed()
    assert log == [
        ("data", b"ping"),
        ("end",),
        ("state in end", "writeOnly"),
        ("finish",),
        ("close", False),
    ]


async def test_ready_state_moves_from_opening_to_closed(autojump_clock: MockClock) -> None:
    states: list[str] = []
    async with serving(_echo) as served, net.Socket() as sock:
        states.append(sock.ready_state)
        sock.on("lookup", lambda *args: states.append(sock.ready_state))
        await sock.connect(served.port, "localhost", family=4)
        states.append(sock.ready_state)
        sock.resume()  # flows without a listener: sees the peer's FIN
        sock.end()
        states.append(sock.ready_state)
        await sock.wait_closed()
        states.append(sock.ready_state)
    assert states == ["closed", "opening", "open", "readOnly", "closed"]


async def test_half_open_server_keeps_writing_after_the_peers_fin(
    autojump_clock: MockClock,
) -> None:
    async def on_connection(sock: net.Socket) -> None:
        async def on_end() -> None:
            assert sock.ready_state == "writeOnly"
            sock.write(b"after your end")
            sock.end(b" bye")

        sock.on("end", on_end)
        sock.on("data", lambda chunk: None)

    received = bytearray()
    async with (
        serving(on_connection, allow_half_open=True) as served,
        net.connect(served.port, "127.0.0.1", allow_half_open=True) as sock,
    ):
        sock.on("data", received.extend)
        sock.end(b"done")
        assert sock.ready_state == "readOnly"
        await sock.wait_closed()
    assert received == b"after your end bye"


async def test_without_half_open_a_peer_fin_ends_our_side_after_the_queue(
    autojump_clock: MockClock,
) -> None:
    async def on_connection(sock: net.Socket) -> None:
        sock.on("end", lambda: sock.write(b"last words"))
        sock.on("data", lambda chunk: None)

    received = bytearray()
    async with (
        serving(on_connection) as served,
        net.connect(served.port, "127.0.0.1", allow_half_open=True) as sock,
    ):
        sock.on("data", received.extend)
        sock.end()
        await sock.wait_closed()
    assert received == b"last words"


async def test_write_after_end_raises_write_after_end_error(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        sock.end()
        sock.end()  # twice: a no-op
        with pytest.raises(net.WriteAfterEndError):
            sock.write(b"x")
        with pytest.raises(trio.ClosedResourceError):
            sock.write(b"x")
    assert issubclass(net.WriteAfterEndError, trio.ClosedResourceError)


async def test_destroy_twice_is_a_no_op_and_close_comes_once(autojump_clock: MockClock) -> None:
    log: list[Any] = []
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        record(sock, log)
        assert sock.destroy() is sock
        assert sock.destroy() is sock
        assert sock.destroyed
        assert sock.fileno() == -1
        await sock.wait_closed()
        sock.pause().resume().set_keep_alive(True).set_no_delay().end()  # harmless now
        with pytest.raises(trio.ClosedResourceError):
            sock.write(b"x")
    assert log == [("close", False)]


async def test_destroy_with_error_emits_error_then_close_and_fails_queued_callbacks(
    autojump_clock: MockClock,
) -> None:
    log: list[Any] = []
    error = ValueError("mine")
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        record(sock, log)
        sock.pause()
        sock.write(b"x" * 10_000_000, callback=lambda err: log.append(("callback", type(err))))
        sock.destroy(error)
        await sock.wait_closed()
    assert log == [("callback", ValueError), ("error", error), ("close", True)]


async def test_unhandled_connection_error_propagates_out_of_the_client_block(
    autojump_clock: MockClock,
) -> None:
    async with serving() as served:

        async def connect() -> None:
            async with net.connect(served.port, "127.0.0.1") as sock:
                sock.on("data", lambda chunk: None)
                _reset(await served.next_socket())
                await sock.wait_closed()

        with pytest.raises(ConnectionResetError):
            await connect()


async def test_connection_error_with_a_listener_is_emitted_not_raised(
    autojump_clock: MockClock,
) -> None:
    log: list[Any] = []
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        record(sock, log)
        _reset(await served.next_socket())
        await sock.wait_closed()
    assert names(log) == ["connect", "ready", "error", "close"]
    assert isinstance(log[2][1], ConnectionResetError)
    assert log[3] == ("close", True)


async def test_listener_exception_propagates_out_of_the_block_bare(
    autojump_clock: MockClock,
) -> None:
    async with serving(_echo) as served:

        async def connect() -> None:
            async with net.connect(served.port, "127.0.0.1") as sock:
                sock.on("data", lambda chunk: {}["missing"])
                sock.write(b"x")
                await sock.wait_closed()

        with pytest.raises(KeyError):
            await connect()


async def test_leaving_the_block_by_an_exception_destroys_the_socket(
    autojump_clock: MockClock,
) -> None:
    async with serving() as served:
        with pytest.raises(RuntimeError):
            async with net.connect(served.port, "127.0.0.1") as sock:
                raise RuntimeError
        assert sock.destroyed


async def test_aclose_flushes_the_queue_and_half_closes(autojump_clock: MockClock) -> None:
    received = bytearray()

    async def on_connection(sock: net.Socket) -> None:
        sock.on("data", received.extend)

    async with serving(on_connection) as served:
        async with net.connect(served.port, "127.0.0.1") as sock:
            sock.write(b"y" * 3_000_000)
            await sock.aclose()
            await sock.aclose()
            assert sock.destroyed
        await (await served.next_socket()).wait_closed()
    assert received == b"y" * 3_000_000


async def test_write_callback_runs_once_the_chunk_reached_the_kernel(
    autojump_clock: MockClock,
) -> None:
    results: list[object] = []
    async with serving(_echo) as served, net.connect(served.port, "127.0.0.1") as sock:
        sock.on("data", lambda chunk: None)
        sock.write(b"a", callback=results.append)

        async def async_callback(err: BaseException | None) -> None:
            await trio.lowlevel.checkpoint()
            results.append(("async", err))

        sock.write("b", "ascii", async_callback)
        await sock.drain()
    assert results == [None, ("async", None)]


async def test_bad_write_arguments(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        with pytest.raises(TypeError, match="data"):
            sock.write(12)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="callback"):
            sock.write(b"x", callback=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="error"):
            sock.destroy("boom")  # type: ignore[arg-type]


async def test_write_before_connect_is_queued_and_sent_once_connected(
    autojump_clock: MockClock,
) -> None:
    received = bytearray()

    async def on_connection(sock: net.Socket) -> None:
        sock.on("data", received.extend)

    async with serving(on_connection) as served:
        async with net.Socket() as sock:
            assert sock.write(b"early") is True
            assert sock.buffer_size == 5
            await sock.connect(served.port, "127.0.0.1")
            await sock.drain()
            assert sock.buffer_size == 0
        await (await served.next_socket()).wait_closed()
    assert received == b"early"


async def test_socket_wraps_an_existing_fd(autojump_clock: MockClock) -> None:
    left, right = stdsocket.socketpair()
    async with net.Socket(fd=left.detach()) as a, net.Socket(fd=right.detach()) as b:
        got = bytearray()
        b.on("data", got.extend)
        assert a.address() == ""
        a.end(b"over a socketpair")
        await b.wait_closed()
        assert got == b"over a socketpair"
        # a reads ahead: it sees b's FIN, and both sides being done, closes.
        await a.wait_closed()
        assert a.remote_address is None


async def test_socket_rejects_a_datagram_fd_and_leaves_it_open(autojump_clock: MockClock) -> None:
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as udp:
        with pytest.raises(ValueError, match="stream"):
            net.Socket(fd=udp.fileno())
        assert udp.fileno() >= 0


def test_socket_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="allow_half_open"):
        net.Socket(allow_half_open=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="high_water_mark"):
        net.Socket(high_water_mark=-1)
    with pytest.raises(TypeError, match="onread"):
        net.Socket(onread=[])  # type: ignore[arg-type]


async def test_connect_outside_the_block_is_a_runtime_error(autojump_clock: MockClock) -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await net.Socket().connect(1, "127.0.0.1")
