"""``net.Socket`` reading modes, flow control, big transfers, timeouts, options."""

from __future__ import annotations

import socket as stdsocket

import pytest
import trio
from _fds import kernel_socket
from _net_helpers import serving, until
from trio.testing import MockClock

from trionet import net
from trionet import socket as fdlevel

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True
LOOPBACK_ONLY = {
    "test_reads_ask_64_kib_and_256_kib_only_while_a_backlog_lasts": "a stdlib socketpair",
}


async def _echo(sock: net.Socket) -> None:
    sock.on("data", sock.write)


@pytest.mark.parametrize("first", [b"", b"one"], ids=["before-reading", "while-waiting"])
async def test_pause_leaves_the_data_in_the_kernel_and_resume_delivers_it(
    first: bytes, autojump_clock: MockClock
) -> None:
    got = bytearray()
    async with serving(_echo) as served, net.connect(served.port, "127.0.0.1") as sock:
        sock.on("data", got.extend)
        if first:
            sock.write(first)
            await until(lambda: got == first)  # the reader now waits: pause ends that wait
        sock.pause()
        assert sock.is_paused()
        sock.write(b"while paused")
        await trio.sleep(1)
        assert got == first
        assert fdlevel.pending(sock.fileno()) == 12  # unread, in the kernel
        assert sock.resume() is sock
        assert not sock.is_paused()
        await until(lambda: len(got) == len(first) + 12)
    assert got == first + b"while paused"


