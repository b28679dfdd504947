"""``trionet.udp.Udp`` (SPEC section 2 and 8.9) over real loopback sockets.

Options are read back from the kernel through a duplicate of the fd. To
show that a datagram was *not* delivered without waiting on a clock, a
unicast marker is sent after it: loopback keeps the order, so if the marker
arrives first, the datagram before it was dropped (as in test_multicast.py).
"""

from __future__ import annotations

import errno
import gc
import os
import socket as stdsocket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from _fds import Fds, Owned, getsockopt, is_open, open_fds

import trionet
from trionet import socket as s
from trionet.udp import Udp

LOOPBACK = ("127.0.0.1", 0)
LOOPBACK6 = ("::1", 0)


@pytest.fixture
def bind_to_device_allowed() -> None:
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as probe:
        try:
            probe.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_BINDTODEVICE, b"lo")
        except PermissionError as exc:
            pytest.skip(f"SO_BINDTODEVICE refused: {errno.errorcode.get(exc.errno or 0)}")


def bound_device(obj: Udp) -> str:
    raw: bytes = getsockopt(obj, stdsocket.SOL_SOCKET, stdsocket.SO_BINDTODEVICE, 16)
    return raw.split(b"\0", 1)[0].decode()


def bound(owned: Owned, addr: tuple[str, int] = LOOPBACK) -> Udp:
    return owned(Udp.create(addr))


async def next_is_marker(sender: Udp, receiver: Udp) -> None:
    """Send a unicast marker; it must be the next datagram the receiver gets."""
    await sender.sendto(("127.0.0.1", receiver.sock_name().port), b"marker")
    data, _source = await receiver.recvfrom(timeout=5)
    assert data == b"marker"


# --- creating ------------------------------------------------------------------------------


