"""``trionet.compat.udp.Udp`` (SPEC sections 2, 5 and 8.9) over real loopback sockets.

The constructors and options are the async ``Udp``'s code (``UdpBase``),
checked against the kernel in ``test_udp.py``; here each blocking call,
its timeout, ``with`` and closing from another thread are exercised on the
sync class. Timeouts are real and short, with generous bounds.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest
import trio
from _compat_net import Worker
from _fds import Fds, Owned, is_open, open_fds
from trionet.compat.udp import Udp

import trionet
from trionet import socket as s
from trionet import udp as async_udp

LOOPBACK = ("127.0.0.1", 0)
SHORT = 0.1
SLACK = 2.0


def bound(owned: Owned, addr: tuple[str, int] = LOOPBACK) -> Udp:
    return owned(Udp.create(addr))


class TestCreate:
    def test_create_binds_when_an_address_is_given(self, owned: Owned) -> None:
        udp = bound(owned)
        assert type(udp) is Udp
        assert udp.sock_name().addr == "127.0.0.1"
        assert udp.sock_name().port != 0
        unbound = owned(Udp.create(domain=s.AF_INET6))
        assert unbound.sock_name().domain == s.AF_INET6

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"addr": ("localhost", 0)}, ValueError),
            ({"domain": s.AF_UNIX}, ValueError),
            ({"reuse_addr": 1}, TypeError),
        ],
        ids=["host-name", "unix-domain", "int-reuse-addr"],
    )
    def test_bad_arguments_raise_before_any_fd_is_opened(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        before = open_fds()
        with pytest.raises(error):
            Udp.create(**kwargs)
        assert open_fds() == before

    def test_create_by_fd_adopts_udp_and_rejects_tcp(self, owned: Owned, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        fds.give_away(fd)
        assert type(owned(Udp.create_by_fd(fd))) is Udp
        tcp = fds.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(ValueError, match="not a UDP socket"):
            Udp.create_by_fd(tcp)
        assert is_open(tcp)


class TestDatagrams:
    def test_sendto_and_recvfrom_report_the_peer(self, owned: Owned) -> None:
        one, two = bound(owned), bound(owned)
        assert one.sendto(two.sock_name(), b"hello", timeout=5) == 5
        data, source = two.recvfrom(timeout=5)
        assert (data, source) == (b"hello", one.sock_name())

    def test_connect_send_recv_and_disconnect(self, owned: Owned) -> None:
        one, two = bound(owned), bound(owned)
        one.connect(two.sock_name())
        assert one.peer_name() == two.sock_name()
        assert one.send([b"ab", b"cd"]) == 4
        assert two.recv(timeout=5) == b"abcd"
        one.disconnect()
        with pytest.raises(OSError, match="Destination address required"):
            one.send(b"x")

    def test_recvfrom_into_fills_offset_and_length(self, owned: Owned) -> None:
        one, two = bound(owned), bound(owned)
        one.sendto(two.sock_name(), b"abcdef")
        buffer = bytearray(8)
        count, source = two.recvfrom_into(buffer, 2, 3, timeout=5)
        assert (count, source) == (3, one.sock_name())
        assert buffer == b"\0\0abc\0\0\0"

    def test_ipv6_round_trip_and_options(self, owned: Owned) -> None:
        one, two = bound(owned, ("::1", 0)), bound(owned, ("::1", 0))
        one.set_ttl(9)
        one.set_multicast_ttl(3)
        one.set_multicast_loop(False)
        one.set_broadcast(False)
        one.set_recv_buffer_size(8192)
        assert one.get_recv_buffer_size() >= 8192
        one.sendto(two.sock_name(), "é")
        assert two.recv(timeout=5) == "é".encode()

    def test_receiving_times_out_without_a_datagram(self, owned: Owned) -> None:
        udp = bound(owned)
        for call in (
            lambda: udp.recv(timeout=SHORT),
            lambda: udp.recvfrom(timeout=SHORT),
            lambda: udp.recvfrom_into(bytearray(4), timeout=SHORT),
        ):
            start = time.monotonic()
            with pytest.raises(trionet.Timeout):
                call()
            assert SHORT <= time.monotonic() - start < SHORT + SLACK

    def test_zero_timeout_returns_a_queued_datagram(self, owned: Owned) -> None:
        one, two = bound(owned), bound(owned)
        with pytest.raises(trionet.Timeout, match="timeout=0"):
            two.recv(timeout=0)
        one.sendto(two.sock_name(), b"queued")
        for _ in range(100):
            try:
                assert two.recv(timeout=0) == b"queued"
                break
            except trionet.Timeout:
                time.sleep(0.01)
        else:
            raise AssertionError("the datagram never arrived")


BLOCKING: dict[str, tuple[Any, ...]] = {
    "send": (b"x",),
    "sendto": (LOOPBACK, b"x"),
    "recv": (),
    "recvfrom": (),
    "recvfrom_into": (bytearray(4),),
    "connect": (("127.0.0.1", 9),),
    "bind": (LOOPBACK,),
    "set_broadcast": (True,),
    "fly_away": (),
}


class TestClose:
    @pytest.mark.parametrize("name", list(BLOCKING))
    def test_every_method_after_close_is_closed_resource_error(self, name: str) -> None:
        udp = Udp.create()
        udp.close()
        with pytest.raises(trio.ClosedResourceError):
            getattr(udp, name)(*BLOCKING[name])

    def test_close_from_another_thread_wakes_a_blocked_recvfrom(self, owned: Owned) -> None:
        udp = bound(owned)
        blocked = Worker(lambda: udp.recvfrom(timeout=30))
        time.sleep(SHORT)
        start = time.monotonic()
        udp.close()
        with pytest.raises(trio.ClosedResourceError):
            blocked.outcome()
        assert time.monotonic() - start < SLACK

    def test_with_closes_on_exit(self) -> None:
        with Udp.create(LOOPBACK) as udp:
            fd = udp.sock_fd
            assert is_open(fd)
        assert udp.closed
        assert not is_open(fd)

    def test_a_flown_away_fd_works_in_an_async_run(self, owned: Owned) -> None:
        peer = bound(owned)
        udp = bound(owned)
        fd = udp.fly_away()

        async def receive(fd: int) -> bytes:
            async with async_udp.Udp.create_by_fd(fd) as adopted:
                return await adopted.recv(timeout=5)

        peer.sendto(s.sock_name(fd), b"to trio")
        assert trio.run(receive, fd) == b"to trio"
        assert not is_open(fd)

    def test_an_unclosed_udp_warns_and_closes_its_fd(self) -> None:
        udp = Udp.create()
        fd = udp.sock_fd
        with pytest.warns(ResourceWarning, match="never closed"):  # noqa: PT031
            del udp
            gc.collect()
        assert not is_open(fd)
