"""The blocking calls of the fd level (SPEC sections 0 and 1) over real loopback sockets.

Timing tests run under ``autojump_clock`` and only wait for things that will
never arrive, so a jump of the mock clock cannot overtake a loopback packet.
Where data must be there before a ``timeout=0`` call, the test waits for the
fd to be readable with no deadline pending (the mock clock never jumps then).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio
import trio.testing
from _fds import BAD_TIMEOUTS, IP_KINDS, Fds

import trionet
from trionet import socket as s

KINDS = ["ipv4", "ipv6", "unix"]


class Pair:
    """A listener and one connection through it: ``client`` to ``server``."""

    def __init__(self, listener: int, client: int, server: int) -> None:
        self.listener = listener
        self.client = client
        self.server = server


def listening_socket(fds: Fds, kind: str, tmp_path: Path, backlog: int = 5) -> int:
    if kind == "unix":
        listener = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        s.bind(listener, str(tmp_path / "listener.sock"))
    else:
        family, host = IP_KINDS[kind]
        listener = fds.socket(family, s.SOCK_STREAM)
        s.bind(listener, (host, 0))
    s.listen(listener, backlog)
    return listener


def client_socket(fds: Fds, kind: str) -> int:
    family = s.AF_UNIX if kind == "unix" else IP_KINDS[kind][0]
    return fds.socket(family, s.SOCK_STREAM)


async def stream_pair(
    fds: Fds,
    kind: str = "ipv4",
    tmp_path: Path | None = None,
    setup: Callable[[int, int], None] | None = None,
) -> Pair:
    """Connect a new client to a new listener; no timeout, so the mock clock never jumps."""
    listener = listening_socket(fds, kind, tmp_path or Path("/nonexistent"))
    client = client_socket(fds, kind)
    if setup is not None:
        setup(listener, client)
    await s.connect(client, s.sock_name(listener))
    server, _remote = await s.accept(listener)
    return Pair(listener, client, fds.track(server))


def udp_socket(fds: Fds, kind: str = "ipv4") -> int:
    family, host = IP_KINDS[kind]
    fd = fds.socket(family, s.SOCK_DGRAM)
    s.bind(fd, (host, 0))
    return fd


async def recv_exactly(fd: int, count: int) -> bytes:
    """Receive until ``count`` bytes arrived (a stream may split them)."""
    received = bytearray()
    for _ in range(count + 1):
        if len(received) >= count:
            break
        chunk = await s.recv(fd, count - len(received), timeout=5)
        assert chunk, "end of stream before all the data arrived"
        received += chunk
    return bytes(received)


async def expect_timeout(call: Awaitable[object], seconds: float) -> trionet.Timeout:
    """Await ``call``; it must raise ``Timeout`` after exactly ``seconds`` of mock time."""
    start = trio.current_time()
    with pytest.raises(trionet.Timeout) as info:
        await call
    assert trio.current_time() - start == pytest.approx(seconds)
    return info.value


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestStreamRoundTrip:
    async def test_connect_accept_send_recv_both_ways(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        assert await s.send(pair.client, b"ping", timeout=5) == 4
        assert await recv_exactly(pair.server, 4) == b"ping"
        assert await s.send(pair.server, b"pong!", timeout=5) == 5
        assert await recv_exactly(pair.client, 5) == b"pong!"

    async def test_accept_returns_the_clients_address(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        listener = listening_socket(fds, kind, tmp_path)
        client = client_socket(fds, kind)
        await s.connect(client, s.sock_name(listener), timeout=5)
        server, remote = await s.accept(listener, timeout=5)
        fds.track(server)
        assert remote == s.sock_name(client)
        if kind == "unix":
            assert remote == ""  # an unbound Unix-domain client has no name
        else:
            assert isinstance(remote, trionet.SockAddr)

    async def test_accepted_fd_is_non_blocking_and_close_on_exec(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        for fd in (pair.listener, pair.client, pair.server):
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
            assert not os.get_inheritable(fd)

    async def test_recvfrom_on_a_stream_reports_the_connected_peer(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        await s.send(pair.client, b"from client", timeout=5)
        assert await s.recvfrom(pair.server, 11, timeout=5) == (
            b"from client",
            s.peer_name(pair.server),
        )
        await s.send(pair.server, b"from server", timeout=5)
        buffer = bytearray(11)
        count, source = await s.recvfrom_into(pair.client, buffer, timeout=5)
        assert source == s.sock_name(pair.listener)
        assert buffer[:count] == b"from server"[:count]

    async def test_large_transfer_arrives_whole_and_in_order(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        payload = bytes(range(256)) * 4096  # 1 MiB
        received = bytearray()

        async def reader() -> None:
            while True:
                chunk = await s.recv(pair.server, timeout=5)
                if not chunk:
                    return
                received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            view = memoryview(payload)
            for _ in range(len(payload)):
                if not view:
                    break
                sent = await s.send(pair.client, view, timeout=5)
                assert 0 < sent <= len(view)
                view = view[sent:]
            s.shutdown(pair.client, "w")
        assert received == payload


class TestOutgoingData:
    async def test_send_of_a_list_is_gathered_into_one_stream_write(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        parts = [b"ab", bytearray(b"cd"), memoryview(b"ef"), b""]
        assert await s.send(pair.client, parts, timeout=5) == 6
        assert await recv_exactly(pair.server, 6) == b"abcdef"

    async def test_sendto_of_a_list_is_one_datagram(self, fds: Fds, ip_kind: str) -> None:
        receiver = udp_socket(fds, ip_kind)
        sender = udp_socket(fds, ip_kind)
        parts = [b"one", bytearray(b"-two"), memoryview(b"-three")]
        assert await s.sendto(sender, s.sock_name(receiver), parts, timeout=5) == 13
        assert await s.sendto(sender, s.sock_name(receiver), (b"x", b"y"), timeout=5) == 2
        assert await s.recvfrom(receiver, timeout=5) == (b"one-two-three", s.sock_name(sender))
        assert (await s.recvfrom(receiver, timeout=5))[0] == b"xy"

    async def test_send_of_a_list_on_connected_udp_is_one_datagram(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        await s.connect(sender, s.sock_name(receiver), timeout=5)
        assert await s.send(sender, [b"ga", b"the", b"red"], timeout=5) == 8
        assert await s.recv(receiver, timeout=5) == b"gathered"

    async def test_str_is_sent_as_utf8(self, fds: Fds, kind: str, tmp_path: Path) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        text = "héllo wörld ✓"
        encoded = text.encode("utf-8")
        assert await s.send(pair.client, text, timeout=5) == len(encoded)
        assert await recv_exactly(pair.server, len(encoded)) == encoded

    async def test_sendto_str_is_sent_as_utf8(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        encoded = "ünï".encode()
        assert await s.sendto(sender, s.sock_name(receiver), "ünï", timeout=5) == len(encoded)
        assert (await s.recvfrom(receiver, timeout=5))[0] == encoded

    @pytest.mark.parametrize("data", [None, 42, [b"ok", "not bytes"], {b"a": 1}])
    async def test_send_of_unsupported_data_is_a_type_error_and_sends_nothing(
        self, fds: Fds, data: object
    ) -> None:
        pair = await stream_pair(fds)
        with pytest.raises(TypeError, match="data"):
            await s.send(pair.client, data, timeout=5)
        await s.send(pair.client, b"only", timeout=5)
        assert await s.recv(pair.server, timeout=5) == b"only"


class TestReceiveIntoBuffers:
    async def test_recv_into_fills_only_offset_and_length(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        await s.send(pair.client, b"abcdef", timeout=5)
        buffer = bytearray(b"..........")
        await trio.lowlevel.wait_readable(pair.server)
        assert await s.recv_into(pair.server, buffer, 2, 3, timeout=5) == 3
        assert buffer == bytearray(b"..abc.....")
        assert await s.recv(pair.server, timeout=5) == b"def"

    async def test_recv_into_defaults_to_the_rest_of_the_buffer(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        await s.send(pair.client, b"xyz", timeout=5)
        buffer = bytearray(6)
        view = memoryview(buffer)
        await trio.lowlevel.wait_readable(pair.server)
        assert await s.recv_into(pair.server, view, 4, timeout=5) == 2
        assert buffer == bytearray(b"\0\0\0\0xy")
        assert await s.recv_into(pair.server, buffer, timeout=5) == 1
        assert buffer[:1] == b"z"

    async def test_recvfrom_into_fills_offset_and_returns_the_sender(
        self, fds: Fds, ip_kind: str
    ) -> None:
        receiver = udp_socket(fds, ip_kind)
        sender = udp_socket(fds, ip_kind)
        assert await s.sendto(sender, s.sock_name(receiver), b"datagram", timeout=5) == 8
        buffer = bytearray(12)
        count, source = await s.recvfrom_into(receiver, buffer, 1, 10, timeout=5)
        assert (count, source) == (8, s.sock_name(sender))
        assert buffer == bytearray(b"\0datagram\0\0\0")

    async def test_recvfrom_into_truncates_a_datagram_to_the_length(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        await s.sendto(sender, s.sock_name(receiver), b"0123456789", timeout=5)
        buffer = bytearray(8)
        count, _source = await s.recvfrom_into(receiver, buffer, 2, 4, timeout=5)
        assert count == 4
        assert buffer == bytearray(b"\0\x000123\0\0")

    @pytest.mark.parametrize(
        ("buffer", "offset", "length", "error"),
        [
            (b"read-only", 0, None, TypeError),
            (memoryview(b"read-only"), 0, None, TypeError),
            ("text", 0, None, TypeError),
            (bytearray(4), 5, None, ValueError),
            (bytearray(4), -1, None, ValueError),
            (bytearray(4), 1, 4, ValueError),
            (bytearray(4), 0, -1, ValueError),
            (bytearray(4), True, None, TypeError),
            (bytearray(4), 0, 2.0, TypeError),
        ],
    )
    async def test_bad_buffer_arguments_fail_without_consuming(
        self, fds: Fds, buffer: object, offset: object, length: object, error: type[Exception]
    ) -> None:
        pair = await stream_pair(fds)
        await s.send(pair.client, b"kept", timeout=5)
        with pytest.raises(error):
            await s.recv_into(pair.server, buffer, offset, length, timeout=5)  # type: ignore[arg-type]
        with pytest.raises(error):
            await s.recvfrom_into(pair.server, buffer, offset, length, timeout=5)  # type: ignore[arg-type]
        assert await s.recv(pair.server, timeout=5) == b"kept"


class TestDatagrams:
    async def test_sendto_and_recvfrom_report_the_peer(self, fds: Fds, ip_kind: str) -> None:
        a = udp_socket(fds, ip_kind)
        b = udp_socket(fds, ip_kind)
        assert await s.sendto(a, s.sock_name(b), b"to b", timeout=5) == 4
        assert await s.recvfrom(b, timeout=5) == (b"to b", s.sock_name(a))
        assert await s.sendto(b, s.sock_name(a), b"to a", timeout=5) == 4
        assert await s.recvfrom(a, timeout=5) == (b"to a", s.sock_name(b))

    async def test_recvfrom_truncates_to_max_bytes_and_drops_the_rest(self, fds: Fds) -> None:
        a = udp_socket(fds)
        b = udp_socket(fds)
        await s.sendto(a, s.sock_name(b), b"0123456789", timeout=5)
        await s.sendto(a, s.sock_name(b), b"next", timeout=5)
        assert (await s.recvfrom(b, 3, timeout=5))[0] == b"012"
        assert (await s.recvfrom(b, timeout=5))[0] == b"next"

    async def test_connected_udp_sends_without_address_until_disconnected(
        self, fds: Fds, ip_kind: str
    ) -> None:
        a = udp_socket(fds, ip_kind)
        b = udp_socket(fds, ip_kind)
        await s.connect(a, s.sock_name(b), timeout=5)
        assert s.peer_name(a) == s.sock_name(b)
        assert await s.send(a, b"connected", timeout=5) == 9
        assert await s.recvfrom(b, timeout=5) == (b"connected", s.sock_name(a))

        s.disconnect(a)
        with pytest.raises(OSError, match="not connected") as info:
            s.peer_name(a)
        assert info.value.errno == errno.ENOTCONN
        with pytest.raises(OSError) as info:  # noqa: PT011 - checked by errno below
            await s.send(a, b"nowhere", timeout=5)
        assert info.value.errno == errno.EDESTADDRREQ
        # sendto with an address still works, and the socket keeps its local port.
        assert await s.sendto(a, s.sock_name(b), b"again", timeout=5) == 5
        assert await s.recvfrom(b, timeout=5) == (b"again", s.sock_name(a))

    async def test_disconnect_on_a_stream_socket_is_a_value_error(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        with pytest.raises(ValueError, match="datagram"):
            s.disconnect(pair.client)


class TestTimeouts:
    """Each blocking call, with nothing to do, raises Timeout after exactly its timeout."""

    async def test_accept_times_out_without_a_client_then_still_accepts(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        error = await expect_timeout(s.accept(listener, timeout=2.5), 2.5)
        assert error.bytes_sent == 0
        with pytest.raises(TimeoutError):
            await s.accept(listener, timeout=1)
        with pytest.raises(trio.TooSlowError):
            await s.accept(listener, timeout=1)
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, s.sock_name(listener))
        server, remote = await s.accept(listener)
        fds.track(server)
        assert remote == s.sock_name(client)

    @pytest.mark.parametrize("call", ["recv", "recv_into", "recvfrom", "recvfrom_into"])
    async def test_stream_receive_times_out_without_data_then_still_receives(
        self, fds: Fds, autojump_clock: trio.testing.MockClock, call: str
    ) -> None:
        pair = await stream_pair(fds)
        buffer = bytearray(16)
        receive: dict[str, Callable[[float | None], Awaitable[object]]] = {
            "recv": lambda t: s.recv(pair.server, timeout=t),
            "recv_into": lambda t: s.recv_into(pair.server, buffer, timeout=t),
            "recvfrom": lambda t: s.recvfrom(pair.server, timeout=t),
            "recvfrom_into": lambda t: s.recvfrom_into(pair.server, buffer, timeout=t),
        }
        error = await expect_timeout(receive[call](3), 3)
        assert error.bytes_sent == 0
        assert error.errno == errno.ETIMEDOUT
        with pytest.raises(TimeoutError):
            await receive[call](0.5)
        with pytest.raises(trio.TooSlowError):
            await receive[call](0.5)
        assert not s.is_eof(pair.server)
        await s.send(pair.client, b"late")
        result = await receive[call](None)
        first = result[0] if isinstance(result, tuple) else result
        data = bytes(buffer[:first]) if isinstance(first, int) else first
        assert data == b"late"

    @pytest.mark.parametrize("call", ["recvfrom", "recvfrom_into"])
    async def test_datagram_receive_times_out_without_data_then_still_receives(
        self, fds: Fds, autojump_clock: trio.testing.MockClock, call: str
    ) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        buffer = bytearray(16)
        receive: dict[str, Callable[[float | None], Awaitable[tuple[object, object]]]] = {
            "recvfrom": lambda t: s.recvfrom(receiver, timeout=t),
            "recvfrom_into": lambda t: s.recvfrom_into(receiver, buffer, timeout=t),
        }
        await expect_timeout(receive[call](1.25), 1.25)
        with pytest.raises(TimeoutError):
            await receive[call](1)
        with pytest.raises(trio.TooSlowError):
            await receive[call](1)
        await s.sendto(sender, s.sock_name(receiver), b"dgram")
        result, source = await receive[call](None)
        assert source == s.sock_name(sender)
        assert (buffer[:5] if call == "recvfrom_into" else result) == b"dgram"

    async def test_connect_times_out_when_the_listeners_backlog_is_full(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        # With backlog 0 Linux queues one connection, then drops SYNs: the next
        # client stays in SYN_SENT (its retransmission is a second away in real
        # time, and the mock clock gets to the deadline first).
        listener = listening_socket(fds, "ipv4", Path(), backlog=0)
        address = s.sock_name(listener)
        hung = None
        for _ in range(8):
            client = fds.socket(s.AF_INET, s.SOCK_STREAM)
            try:
                await s.connect(client, address, timeout=2)
            except trionet.Timeout:
                if s.get_tcp_state(client) == trionet.TcpState.SYN_SENT:
                    hung = client
                    break
        assert hung is not None, "no connect stayed in SYN_SENT with the backlog full"

        error = await expect_timeout(s.connect(hung, address, timeout=4), 4)
        assert error.bytes_sent == 0
        with pytest.raises(TimeoutError):
            await s.connect(hung, address, timeout=1)
        with pytest.raises(trio.TooSlowError):
            await s.connect(hung, address, timeout=1)
        # Still open and still the caller's: its state can be read, then we close it.
        assert s.get_tcp_state(hung) == trionet.TcpState.SYN_SENT
        assert s.error(hung) == 0
        fds.close(hung)
        with pytest.raises(trio.ClosedResourceError):
            s.get_tcp_state(hung)

    async def test_send_times_out_once_the_peer_stops_reading_then_still_sends(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        def small_buffers(listener: int, client: int) -> None:
            s.set_recv_buffer_size(listener, 4096)
            s.set_send_buffer_size(client, 4096)

        pair = await stream_pair(fds, setup=small_buffers)
        chunk = b"x" * 65536
        sent = 0
        error = None
        for _ in range(1000):
            start = trio.current_time()
            try:
                sent += await s.send(pair.client, chunk, timeout=1.5)
            except trionet.Timeout as exc:
                error = exc
                break
        assert error is not None, "the send buffer never filled"
        assert trio.current_time() - start == pytest.approx(1.5)
        assert error.bytes_sent == 0
        assert isinstance(error, TimeoutError)
        assert isinstance(error, trio.TooSlowError)

        received = bytearray()

        async def drain() -> None:
            while chunk := await s.recv(pair.server):
                received.extend(chunk)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            tail = b"after the timeout"
            while tail:
                tail = tail[await s.send(pair.client, tail) :]
            s.shutdown(pair.client, "w")
        assert len(received) == sent + len(b"after the timeout")
        assert received.endswith(b"after the timeout")


class TestZeroTimeout:
    """``timeout=0`` tries once: data that is there is returned, else Timeout at once."""

    async def test_recv_with_zero_timeout_returns_queued_data_without_time_passing(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        pair = await stream_pair(fds)
        await s.send(pair.client, b"ready")
        await trio.lowlevel.wait_readable(pair.server)
        start = trio.current_time()
        assert await s.recv(pair.server, timeout=0) == b"ready"
        assert trio.current_time() == start

    async def test_recv_with_zero_timeout_raises_at_once_when_nothing_is_queued(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        pair = await stream_pair(fds)
        buffer = bytearray(4)
        for call in (
            s.recv(pair.server, timeout=0),
            s.recv_into(pair.server, buffer, timeout=0),
            s.recvfrom(pair.server, timeout=0),
            s.recvfrom_into(pair.server, buffer, timeout=0),
        ):
            error = await expect_timeout(call, 0)
            assert error.bytes_sent == 0

    async def test_accept_with_zero_timeout(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        await expect_timeout(s.accept(listener, timeout=0), 0)
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, s.sock_name(listener))
        await trio.lowlevel.wait_readable(listener)
        start = trio.current_time()
        server, _remote = await s.accept(listener, timeout=0)
        fds.track(server)
        assert trio.current_time() == start

    async def test_udp_receive_with_zero_timeout(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        await expect_timeout(s.recvfrom(receiver, timeout=0), 0)
        await s.sendto(sender, s.sock_name(receiver), b"now", timeout=0)
        await trio.lowlevel.wait_readable(receiver)
        start = trio.current_time()
        assert await s.recvfrom(receiver, timeout=0) == (b"now", s.sock_name(sender))
        assert trio.current_time() == start

    async def test_send_with_zero_timeout_sends_when_there_is_room(
        self, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        pair = await stream_pair(fds)
        start = trio.current_time()
        assert await s.send(pair.client, b"room", timeout=0) == 4
        assert trio.current_time() == start
        assert await s.recv(pair.server) == b"room"


@pytest.mark.parametrize(("bad", "error"), BAD_TIMEOUTS)
class TestBadTimeout:
    """A bad ``timeout`` fails before any system call: nothing is sent, taken or started."""

    async def test_recv_family_keeps_the_queued_data(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        pair = await stream_pair(fds)
        await s.send(pair.client, b"untouched", timeout=5)
        await trio.lowlevel.wait_readable(pair.server)
        buffer = bytearray(16)
        for call in (
            s.recv(pair.server, timeout=bad),  # type: ignore[arg-type]
            s.recv_into(pair.server, buffer, timeout=bad),  # type: ignore[arg-type]
            s.recvfrom(pair.server, timeout=bad),  # type: ignore[arg-type]
            s.recvfrom_into(pair.server, buffer, timeout=bad),  # type: ignore[arg-type]
        ):
            with pytest.raises(error, match="timeout"):
                await call
        assert buffer == bytearray(16)
        assert s.pending(pair.server) == 9
        assert await s.recv(pair.server, timeout=5) == b"untouched"

    async def test_send_and_sendto_send_nothing(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        pair = await stream_pair(fds)
        with pytest.raises(error, match="timeout"):
            await s.send(pair.client, b"lost", timeout=bad)  # type: ignore[arg-type]
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        with pytest.raises(error, match="timeout"):
            await s.sendto(sender, s.sock_name(receiver), b"lost", timeout=bad)  # type: ignore[arg-type]
        await s.send(pair.client, b"first", timeout=5)
        assert await recv_exactly(pair.server, 5) == b"first"
        await s.sendto(sender, s.sock_name(receiver), b"first", timeout=5)
        assert (await s.recvfrom(receiver, timeout=5))[0] == b"first"

    async def test_accept_leaves_the_connection_queued(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, s.sock_name(listener), timeout=5)
        with pytest.raises(error, match="timeout"):
            await s.accept(listener, timeout=bad)  # type: ignore[arg-type]
        server, remote = await s.accept(listener, timeout=5)
        fds.track(server)
        assert remote == s.sock_name(client)

    async def test_connect_does_not_start(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(error, match="timeout"):
            await s.connect(client, s.sock_name(listener), timeout=bad)  # type: ignore[arg-type]
        assert s.get_tcp_state(client) == trionet.TcpState.CLOSED
        with pytest.raises(OSError, match="not connected"):
            s.peer_name(client)

    async def test_checked_before_the_fd_is_looked_at(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        fds.close(fd)
        with pytest.raises(error, match="timeout"):
            await s.recv(fd, timeout=bad)  # type: ignore[arg-type]


class TestCloseWakesWaiters:
    async def test_close_from_another_task_wakes_a_blocked_recv(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        outcome: list[BaseException] = []

        async def blocked_recv() -> None:
            with pytest.raises(trio.ClosedResourceError) as info:
                await s.recv(pair.server)
            outcome.append(info.value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_recv)
            await trio.testing.wait_all_tasks_blocked()
            fds.close(pair.server)
        assert len(outcome) == 1

    async def test_close_from_another_task_wakes_a_blocked_accept(self, fds: Fds) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        outcome: list[BaseException] = []

        async def blocked_accept() -> None:
            with pytest.raises(trio.ClosedResourceError) as info:
                await s.accept(listener)
            outcome.append(info.value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked_accept)
            await trio.testing.wait_all_tasks_blocked()
            fds.close(listener)
        assert len(outcome) == 1

    async def test_close_wakes_a_blocked_recvfrom_and_a_blocked_recv_into_together(
        self, fds: Fds
    ) -> None:
        receiver = udp_socket(fds)
        woken: list[str] = []

        async def blocked(name: str, call: Callable[[], Awaitable[object]]) -> None:
            with pytest.raises(trio.ClosedResourceError):
                await call()
            woken.append(name)

        pair = await stream_pair(fds)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(blocked, "recvfrom", lambda: s.recvfrom(receiver))
            nursery.start_soon(blocked, "recv_into", lambda: s.recv_into(pair.server, bytearray(4)))
            await trio.testing.wait_all_tasks_blocked()
            fds.close(receiver)
            fds.close(pair.server)
        assert sorted(woken) == ["recv_into", "recvfrom"]


class TestUseAfterClose:
    async def test_every_blocking_call_after_close_is_closed_resource_error(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        listener, client = pair.listener, pair.client
        address = s.sock_name(listener)
        fds.close(listener)
        fds.close(client)
        buffer = bytearray(4)
        for call in (
            s.accept(listener, timeout=5),
            s.connect(client, address, timeout=5),
            s.send(client, b"x", timeout=5),
            s.sendto(client, address, b"x", timeout=5),
            s.recv(client, timeout=5),
            s.recv_into(client, buffer, timeout=5),
            s.recvfrom(client, timeout=5),
            s.recvfrom_into(client, buffer, timeout=5),
        ):
            with pytest.raises(trio.ClosedResourceError):
                await call

    async def test_close_twice_is_a_no_op(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        fds.close(fd)
        s.close(fd)
        with pytest.raises(trio.ClosedResourceError):
            s.sock_name(fd)


class TestEndOfStream:
    async def test_recv_after_peer_closes_returns_empty_and_sets_eof(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        assert not s.is_eof(pair.server)
        await s.send(pair.client, b"last words", timeout=5)
        fds.close(pair.client)
        assert await recv_exactly(pair.server, 10) == b"last words"
        assert not s.is_eof(pair.server)
        assert await s.recv(pair.server, timeout=5) == b""
        assert s.is_eof(pair.server)
        assert await s.recv(pair.server, timeout=5) == b""
        assert s.is_eof(pair.server)

    async def test_recv_into_returns_zero_at_end_and_sets_eof(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        s.shutdown(pair.client, "w")
        assert await s.recv_into(pair.server, bytearray(8), timeout=5) == 0
        assert s.is_eof(pair.server)

    async def test_eof_flag_clears_after_a_non_empty_receive(self, fds: Fds) -> None:
        # A UDP socket receiving an empty datagram is not at end of stream;
        # for a stream, eof reflects the last receive only.
        pair = await stream_pair(fds)
        await s.send(pair.client, b"data", timeout=5)
        assert await recv_exactly(pair.server, 4) == b"data"
        assert not s.is_eof(pair.server)
        s.shutdown(pair.client, "w")
        assert await s.recv(pair.server, timeout=5) == b""
        assert s.is_eof(pair.server)

    async def test_empty_datagram_is_not_end_of_stream(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        await s.sendto(sender, s.sock_name(receiver), b"", timeout=5)
        assert await s.recvfrom(receiver, timeout=5) == (b"", s.sock_name(sender))
        assert not s.is_eof(receiver)

    async def test_half_close_peer_reads_empty_while_the_other_direction_works(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = await stream_pair(fds, kind, tmp_path)
        await s.send(pair.client, b"request", timeout=5)
        s.shutdown(pair.client, "w")
        assert await recv_exactly(pair.server, 7) == b"request"
        assert await s.recv(pair.server, timeout=5) == b""
        assert s.is_eof(pair.server)
        assert await s.send(pair.server, b"response", timeout=5) == 8
        assert await recv_exactly(pair.client, 8) == b"response"
        assert not s.is_eof(pair.client)
        s.shutdown(pair.server, "w")
        assert await s.recv(pair.client, timeout=5) == b""
        assert s.is_eof(pair.client)

    async def test_send_after_own_write_shutdown_is_broken_pipe(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        s.shutdown(pair.client, "w")
        with pytest.raises(BrokenPipeError):
            await s.send(pair.client, b"too late", timeout=5)


class TestConcurrencyAndCancellation:
    async def test_two_tasks_receiving_at_once_is_busy_resource_error(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(s.recv, pair.server)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await s.recv(pair.server, timeout=5)
            with pytest.raises(trio.BusyResourceError):
                await s.recv_into(pair.server, bytearray(4), timeout=5)
            nursery.cancel_scope.cancel()
        # The first reader was cancelled cleanly: the fd serves the next one.
        await s.send(pair.client, b"after", timeout=5)
        assert await s.recv(pair.server, timeout=5) == b"after"

    async def test_two_tasks_accepting_at_once_is_busy_resource_error(self, fds: Fds) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(s.accept, listener)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await s.accept(listener, timeout=5)
            nursery.cancel_scope.cancel()

    async def test_a_reader_and_a_writer_may_wait_at_the_same_time(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        received: list[bytes] = []

        async def reader() -> None:
            received.append(await s.recv(pair.client, timeout=5))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            assert await s.send(pair.client, b"both ways", timeout=5) == 9
            assert await recv_exactly(pair.server, 9) == b"both ways"
            await s.send(pair.server, b"reply", timeout=5)
        assert received == [b"reply"]

    async def test_cancelled_recv_leaves_the_data_for_the_next_recv(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        cancelled: list[bool] = []

        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def waiting_recv() -> None:
                with scope:
                    await s.recv(pair.server)
                cancelled.append(scope.cancelled_caught)

            nursery.start_soon(waiting_recv)
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()
        assert cancelled == [True]
        await s.send(pair.client, b"not lost", timeout=5)
        assert await recv_exactly(pair.server, 8) == b"not lost"

    async def test_recv_in_a_cancelled_scope_consumes_nothing(self, fds: Fds) -> None:
        pair = await stream_pair(fds)
        await s.send(pair.client, b"queued", timeout=5)
        await trio.lowlevel.wait_readable(pair.server)
        with trio.CancelScope() as scope:
            scope.cancel()
            await s.recv(pair.server)
        assert scope.cancelled_caught
        assert s.pending(pair.server) == 6
        assert await s.recv(pair.server, timeout=5) == b"queued"

    async def test_cancelled_accept_leaves_the_listener_usable(self, fds: Fds) -> None:
        listener = listening_socket(fds, "ipv4", Path())
        with trio.CancelScope() as scope:
            scope.cancel()
            await s.accept(listener)
        assert scope.cancelled_caught
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, s.sock_name(listener), timeout=5)
        server, _remote = await s.accept(listener, timeout=5)
        fds.track(server)


class TestConnectFailures:
    async def test_connect_to_a_closed_port_is_refused(self, fds: Fds, ip_kind: str) -> None:
        family, host = IP_KINDS[ip_kind]
        # A bound socket that does not listen holds the port: the kernel answers RST.
        holder = fds.socket(family, s.SOCK_STREAM)
        s.bind(holder, (host, 0))
        client = fds.socket(family, s.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):
            await s.connect(client, s.sock_name(holder), timeout=5)
        # The fd is still open and the caller's.
        assert s.domain(client) == family
        assert s.error(client) == 0

    async def test_unix_connect_to_a_bound_socket_that_does_not_listen_is_refused(
        self, fds: Fds, tmp_path: Path
    ) -> None:
        holder = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        path = str(tmp_path / "not-listening.sock")
        s.bind(holder, path)
        client = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):
            await s.connect(client, path, timeout=5)

    async def test_unix_connect_to_a_missing_path_is_file_not_found(
        self, fds: Fds, tmp_path: Path
    ) -> None:
        client = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        with pytest.raises(FileNotFoundError):
            await s.connect(client, str(tmp_path / "nobody-here.sock"), timeout=5)