class TestCreate:
    def test_unbound_by_default(self, owned: Owned) -> None:
        udp = owned(Udp.create())
        assert udp.sock_name() == trionet.sockaddr("0.0.0.0", 0)
        assert not udp.closed
        assert udp.sock_fd >= 0

    def test_bound_when_an_address_is_given(self, owned: Owned) -> None:
        udp = owned(Udp.create(LOOPBACK))
        local = udp.sock_name()
        assert local.addr == "127.0.0.1"
        assert local.port != 0
        sockaddr = owned(Udp.create(trionet.sockaddr("127.0.0.1", 0)))
        assert sockaddr.sock_name().port != 0

    def test_ipv6_by_domain_or_by_address(self, owned: Owned) -> None:
        unbound = owned(Udp.create(domain=trionet.AF_INET6))
        assert unbound.sock_name().domain == trionet.AF_INET6
        assert unbound.sock_name().port == 0
        loopback = owned(Udp.create(("::1", 0), domain=trionet.AF_INET6))
        assert loopback.sock_name().addr == "::1"
        # The address decides the family when one is given.
        by_address = owned(Udp.create(LOOPBACK6))
        assert by_address.sock_name().domain == trionet.AF_INET6

    def test_reuse_addr_lets_two_sockets_share_a_port(self, owned: Owned) -> None:
        first = owned(Udp.create(LOOPBACK, reuse_addr=True))
        assert getsockopt(first, stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR) == 1
        second = owned(Udp.create(first.sock_name(), reuse_addr=True))
        assert second.sock_name() == first.sock_name()
        assert getsockopt(owned(Udp.create()), stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR) == 0

    def test_a_taken_port_is_address_in_use_and_leaks_nothing(self, owned: Owned) -> None:
        first = bound(owned)
        before = open_fds()
        with pytest.raises(OSError, match=os.strerror(errno.EADDRINUSE)) as caught:
            Udp.create(first.sock_name())
        assert caught.value.errno == errno.EADDRINUSE
        assert open_fds() == before

    @pytest.mark.usefixtures("bind_to_device_allowed")
    def test_dev_binds_to_the_interface(self, owned: Owned) -> None:
        assert bound_device(owned(Udp.create(LOOPBACK, dev="lo"))) == "lo"
        assert bound_device(owned(Udp.create())) == ""

    @pytest.mark.usefixtures("bind_to_device_allowed")
    def test_unknown_dev_is_an_os_error_and_leaks_nothing(self) -> None:
        before = open_fds()
        with pytest.raises(OSError, match=os.strerror(errno.ENODEV)):
            Udp.create(dev="nosuchif0")
        assert open_fds() == before

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"addr": ("localhost", 0)}, ValueError),
            ({"addr": ("127.0.0.1", -1)}, ValueError),
            ({"addr": ("127.0.0.1", True)}, TypeError),
            ({"addr": 53}, TypeError),
            ({"domain": trionet.AF_UNIX}, ValueError),
            ({"domain": "inet"}, TypeError),
            ({"reuse_addr": 1}, TypeError),
            ({"dev": 3}, TypeError),
            ({"dev": ""}, ValueError),
        ],
        ids=[
            "host-name",
            "negative-port",
            "bool-port",
            "int-addr",
            "unix-domain",
            "str-domain",
            "int-reuse-addr",
            "int-dev",
            "empty-dev",
        ],
    )
    def test_bad_arguments_raise_before_any_fd_is_opened(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        before = open_fds()
        with pytest.raises(error):
            Udp.create(**kwargs)
        assert open_fds() == before


class TestCreateByFd:
    async def test_adopts_a_udp_fd(self, owned: Owned, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        s.bind(fd, LOOPBACK)
        fds.give_away(fd)
        udp = owned(Udp.create_by_fd(fd))
        assert udp.sock_fd == fd
        sender = bound(owned)
        await sender.sendto(udp.sock_name(), b"adopted")
        assert await udp.recv(timeout=5) == b"adopted"

    def test_adopts_a_foreign_ipv6_udp_socket(self, owned: Owned) -> None:
        foreign = stdsocket.socket(stdsocket.AF_INET6, stdsocket.SOCK_DGRAM)
        udp = owned(Udp.create_by_fd(foreign.detach()))
        assert udp.sock_name().domain == trionet.AF_INET6

    def test_rejects_a_tcp_fd_and_leaves_it_open(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(ValueError, match="not a UDP socket"):
            Udp.create_by_fd(fd)
        assert s.get_tcp_state(fd) == trionet.TcpState.CLOSED

    def test_rejects_a_unix_datagram_socket_and_leaves_it_as_it_was(self) -> None:
        unix = stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_DGRAM)
        try:
            with pytest.raises(ValueError, match="not a UDP socket"):
                Udp.create_by_fd(unix.fileno())
            assert unix.getblocking()
        finally:
            unix.close()

    def test_rejects_a_pipe_and_leaves_it_open(self) -> None:
        read_end, write_end = os.pipe()
        try:
            with pytest.raises(ValueError, match="not a socket"):
                Udp.create_by_fd(write_end)
            assert os.write(write_end, b"x") == 1
        finally:
            os.close(read_end)
            os.close(write_end)


# --- bind, connect, sending and receiving ------------------------------------------------


class TestDatagrams:
    async def test_sendto_and_recvfrom_report_the_peer(self, owned: Owned) -> None:
        first, second = bound(owned), bound(owned)
        assert await first.sendto(second.sock_name(), b"hello") == 5
        data, source = await second.recvfrom(timeout=5)
        assert data == b"hello"
        assert source == first.sock_name()

    async def test_bind_then_receive(self, owned: Owned) -> None:
        udp = owned(Udp.create())
        udp.bind(LOOPBACK)
        assert udp.sock_name().port != 0
        with pytest.raises(OSError, match=os.strerror(errno.EINVAL)):
            udp.bind(LOOPBACK)
        with pytest.raises(ValueError, match="addr"):
            udp.bind(LOOPBACK6)
        sender = bound(owned)
        await sender.sendto(udp.sock_name(), b"bound")
        assert await udp.recv(timeout=5) == b"bound"

    async def test_connect_send_recv(self, owned: Owned) -> None:
        first, second = bound(owned), bound(owned)
        first.connect(second.sock_name())
        second.connect(first.sock_name())
        assert first.peer_name() == second.sock_name()
        assert await first.send(b"ping") == 4
        assert await second.recv(timeout=5) == b"ping"
        await second.send([b"po", bytearray(b"ng")])
        assert await first.recv(timeout=5) == b"pong"

    async def test_connected_socket_drops_datagrams_from_others(self, owned: Owned) -> None:
        receiver, peer, stranger = bound(owned), bound(owned), bound(owned)
        receiver.connect(peer.sock_name())
        await stranger.sendto(receiver.sock_name(), b"from a stranger")
        await peer.sendto(receiver.sock_name(), b"from the peer")
        assert await receiver.recv(timeout=5) == b"from the peer"

    async def test_disconnect_forgets_the_peer(self, owned: Owned) -> None:
        first, second = bound(owned), bound(owned)
        first.connect(second.sock_name())
        first.disconnect()
        with pytest.raises(OSError, match=os.strerror(errno.ENOTCONN)):
            first.peer_name()
        with pytest.raises(OSError, match=os.strerror(errno.EDESTADDRREQ)):
            await first.send(b"nowhere")
        await first.sendto(second.sock_name(), b"addressed")
        assert await second.recv(timeout=5) == b"addressed"

    async def test_send_without_a_peer_is_destination_required(self, owned: Owned) -> None:
        with pytest.raises(OSError, match=os.strerror(errno.EDESTADDRREQ)):
            await bound(owned).send(b"x")

    async def test_connect_with_a_bad_address(self, owned: Owned) -> None:
        udp = bound(owned)
        with pytest.raises(ValueError, match="addr"):
            udp.connect(("::1", 9))
        with pytest.raises(TypeError):
            udp.connect(9)

    async def test_recvfrom_into_fills_offset_and_length(self, owned: Owned) -> None:
        first, second = bound(owned), bound(owned)
        await first.sendto(second.sock_name(), b"abcdef")
        buffer = bytearray(8)
        count, source = await second.recvfrom_into(buffer, 2, 4, timeout=5)
        assert count == 4
        assert buffer == b"\0\0abcd\0\0"
        assert source == first.sock_name()

    async def test_recvfrom_truncates_to_max_bytes(self, owned: Owned) -> None:
        first, second = bound(owned), bound(owned)
        await first.sendto(second.sock_name(), b"0123456789")
        await first.sendto(second.sock_name(), b"next")
        assert (await second.recvfrom(4, timeout=5))[0] == b"0123"
        assert await second.recv(timeout=5) == b"next"

    async def test_ipv6_round_trip(self, owned: Owned) -> None:
        first, second = bound(owned, LOOPBACK6), bound(owned, LOOPBACK6)
        await first.sendto(("::1", second.sock_name().port), "über")
        data, source = await second.recvfrom(timeout=5)
        assert data == "über".encode()
        assert source == first.sock_name()

    async def test_sendto_of_a_wrong_family_is_a_value_error(self, owned: Owned) -> None:
        with pytest.raises(ValueError, match="addr"):
            await bound(owned).sendto(("::1", 9), b"x")

    async def test_receiving_times_out_without_a_datagram(
        self, owned: Owned, autojump_clock: trio.testing.MockClock
    ) -> None:
        udp = bound(owned)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: udp.recv(timeout=1.5),
            lambda: udp.recvfrom(timeout=1.5),
            lambda: udp.recvfrom_into(bytearray(8), timeout=1.5),
        ]
        for call in calls:
            start = trio.current_time()
            with pytest.raises(trionet.Timeout) as caught:
                await call()
            assert trio.current_time() - start == pytest.approx(1.5)
            assert caught.value.bytes_sent == 0

    async def test_zero_timeout_returns_a_queued_datagram(
        self, owned: Owned, autojump_clock: trio.testing.MockClock
    ) -> None:
        first, second = bound(owned), bound(owned)
        await first.sendto(second.sock_name(), b"queued")
        await trio.lowlevel.wait_readable(second.sock_fd)
        start = trio.current_time()
        assert await second.recv(timeout=0) == b"queued"
        assert trio.current_time() == start
        with pytest.raises(trionet.Timeout):
            await second.recv(timeout=0)


# --- broadcast and multicast ---------------------------------------------------------------


class TestBroadcast:
    @pytest.mark.usefixtures("broadcast_on_lo")
    async def test_set_broadcast_then_sendto_the_loopback_broadcast_address(
        self, owned: Owned
    ) -> None:
        receiver = owned(Udp.create(("0.0.0.0", 0)))
        sender = bound(owned)
        sender.set_broadcast(True)
        assert getsockopt(sender, stdsocket.SOL_SOCKET, stdsocket.SO_BROADCAST) == 1
        port = receiver.sock_name().port
        await sender.sendto(("127.255.255.255", port), b"to all")
        data, source = await receiver.recvfrom(timeout=5)
        assert data == b"to all"
        assert source == sender.sock_name()

    @pytest.mark.usefixtures("broadcast_on_lo")
    async def test_broadcast_without_set_broadcast_is_permission_error(self, owned: Owned) -> None:
        receiver = owned(Udp.create(("0.0.0.0", 0)))
        sender = bound(owned)
        sender.set_broadcast(True)
        sender.set_broadcast(False)
        with pytest.raises(PermissionError):
            await sender.sendto(("127.255.255.255", receiver.sock_name().port), b"x")


class TestMulticast:
    @staticmethod
    def sender(owned: Owned) -> Udp:
        udp = bound(owned)
        udp.set_multicast_interface("lo")
        udp.set_multicast_loop(True)
        udp.set_multicast_ttl(1)
        return udp

    async def test_a_member_on_lo_receives_the_group_until_it_leaves(self, owned: Owned) -> None:
        group = "239.255.0.11"
        receiver = owned(Udp.create(("0.0.0.0", 0)))
        receiver.add_membership(group, "lo")
        sender = self.sender(owned)
        port = receiver.sock_name().port
        await sender.sendto((group, port), b"to the group")
        data, source = await receiver.recvfrom(timeout=5)
        assert data == b"to the group"
        assert source == sender.sock_name()
        receiver.drop_membership(group, "lo")
        await sender.sendto((group, port), b"after leaving")
        await next_is_marker(sender, receiver)

    async def test_source_specific_membership(self, owned: Owned) -> None:
        group = "232.1.2.13"
        receiver = owned(Udp.create(("0.0.0.0", 0)))
        receiver.add_membership(group, "lo", "127.0.0.1")
        other = owned(Udp.create(("127.0.0.2", 0)))
        other.set_multicast_interface("lo")
        chosen = self.sender(owned)
        port = receiver.sock_name().port
        await other.sendto((group, port), b"from another source")
        await chosen.sendto((group, port), b"from the source")
        data, source = await receiver.recvfrom(timeout=5)
        assert data == b"from the source"
        assert source == chosen.sock_name()
        receiver.drop_membership(group, "lo", "127.0.0.1")

    def test_sender_options_read_back(self, owned: Owned) -> None:
        udp = self.sender(owned)
        assert getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_MULTICAST_TTL) == 1
        assert getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_MULTICAST_LOOP) == 1
        udp.set_multicast_loop(False)
        assert getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_MULTICAST_LOOP) == 0
        udp.set_multicast_ttl(0)
        assert getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_MULTICAST_TTL) == 0
        with pytest.raises(ValueError, match="ttl"):
            udp.set_multicast_ttl(256)
        udp.set_multicast_interface(None)
        with pytest.raises(OSError, match="No such device"):
            udp.set_multicast_interface("nosuchif0")

    def test_joining_twice_is_address_in_use(self, owned: Owned) -> None:
        udp = owned(Udp.create())
        udp.add_membership("239.255.0.12", "lo")
        with pytest.raises(OSError, match=os.strerror(errno.EADDRINUSE)):
            udp.add_membership("239.255.0.12", "lo")
        with pytest.raises(OSError, match=os.strerror(errno.EADDRNOTAVAIL)):
            udp.drop_membership("239.255.0.13", "lo")