async def test_paused_socket_pushes_back_on_the_peer(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        sock.on("data", lambda chunk: None)
        sock.pause()
        peer = await served.next_socket()
        writes = 0
        while peer.write(b"z" * 65536):  # the kernel buffers fill up: write says stop
            writes += 1
            await trio.sleep(0.001)
            assert writes < 1000
        assert peer.buffer_size >= 65536
        drained = trio.Event()
        peer.on("drain", drained.set)
        sock.resume()
        await drained.wait()


async def test_pause_while_connecting_holds_data_until_resume(autojump_clock: MockClock) -> None:
    got = bytearray()

    async def greet(sock: net.Socket) -> None:
        sock.write(b"greeting")

    async with serving(greet) as served, net.Socket() as sock:
        sock.on("data", got.extend)
        sock.pause()
        await sock.connect(served.port, "127.0.0.1")
        await trio.sleep(0.05)
        assert got == b""
        sock.resume()
        await until(lambda: got)
    assert got == b"greeting"


async def test_set_encoding_decodes_a_character_split_across_chunks(
    autojump_clock: MockClock,
) -> None:
    chunks: list[object] = []
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        assert sock.set_encoding("utf-8") is sock
        sock.on("data", chunks.append)
        peer = await served.next_socket()
        euro = "€".encode()
        peer.write(euro[:1])
        await trio.sleep(0.05)
        peer.write(euro[1:] + b"!")
        await until(lambda: "".join(map(str, chunks)) == "€!")
    assert all(isinstance(chunk, str) for chunk in chunks)
    with pytest.raises(ValueError, match="encoding"):
        net.Socket().set_encoding("no-such-codec")


async def test_onread_reuses_one_buffer_and_false_pauses(autojump_clock: MockClock) -> None:
    buffer = bytearray(4)
    seen: list[tuple[int, bytes, bool]] = []

    def callback(nread: int, buf: bytearray) -> bool:
        seen.append((nread, bytes(buf[:nread]), buf is buffer))
        return False

    async with serving(_echo) as served:
        onread = {"buffer": buffer, "callback": callback}
        async with net.connect(served.port, "127.0.0.1", onread=onread) as sock:
            sock.write(b"abcdefgh")
            await until(lambda: seen)
            assert sock.is_paused()
            sock.resume()
            await until(lambda: sum(entry[0] for entry in seen) == 8)
    assert b"".join(entry[1] for entry in seen) == b"abcdefgh"
    assert all(entry[2] for entry in seen)


async def test_pulling_with_receive_some_and_async_for(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        peer = await served.next_socket()
        peer.end(b"pulled")
        chunks = [chunk async for chunk in sock]
        assert b"".join(chunks) == b"pulled"
        assert await sock.receive_some() == b""
        assert sock.bytes_read == 6


async def test_pulling_while_flowing_is_busy(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        sock.on("data", lambda chunk: None)
        with pytest.raises(trio.BusyResourceError):
            await sock.receive_some()
        sock.pause()
        peer = await served.next_socket()
        peer.write(b"now pulled")
        assert await sock.receive_some(100) == b"now pulled"


async def test_a_client_that_never_reads_makes_write_return_false_then_drain(
    autojump_clock: MockClock,
) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        peer = await served.next_socket()  # never reads (no 'data' listener)
        results = [sock.write(b"q" * 65536) for _ in range(200)]
        assert results[-1] is False
        assert sock.buffer_size >= sock.bytes_written - 200 * 65536 + 65536
        drained = trio.Event()
        sock.on("drain", drained.set)
        received = 0
        while received < 200 * 65536:
            received += len(await peer.receive_some(1 << 20))
        await drained.wait()
        assert sock.buffer_size == 0


async def test_one_mib_transfer_counts_bytes_read_and_written(autojump_clock: MockClock) -> None:
    async with serving(_echo) as served, net.connect(served.port, "127.0.0.1") as sock:
        got = bytearray()
        sock.on("data", got.extend)
        for _ in range(16):
            sock.write(b"m" * 65536)
        await until(lambda: len(got) == 1 << 20)
        peer = await served.next_socket()
        assert sock.bytes_written == peer.bytes_read == peer.bytes_written == 1 << 20
        assert sock.bytes_read == 1 << 20


async def test_reads_ask_64_kib_and_256_kib_only_while_a_backlog_lasts(
    autojump_clock: MockClock,
) -> None:
    # A Unix stream's recv takes everything queued (up to the sender's buffer,
    # 208 KiB by default), so a 'data' chunk is exactly what its read asked
    # whenever more than that was waiting.
    left, right = stdsocket.socketpair()
    right.setblocking(False)
    sizes: list[int] = []

    async def burst() -> None:
        queued = right.send(b"q" * 400_000)
        assert 65536 < queued < 262144
        await until(lambda: sum(sizes) == queued)
        # 64 KiB first, then (that read was full) the rest in one read of up
        # to 256 KiB; that short read sends the next read back to 64 KiB.
        assert sizes == [65536, queued - 65536]
        sizes.clear()

    try:
        async with net.Socket(fd=left.detach()) as sock:
            sock.on("data", lambda chunk: sizes.append(len(chunk)))
            await burst()
            await burst()
    finally:
        left.close()
        right.close()


async def test_a_ten_mib_string_in_one_write_arrives_intact(autojump_clock: MockClock) -> None:
    text = "".join(chr(0x41 + i % 26) for i in range(1 << 10)) * (10 << 10)
    got = bytearray()

    async def on_connection(sock: net.Socket) -> None:
        sock.on("data", got.extend)

    async with serving(on_connection) as served:
        async with net.connect(served.port, "127.0.0.1") as sock:
            sock.end(text)
        await (await served.next_socket()).wait_closed()
    assert got.decode() == text


async def test_idle_timeout_fires_and_rearms_after_activity(autojump_clock: MockClock) -> None:
    fired: list[float] = []
    async with serving(_echo) as served, net.connect(served.port, "127.0.0.1") as sock:
        sock.on("data", lambda chunk: None)
        start = trio.current_time()
        assert sock.set_timeout(5, lambda: fired.append(trio.current_time() - start)) is sock
        sock.on("timeout", lambda: fired.append(-1))
        assert sock.timeout == 5
        await trio.sleep(12)
        assert fired == [pytest.approx(5), -1]  # once per idle stretch
        sock.write(b"activity")
        await trio.sleep(12)
        assert fired[2:] == [-1]
        assert not sock.destroyed  # a timeout only notifies
        sock.set_timeout(0)
        assert sock.timeout is None
        await trio.sleep(20)
        assert len(fired) == 3


async def test_set_timeout_checks_its_arguments(autojump_clock: MockClock) -> None:
    sock = net.Socket()
    with pytest.raises(TypeError):
        sock.set_timeout("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seconds"):
        sock.set_timeout(seconds=-1)
    with pytest.raises(TypeError, match="callback"):
        sock.set_timeout(1, 5)  # type: ignore[arg-type]


async def test_keep_alive_and_no_delay_are_set_on_the_fd(autojump_clock: MockClock) -> None:
    async with serving() as served, net.Socket() as sock:
        assert sock.set_no_delay() is sock  # before connect: applied once connected
        await sock.connect(served.port, "127.0.0.1")
        assert sock.set_keep_alive(True, 30) is sock
        with kernel_socket(sock.fileno()) as raw:
            assert raw.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY)
            assert raw.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_KEEPALIVE)
            assert raw.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPIDLE) == 30
            sock.set_keep_alive(False).set_no_delay(False)
            assert not raw.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_KEEPALIVE)
            assert not raw.getsockopt(stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY)


async def test_addresses_and_properties(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1") as sock:
        peer = await served.next_socket()
        assert sock.address() == net.AddressInfo("127.0.0.1", "IPv4", sock.local_port)
        assert (sock.local_address, sock.local_family) == ("127.0.0.1", "IPv4")
        assert (sock.remote_address, sock.remote_port, sock.remote_family) == (
            "127.0.0.1",
            served.port,
            "IPv4",
        )
        assert peer.remote_port == sock.local_port
        assert not sock.encrypted
        assert not sock.allow_half_open
        assert sock.ref() is sock
        assert sock.unref() is sock
        sock.destroy()
        await sock.wait_closed()
        assert sock.address() is None
        assert sock.local_port is None
        assert sock.remote_address == "127.0.0.1"  # SPEC 8.18: still readable
