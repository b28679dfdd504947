"""SPEC section 5: ``trionet.compat.socket``, the fd level as plain blocking calls.

Every test is synchronous and uses real loopback sockets. Timeouts are real
but short (0.1 s), with generous upper bounds, so a loaded machine cannot
make them fail; only a wait for something that never arrives is timed.
Threads, close-wakes-waiters and hand-over to async code are in
``test_compat_socket_threads.py``, argument checking in
``test_compat_socket_args.py``, ``mports`` in ``test_compat_socket_mports.py``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from _compat_net import (
    GUARD,
    KINDS,
    LATE,
    SHORT,
    Pair,
    Worker,
    connected_pair,
    elapsed,
    expect_timeout,
    family_of,
    recv_exactly,
    stream_listener,
    udp_socket,
    wait_until_sleeping,
)
from _fds import IP_KINDS, Fds
from trionet.compat import socket as c
from trionet.compat._drive_sync import wake_fd

import trionet


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def expect_at_once(call: Callable[[], object]) -> None:
    """``timeout=0``: ``Timeout`` without waiting."""
    with elapsed() as took, pytest.raises(trionet.Timeout, match="timeout=0"):
        call()
    assert took[0] < LATE / 4


def syn_sent_client(fds: Fds) -> tuple[int, int]:
    """A listener whose backlog is full and a client stuck connecting to it.

    With backlog 0 Linux queues one connection, then drops SYNs: the next
    client stays in SYN_SENT (its retransmission is a second away).
    """
    listener = stream_listener(fds, "ipv4", Path(), backlog=0)
    queued = fds.socket(c.AF_INET, c.SOCK_STREAM)
    c.connect(queued, c.sock_name(listener), timeout=GUARD)
    hung = fds.socket(c.AF_INET, c.SOCK_STREAM)
    with pytest.raises(trionet.Timeout):
        c.connect(hung, c.sock_name(listener), timeout=0)
    assert c.get_tcp_state(hung) == trionet.TcpState.SYN_SENT
    return listener, hung


def fill_send_buffer(pair: Pair) -> int:
    """Shrink the buffers and send until the client's send buffer stays full.

    Returns the bytes sent. The kernel moves data on to the receiver for a
    moment after a send, so "full" is a send that made no progress in 0.05 s.
    """
    c.set_recv_buffer_size(pair.server, 4096)
    c.set_send_buffer_size(pair.client, 4096)
    sent = 0
    for _ in range(1000):
        try:
            sent += c.send(pair.client, b"x" * 65536, timeout=0.05)
        except trionet.Timeout:
            return sent
    pytest.fail("the send buffer never filled")


class TestStreams:
    def test_connect_accept_send_recv_both_ways(self, fds: Fds, kind: str, tmp_path: Path) -> None:
        pair = connected_pair(fds, kind, tmp_path)
        assert c.send(pair.client, b"ping", timeout=GUARD) == 4
        assert recv_exactly(pair.server, 4) == b"ping"
        assert c.send(pair.server, b"pong!") == 5
        assert c.recv(pair.client, 5) == b"pong!"

    def test_accept_returns_a_non_blocking_close_on_exec_fd_and_the_peer(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        listener = stream_listener(fds, kind, tmp_path)
        client = fds.socket(family_of(kind), c.SOCK_STREAM)
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        server, remote = c.accept(listener, timeout=GUARD)
        fds.track(server)
        assert remote == c.sock_name(client)
        assert isinstance(remote, str if kind == "unix" else trionet.SockAddr)
        assert c.peer_name(server) == c.sock_name(client)
        assert fcntl.fcntl(server, fcntl.F_GETFL) & os.O_NONBLOCK
        assert not os.get_inheritable(server)

    def test_recv_into_fills_only_offset_and_length(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.send(pair.client, b"abcdef")
        buffer = bytearray(b"..........")
        assert c.recv_into(pair.server, buffer, 2, 3, timeout=GUARD) == 3
        assert buffer == bytearray(b"..abc.....")
        view = memoryview(bytearray(6))
        assert c.recv_into(pair.server, view, 3, timeout=GUARD) == 3
        assert view.tobytes() == b"\0\0\0def"

    def test_recvfrom_and_recvfrom_into_report_the_connected_peer(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = connected_pair(fds, kind, tmp_path)
        c.send(pair.client, b"from client")
        assert c.recvfrom(pair.server, 11, timeout=GUARD) == (
            b"from client",
            c.peer_name(pair.server),
        )
        c.send(pair.server, b"from server")
        buffer = bytearray(11)
        count, source = c.recvfrom_into(pair.client, buffer, timeout=GUARD)
        assert source == c.sock_name(pair.listener)
        assert buffer[:count] == b"from server"[:count]

    def test_str_is_sent_as_utf8_and_a_list_is_gathered(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = connected_pair(fds, kind, tmp_path)
        encoded = "héllo ✓".encode()
        assert c.send(pair.client, "héllo ✓") == len(encoded)
        assert recv_exactly(pair.server, len(encoded)) == encoded
        parts = [b"ab", bytearray(b"cd"), memoryview(b"ef"), b""]
        assert c.send(pair.client, parts) == 6
        assert recv_exactly(pair.server, 6) == b"abcdef"

    def test_a_large_transfer_blocks_the_sender_and_arrives_whole(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = connected_pair(fds, kind, tmp_path)
        payload = bytes(range(256)) * 8192  # 2 MiB: more than the socket buffers hold

        def read_all() -> bytes:
            received = bytearray()
            while chunk := c.recv(pair.server, timeout=GUARD):
                received += chunk
            return bytes(received)

        reader = Worker(read_all)
        view = memoryview(payload)
        for _ in range(len(payload)):
            if not view:
                break
            sent = c.send(pair.client, view, timeout=GUARD)
            assert 0 < sent <= len(view)
            view = view[sent:]
        c.shutdown(pair.client, "w")
        assert reader.outcome() == payload


class TestDatagrams:
    def test_sendto_and_recvfrom_report_the_peer(self, fds: Fds, ip_kind: str) -> None:
        a = udp_socket(fds, ip_kind)
        b = udp_socket(fds, ip_kind)
        assert c.sendto(a, c.sock_name(b), b"to b", timeout=GUARD) == 4
        assert c.recvfrom(b, timeout=GUARD) == (b"to b", c.sock_name(a))
        assert c.sendto(b, c.sock_name(a), "to a ✓") == len("to a ✓".encode())
        assert c.recvfrom(a) == ("to a ✓".encode(), c.sock_name(b))

    def test_a_gathered_list_is_one_datagram(self, fds: Fds, ip_kind: str) -> None:
        receiver = udp_socket(fds, ip_kind)
        sender = udp_socket(fds, ip_kind)
        parts = [b"one", bytearray(b"-two"), memoryview(b"-three")]
        assert c.sendto(sender, c.sock_name(receiver), parts) == 13
        assert c.recvfrom(receiver, timeout=GUARD) == (b"one-two-three", c.sock_name(sender))

    def test_recvfrom_into_fills_offset_and_length_and_truncates(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        c.sendto(sender, c.sock_name(receiver), b"0123456789")
        buffer = bytearray(8)
        assert c.recvfrom_into(receiver, buffer, 2, 4, timeout=GUARD) == (4, c.sock_name(sender))
        assert buffer == bytearray(b"\0\x000123\0\0")
        c.sendto(sender, c.sock_name(receiver), b"xyz")
        assert c.recvfrom(receiver, 2, timeout=GUARD) == (b"xy", c.sock_name(sender))

    def test_connected_udp_sends_and_receives_without_addresses(
        self, fds: Fds, ip_kind: str
    ) -> None:
        a = udp_socket(fds, ip_kind)
        b = udp_socket(fds, ip_kind)
        c.connect(a, c.sock_name(b), timeout=0)
        c.connect(b, c.sock_name(a), timeout=GUARD)
        assert c.send(a, [b"ga", b"the", b"red"]) == 8
        assert c.recv(b, timeout=GUARD) == b"gathered"
        c.send(b, b"reply")
        buffer = bytearray(5)
        assert c.recv_into(a, buffer, timeout=GUARD) == 5
        assert buffer == b"reply"

    def test_unix_datagrams_carry_the_senders_path(self, fds: Fds, tmp_path: Path) -> None:
        receiver = fds.socket(c.AF_UNIX, c.SOCK_DGRAM)
        sender = fds.socket(c.AF_UNIX, c.SOCK_DGRAM)
        c.bind(receiver, str(tmp_path / "receiver.sock"))
        c.bind(sender, str(tmp_path / "sender.sock"))
        assert c.sendto(sender, str(tmp_path / "receiver.sock"), b"by path", timeout=GUARD) == 7
        assert c.recvfrom(receiver, timeout=GUARD) == (b"by path", str(tmp_path / "sender.sock"))
        c.sendto(receiver, str(tmp_path / "sender.sock"), [b"back", b"!"])
        buffer = bytearray(8)
        assert c.recvfrom_into(sender, buffer, timeout=GUARD) == (
            5,
            str(tmp_path / "receiver.sock"),
        )
        expect_timeout(lambda: c.recvfrom(receiver, timeout=SHORT))

    def test_empty_datagram_is_not_end_of_stream(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        c.sendto(sender, c.sock_name(receiver), b"")
        assert c.recvfrom(receiver, timeout=GUARD) == (b"", c.sock_name(sender))
        assert not c.is_eof(receiver)


class TestTimeouts:
    """Each call, with nothing to do, raises ``Timeout`` after its timeout, then still works."""

    def test_accept(self, fds: Fds, kind: str, tmp_path: Path) -> None:
        listener = stream_listener(fds, kind, tmp_path)
        expect_timeout(lambda: c.accept(listener, timeout=SHORT))
        client = fds.socket(family_of(kind), c.SOCK_STREAM)
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        server, remote = c.accept(listener, timeout=SHORT)
        fds.track(server)
        assert remote == c.sock_name(client)

    @pytest.mark.parametrize("call", ["recv", "recv_into", "recvfrom", "recvfrom_into"])
    def test_stream_receive(self, fds: Fds, call: str) -> None:
        pair = connected_pair(fds)
        buffer = bytearray(16)
        receive: dict[str, Callable[[float | None], object]] = {
            "recv": lambda t: c.recv(pair.server, timeout=t),
            "recv_into": lambda t: c.recv_into(pair.server, buffer, timeout=t),
            "recvfrom": lambda t: c.recvfrom(pair.server, timeout=t),
            "recvfrom_into": lambda t: c.recvfrom_into(pair.server, buffer, timeout=t),
        }
        expect_timeout(lambda: receive[call](SHORT))
        with pytest.raises(TimeoutError, match=f"{call} timed out after 0.05 s"):
            receive[call](0.05)
        assert not c.is_eof(pair.server)
        c.send(pair.client, b"late")
        result = receive[call](None)
        first = result[0] if isinstance(result, tuple) else result
        assert (bytes(buffer[:first]) if isinstance(first, int) else first) == b"late"

    @pytest.mark.parametrize("call", ["recvfrom", "recvfrom_into"])
    def test_datagram_receive(self, fds: Fds, ip_kind: str, call: str) -> None:
        receiver = udp_socket(fds, ip_kind)
        sender = udp_socket(fds, ip_kind)
        buffer = bytearray(16)
        receive: dict[str, Callable[[float | None], tuple[object, object]]] = {
            "recvfrom": lambda t: c.recvfrom(receiver, timeout=t),
            "recvfrom_into": lambda t: c.recvfrom_into(receiver, buffer, timeout=t),
        }
        expect_timeout(lambda: receive[call](SHORT))
        c.sendto(sender, c.sock_name(receiver), b"dgram")
        result, source = receive[call](GUARD)
        assert source == c.sock_name(sender)
        assert (buffer[:5] if call == "recvfrom_into" else result) == b"dgram"

    def test_connect_while_the_listeners_backlog_is_full(self, fds: Fds) -> None:
        listener, hung = syn_sent_client(fds)
        expect_timeout(lambda: c.connect(hung, c.sock_name(listener), timeout=SHORT))
        # Still open, still connecting, and still the caller's.
        assert c.get_tcp_state(hung) == trionet.TcpState.SYN_SENT
        assert c.error(hung) == 0

    def test_a_unix_connect_to_a_full_backlog_waits_without_spinning(
        self, fds: Fds, tmp_path: Path
    ) -> None:
        # Linux refuses (EAGAIN) rather than queues such a connect, and poll
        # reports an unconnected Unix stream socket as hung up at once: a wait
        # that retries on every poll result spins the CPU for the whole timeout.
        listener = stream_listener(fds, "unix", tmp_path, backlog=0)
        queued = fds.socket(c.AF_UNIX, c.SOCK_STREAM)
        c.connect(queued, c.sock_name(listener), timeout=GUARD)
        client = fds.socket(c.AF_UNIX, c.SOCK_STREAM)
        cpu = time.thread_time()
        expect_timeout(lambda: c.connect(client, c.sock_name(listener), timeout=0.3), 0.3)
        assert time.thread_time() - cpu < 0.1

    def test_a_stray_wake_up_does_not_end_a_connect(self, fds: Fds) -> None:
        # Closing a socket this thread waited on earlier may leave its wake-up
        # fd signalled; the next wait must not take that for "connected".
        listener, hung = syn_sent_client(fds)
        os.eventfd_write(wake_fd(), 1)
        expect_timeout(lambda: c.connect(hung, c.sock_name(listener), timeout=SHORT))
        assert c.get_tcp_state(hung) == trionet.TcpState.SYN_SENT

    def test_send_once_the_peer_stops_reading(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.set_send_buffer_size(pair.client, 4096)
        chunk = b"x" * 65536
        sent = fill_send_buffer(pair)
        expect_timeout(lambda: c.send(pair.client, chunk, timeout=SHORT))
        reader = Worker(lambda: recv_exactly(pair.server, sent + 5))
        tail = b"after"
        while tail:
            tail = tail[c.send(pair.client, tail, timeout=GUARD) :]
        assert reader.outcome().endswith(b"after")

    def test_a_timeout_too_long_for_poll_still_waits(self, fds: Fds) -> None:
        # poll() takes at most 2**31 - 1 ms (about 25 days); a valid timeout of
        # a year must still wait (in slices), not raise OverflowError.
        pair = connected_pair(fds)
        a_year = 365 * 86400.0
        sender = Worker(lambda: (wait_until_sleeping(pair.server), c.send(pair.client, b"at last")))
        assert c.recv(pair.server, timeout=a_year) == b"at last"
        sender.outcome()


class TestZeroTimeout:
    """``timeout=0`` makes one attempt: what is there is returned, else ``Timeout`` at once."""

    def test_receive_calls(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        buffer = bytearray(4)
        for call in (
            lambda: c.recv(pair.server, timeout=0),
            lambda: c.recv_into(pair.server, buffer, timeout=0),
            lambda: c.recvfrom(pair.server, timeout=0),
            lambda: c.recvfrom_into(pair.server, buffer, timeout=0),
        ):
            expect_at_once(call)
        c.send(pair.client, b"ready")
        c.recv(pair.server, 1, timeout=GUARD)  # waits until it is there
        assert c.recv(pair.server, timeout=0) == b"eady"

    def test_accept(self, fds: Fds) -> None:
        listener = stream_listener(fds, "ipv4", Path())
        expect_at_once(lambda: c.accept(listener, timeout=0))
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        server, _remote = c.accept(listener, timeout=0)
        fds.track(server)

    def test_datagrams(self, fds: Fds) -> None:
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        expect_at_once(lambda: c.recvfrom(receiver, timeout=0))
        assert c.sendto(sender, c.sock_name(receiver), b"now", timeout=0) == 3
        assert c.recvfrom(receiver, timeout=0) == (b"now", c.sock_name(sender))

    def test_send_with_room_and_without(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        assert c.send(pair.client, b"room", timeout=0) == 4
        fill_send_buffer(pair)
        expect_at_once(lambda: c.send(pair.client, b"x", timeout=0))

    def test_tcp_connect_leaves_the_attempt_running_and_a_later_connect_completes_it(
        self, fds: Fds, ip_kind: str
    ) -> None:
        listener = stream_listener(fds, ip_kind, Path())
        client = fds.socket(IP_KINDS[ip_kind][0], c.SOCK_STREAM)
        with contextlib.suppress(trionet.Timeout):  # TCP connects asynchronously, even on lo
            c.connect(client, c.sock_name(listener), timeout=0)
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        server, remote = c.accept(listener, timeout=GUARD)
        fds.track(server)
        assert remote == c.sock_name(client)
        c.send(client, b"connected")
        assert recv_exactly(server, 9) == b"connected"


class TestErrors:
    def test_connect_to_a_port_nobody_listens_on_is_refused(self, fds: Fds, ip_kind: str) -> None:
        family, host = IP_KINDS[ip_kind]
        holder = fds.socket(family, c.SOCK_STREAM)
        c.bind(holder, (host, 0))  # holds the port; the kernel answers RST
        client = fds.socket(family, c.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError) as info:
            c.connect(client, c.sock_name(holder), timeout=GUARD)
        assert info.value.errno == errno.ECONNREFUSED
        assert c.domain(client) == family  # still open and the caller's

    def test_connecting_again_after_a_refused_connect_says_to_make_a_new_socket(
        self, fds: Fds
    ) -> None:
        holder = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.bind(holder, ("127.0.0.1", 0))
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):
            c.connect(client, c.sock_name(holder), timeout=GUARD)
        with pytest.raises(ConnectionAbortedError, match="make a new socket") as info:
            c.connect(client, c.sock_name(holder), timeout=GUARD)
        assert info.value.errno == errno.ECONNABORTED
        fresh = fds.socket(c.AF_INET, c.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):  # a new socket tries again
            c.connect(fresh, c.sock_name(holder), timeout=GUARD)

    def test_unix_connect_to_a_bound_socket_is_refused_and_to_nothing_not_found(
        self, fds: Fds, tmp_path: Path
    ) -> None:
        holder = fds.socket(c.AF_UNIX, c.SOCK_STREAM)
        c.bind(holder, str(tmp_path / "not-listening.sock"))
        client = fds.socket(c.AF_UNIX, c.SOCK_STREAM)
        with pytest.raises(ConnectionRefusedError):
            c.connect(client, str(tmp_path / "not-listening.sock"), timeout=GUARD)
        with pytest.raises(FileNotFoundError):
            c.connect(client, str(tmp_path / "nobody.sock"), timeout=GUARD)

    def test_end_of_stream_is_empty_or_zero_and_sets_eof(
        self, fds: Fds, kind: str, tmp_path: Path
    ) -> None:
        pair = connected_pair(fds, kind, tmp_path)
        c.send(pair.client, b"last words")
        fds.close(pair.client)
        assert recv_exactly(pair.server, 10) == b"last words"
        assert not c.is_eof(pair.server)
        assert c.recv(pair.server, timeout=GUARD) == b""
        assert c.is_eof(pair.server)
        assert c.recv_into(pair.server, bytearray(4), timeout=0) == 0
        assert c.recvfrom(pair.server, timeout=GUARD)[0] == b""
        assert c.recvfrom_into(pair.server, bytearray(4))[0] == 0
        assert c.is_eof(pair.server)

    def test_send_after_own_write_shutdown_is_broken_pipe(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.shutdown(pair.client, "w")
        with pytest.raises(BrokenPipeError):
            c.send(pair.client, b"too late", timeout=GUARD)

    def test_every_blocking_call_after_close_is_closed_resource_error(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        listener, client = pair.listener, pair.client
        address = c.sock_name(listener)
        fds.close(listener)
        fds.close(client)
        buffer = bytearray(4)
        for call in (
            lambda: c.accept(listener, timeout=GUARD),
            lambda: c.connect(client, address, timeout=GUARD),
            lambda: c.send(client, b"x", timeout=GUARD),
            lambda: c.sendto(client, address, b"x"),
            lambda: c.recv(client, timeout=0),
            lambda: c.recv_into(client, buffer),
            lambda: c.recvfrom(client, timeout=GUARD),
            lambda: c.recvfrom_into(client, buffer, timeout=GUARD),
        ):
            with pytest.raises(trio.ClosedResourceError):
                call()
        c.close(client)  # twice is a no-op