# --- other options -------------------------------------------------------------------------


class TestOptions:
    def test_ttl_reuse_addr_and_ipv6_only(self, owned: Owned) -> None:
        udp = owned(Udp.create())
        udp.set_ttl(9)
        assert getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_TTL) == 9
        udp.set_reuse_addr(True)
        assert getsockopt(udp, stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR) == 1
        udp6 = owned(Udp.create(domain=trionet.AF_INET6))
        udp6.set_ipv6_only(True)
        assert getsockopt(udp6, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY) == 1
        udp6.set_ipv6_only(False)
        assert getsockopt(udp6, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY) == 0
        with pytest.raises(ValueError, match="IPv6"):
            udp.set_ipv6_only(True)

    def test_buffer_sizes(self, owned: Owned) -> None:
        udp = owned(Udp.create())
        udp.set_recv_buffer_size(20000)
        udp.set_send_buffer_size(10000)
        # Linux doubles the value it is given, for its bookkeeping.
        assert udp.get_recv_buffer_size() == 40000
        assert udp.get_send_buffer_size() == 20000
        assert getsockopt(udp, stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF) == 20000

    async def test_error_reports_and_clears_a_refusal(self, owned: Owned) -> None:
        udp, gone = bound(owned), bound(owned)
        udp.connect(gone.sock_name())
        gone.close()  # the ICMP port unreachable becomes ECONNREFUSED on udp
        assert udp.error() == 0
        await udp.send(b"to a closed port")
        await trio.lowlevel.wait_readable(udp.sock_fd)
        assert udp.error() == errno.ECONNREFUSED
        assert udp.error() == 0

    @pytest.mark.usefixtures("bind_to_device_allowed")
    def test_bind_to_device(self, owned: Owned) -> None:
        udp = owned(Udp.create())
        udp.bind_to_device("lo")
        assert bound_device(udp) == "lo"
        udp.bind_to_device(None)
        assert bound_device(udp) == ""


