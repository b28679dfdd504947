"""SPEC sections 0 and 8.1 for ``trionet.compat.socket``: bad arguments.

A wrong type is a ``TypeError``, a bad value a ``ValueError``; the message
names the argument; and the check comes before any system call, so nothing
is sent, received, accepted or started (and, by the autouse fixture,
no fd leaks).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from _compat_net import GUARD, Pair, connected_pair, recv_exactly, stream_listener, udp_socket
from _fds import BAD_TIMEOUTS, Fds
from trionet.compat import socket as c

import trionet


@pytest.mark.parametrize(("bad", "error"), BAD_TIMEOUTS)
class TestBadTimeout:
    def test_receive_calls_leave_the_queued_data(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        pair = connected_pair(fds)
        c.send(pair.client, b"untouched")
        buffer = bytearray(16)
        for call in (
            lambda: c.recv(pair.server, timeout=bad),  # type: ignore[arg-type]
            lambda: c.recv_into(pair.server, buffer, timeout=bad),  # type: ignore[arg-type]
            lambda: c.recvfrom(pair.server, timeout=bad),  # type: ignore[arg-type]
            lambda: c.recvfrom_into(pair.server, buffer, timeout=bad),  # type: ignore[arg-type]
        ):
            with pytest.raises(error, match="timeout"):
                call()
        assert buffer == bytearray(16)
        assert recv_exactly(pair.server, 9) == b"untouched"

    def test_send_and_sendto_send_nothing(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        pair = connected_pair(fds)
        receiver = udp_socket(fds)
        sender = udp_socket(fds)
        with pytest.raises(error, match="timeout"):
            c.send(pair.client, b"lost", timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="timeout"):
            c.sendto(sender, c.sock_name(receiver), b"lost", timeout=bad)  # type: ignore[arg-type]
        c.send(pair.client, b"first")
        assert recv_exactly(pair.server, 5) == b"first"
        c.sendto(sender, c.sock_name(receiver), b"first")
        assert c.recvfrom(receiver, timeout=GUARD)[0] == b"first"

    def test_accept_leaves_the_connection_queued_and_connect_does_not_start(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        listener = stream_listener(fds, "ipv4", Path())
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        with pytest.raises(error, match="timeout"):
            c.connect(client, c.sock_name(listener), timeout=bad)  # type: ignore[arg-type]
        assert c.get_tcp_state(client) == trionet.TcpState.CLOSED
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        with pytest.raises(error, match="timeout"):
            c.accept(listener, timeout=bad)  # type: ignore[arg-type]
        server, remote = c.accept(listener, timeout=0)
        fds.track(server)
        assert remote == c.sock_name(client)

    def test_checked_before_the_fd_is_looked_at(
        self, fds: Fds, bad: object, error: type[Exception]
    ) -> None:
        fd = fds.socket(c.AF_INET, c.SOCK_STREAM)
        fds.close(fd)
        with pytest.raises(error, match="timeout"):
            c.recv(fd, timeout=bad)  # type: ignore[arg-type]


def every_call(pair: Pair, address: object) -> dict[str, Callable[[object], object]]:
    """Each blocking call with ``fd`` as the argument to vary; the rest valid."""
    buffer = bytearray(8)
    return {
        "accept": lambda fd: c.accept(fd, timeout=GUARD),  # type: ignore[arg-type]
        "connect": lambda fd: c.connect(fd, address, timeout=GUARD),  # type: ignore[arg-type]
        "send": lambda fd: c.send(fd, b"x", timeout=GUARD),  # type: ignore[arg-type]
        "sendto": lambda fd: c.sendto(fd, address, b"x", timeout=GUARD),  # type: ignore[arg-type]
        "recv": lambda fd: c.recv(fd, timeout=GUARD),  # type: ignore[arg-type]
        "recv_into": lambda fd: c.recv_into(fd, buffer, timeout=GUARD),  # type: ignore[arg-type]
        "recvfrom": lambda fd: c.recvfrom(fd, timeout=GUARD),  # type: ignore[arg-type]
        "recvfrom_into": lambda fd: c.recvfrom_into(fd, buffer),  # type: ignore[arg-type]
    }


CALL_NAMES = [
    "accept",
    "connect",
    "send",
    "sendto",
    "recv",
    "recv_into",
    "recvfrom",
    "recvfrom_into",
]


@pytest.mark.parametrize(
    ("fd", "error"),
    [
        pytest.param("3", TypeError, id="str"),
        pytest.param(3.0, TypeError, id="float"),
        pytest.param(None, TypeError, id="None"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param(-1, ValueError, id="negative"),
    ],
)
@pytest.mark.parametrize("name", CALL_NAMES)
def test_a_bad_fd_is_named(fds: Fds, name: str, fd: object, error: type[Exception]) -> None:
    pair = connected_pair(fds)
    call = every_call(pair, c.sock_name(pair.listener))[name]
    with pytest.raises(error, match="fd"):
        call(fd)


@pytest.mark.parametrize("name", CALL_NAMES)
def test_a_closed_fd_is_closed_resource_error_and_a_non_socket_a_value_error(
    fds: Fds, name: str
) -> None:
    pair = connected_pair(fds)
    call = every_call(pair, c.sock_name(pair.listener))[name]
    read_end, write_end = os.pipe()  # first, or it would take the closed fd's number
    closed = fds.socket(c.AF_INET, c.SOCK_STREAM)
    fds.close(closed)
    try:
        with pytest.raises(trio.ClosedResourceError):
            call(closed)
        with pytest.raises(ValueError, match="not a socket"):
            call(read_end)
        os.write(write_end, b"pipe intact")
        assert os.read(read_end, 64) == b"pipe intact"
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(
    ("max_bytes", "error"),
    [(-1, ValueError), (2**31, ValueError), (1.0, TypeError), (True, TypeError), ("8", TypeError)],
)
def test_a_bad_max_bytes_receives_nothing(
    fds: Fds, max_bytes: object, error: type[Exception]
) -> None:
    pair = connected_pair(fds)
    c.send(pair.client, b"kept")
    with pytest.raises(error, match="max_bytes"):
        c.recv(pair.server, max_bytes, timeout=GUARD)  # type: ignore[arg-type]
    with pytest.raises(error, match="max_bytes"):
        c.recvfrom(pair.server, max_bytes, timeout=GUARD)  # type: ignore[arg-type]
    assert recv_exactly(pair.server, 4) == b"kept"


@pytest.mark.parametrize(
    ("buffer", "offset", "length", "error", "named"),
    [
        (b"read-only", 0, None, TypeError, "buffer"),
        (memoryview(b"read-only"), 0, None, TypeError, "buffer"),
        ("text", 0, None, TypeError, "buffer"),
        (bytearray(4), 5, None, ValueError, "offset"),
        (bytearray(4), -1, None, ValueError, "offset"),
        (bytearray(4), True, None, TypeError, "offset"),
        (bytearray(4), 1, 4, ValueError, "length"),
        (bytearray(4), 0, -1, ValueError, "length"),
        (bytearray(4), 0, 2.0, TypeError, "length"),
    ],
)
def test_bad_buffer_arguments_receive_nothing(
    fds: Fds, buffer: object, offset: object, length: object, error: type[Exception], named: str
) -> None:
    pair = connected_pair(fds)
    c.send(pair.client, b"kept")
    with pytest.raises(error, match=named):
        c.recv_into(pair.server, buffer, offset, length, timeout=GUARD)  # type: ignore[arg-type]
    with pytest.raises(error, match=named):
        c.recvfrom_into(pair.server, buffer, offset, length, timeout=GUARD)  # type: ignore[arg-type]
    assert recv_exactly(pair.server, 4) == b"kept"


@pytest.mark.parametrize("data", [None, 42, [b"ok", "not bytes"], {b"a": 1}])
def test_unsupported_data_sends_nothing(fds: Fds, data: object) -> None:
    pair = connected_pair(fds)
    receiver = udp_socket(fds)
    sender = udp_socket(fds)
    with pytest.raises(TypeError, match="data"):
        c.send(pair.client, data, timeout=GUARD)
    with pytest.raises(TypeError, match="data"):
        c.sendto(sender, c.sock_name(receiver), data, timeout=GUARD)
    c.send(pair.client, b"only")
    assert recv_exactly(pair.server, 4) == b"only"
    c.sendto(sender, c.sock_name(receiver), b"only")
    assert c.recvfrom(receiver, timeout=GUARD) == (b"only", c.sock_name(sender))


@pytest.mark.parametrize(
    ("addr", "error"),
    [
        (None, TypeError),
        (42, TypeError),
        ("127.0.0.1", TypeError),
        (("127.0.0.1", 70000), ValueError),
        (("127.0.0.1", True), TypeError),
        (("localhost", 80), ValueError),
        (("::1", 80), ValueError),  # an IPv6 address for an IPv4 socket
    ],
)
def test_a_bad_address_starts_and_sends_nothing(
    fds: Fds, addr: object, error: type[Exception]
) -> None:
    client = fds.socket(c.AF_INET, c.SOCK_STREAM)
    with pytest.raises(error, match="addr"):
        c.connect(client, addr, timeout=GUARD)
    assert c.get_tcp_state(client) == trionet.TcpState.CLOSED
    receiver = udp_socket(fds)
    sender = udp_socket(fds)
    with pytest.raises(error, match="addr"):
        c.sendto(sender, addr, b"lost", timeout=GUARD)
    c.sendto(sender, c.sock_name(receiver), b"first")
    assert c.recvfrom(receiver, timeout=GUARD)[0] == b"first"


def test_the_sync_calls_take_timeout_only_by_keyword(fds: Fds) -> None:
    pair = connected_pair(fds)
    with pytest.raises(TypeError):
        c.recv(pair.server, 8, 0.1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        c.accept(pair.listener, 0.1)  # type: ignore[misc]