# --- closing, handing away, garbage collection ---------------------------------------------

SYNC_CALLS: dict[str, tuple[Any, ...]] = {
    "bind": (LOOPBACK,),
    "connect": (("127.0.0.1", 9),),
    "disconnect": (),
    "sock_name": (),
    "peer_name": (),
    "error": (),
    "bind_to_device": ("lo",),
    "set_ttl": (64,),
    "set_reuse_addr": (True,),
    "set_broadcast": (True,),
    "set_ipv6_only": (True,),
    "add_membership": ("239.255.0.14", "lo"),
    "drop_membership": ("239.255.0.14", "lo"),
    "set_multicast_interface": ("lo",),
    "set_multicast_ttl": (1,),
    "set_multicast_loop": (True,),
    "get_recv_buffer_size": (),
    "get_send_buffer_size": (),
    "set_recv_buffer_size": (4096,),
    "set_send_buffer_size": (4096,),
    "fly_away": (),
}

ASYNC_CALLS: dict[str, tuple[Any, ...]] = {
    "send": (b"x",),
    "sendto": (("127.0.0.1", 9), b"x"),
    "recv": (),
    "recvfrom": (),
    "recvfrom_into": (bytearray(4),),
}


class TestClose:
    @pytest.mark.parametrize("name", list(SYNC_CALLS))
    def test_every_method_after_close_is_closed_resource_error(self, name: str) -> None:
        udp = Udp.create()
        udp.close()
        with pytest.raises(trio.ClosedResourceError):
            getattr(udp, name)(*SYNC_CALLS[name])

    @pytest.mark.parametrize("name", list(ASYNC_CALLS))
    async def test_every_async_method_after_close_is_closed_resource_error(self, name: str) -> None:
        udp = Udp.create(LOOPBACK)
        udp.close()
        with pytest.raises(trio.ClosedResourceError):
            await getattr(udp, name)(*ASYNC_CALLS[name])

    def test_close_twice_is_a_no_op(self) -> None:
        udp = Udp.create()
        fd = udp.sock_fd
        udp.close()
        assert udp.closed
        assert udp.sock_fd == -1
        assert not is_open(fd)
        udp.close()
        assert udp.sock_fd == -1

    async def test_close_from_another_task_wakes_a_blocked_recvfrom(self, owned: Owned) -> None:
        udp = bound(owned)
        async with trio.open_nursery() as nursery:

            async def close_soon() -> None:
                await trio.testing.wait_all_tasks_blocked()
                udp.close()

            nursery.start_soon(close_soon)
            with pytest.raises(trio.ClosedResourceError):
                await udp.recvfrom()

    async def test_async_with_closes(self) -> None:
        async with Udp.create(LOOPBACK) as udp:
            fd = udp.sock_fd
            assert is_open(fd)
        assert udp.closed
        assert not is_open(fd)


class TestFlyAway:
    async def test_fly_away_hands_over_a_working_fd(self, owned: Owned) -> None:
        udp = bound(owned)
        address = udp.sock_name()
        fd = udp.fly_away()
        assert udp.closed
        assert udp.sock_fd == -1
        assert is_open(fd)
        udp.close()
        assert is_open(fd)
        adopted = owned(Udp.create_by_fd(fd))
        assert adopted.sock_name() == address
        sender = bound(owned)
        await sender.sendto(address, b"after the handoff")
        assert await adopted.recv(timeout=5) == b"after the handoff"

    async def test_another_trio_run_adopts_the_fd(self, owned: Owned) -> None:
        udp = bound(owned)
        address = udp.sock_name()
        fd = udp.fly_away()

        async def adopt_and_receive(fd: int) -> bytes:
            async with Udp.create_by_fd(fd) as adopted:
                return await adopted.recv(timeout=10)

        sender = bound(owned)
        await sender.sendto(address, b"to the other run")
        received = await trio.to_thread.run_sync(trio.run, adopt_and_receive, fd)
        assert received == b"to the other run"
        assert not is_open(fd)


class TestGarbageCollection:
    def test_an_unclosed_udp_warns_and_closes_its_fd(self) -> None:
        udp = Udp.create(LOOPBACK)
        fd = udp.sock_fd
        with pytest.warns(ResourceWarning, match=f"Udp with fd {fd} was never closed"):  # noqa: PT031
            del udp
            gc.collect()
        assert not is_open(fd)

    def test_a_flown_away_udp_does_not_warn(self) -> None:
        udp = Udp.create()
        fd = udp.fly_away()
        try:
            del udp
            gc.collect()  # filterwarnings = error: a warning here fails the test
            assert is_open(fd)
        finally:
            s.close(fd)
