"""Multicast and broadcast over the loopback interface.

Delivery is checked end to end: a sender pinned to ``lo`` with
``set_multicast_interface`` and a member that joined on ``lo``. To show that
something is *not* delivered without waiting on a clock, the sender then
sends a unicast marker to the same port: loopback keeps the order, so if the
marker is the first datagram that arrives, the one before it was dropped.

Memberships are also read back from the kernel's tables
(``/proc/net/igmp``, ``igmp6``, ``mcfilter``, ``mcfilter6``).

The host's ``lo`` lacks ``IFF_MULTICAST`` and has no IPv6 multicast route
(``sendto`` an IPv6 group fails with ``ENETUNREACH``), so the IPv6 delivery
tests run their body in a child process in a network namespace of its own,
whose ``lo`` gets both (``tests/_netns.py``); the host's ``lo`` is never
changed.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket as stdsocket
import struct
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _netns import run_in_own_network, skip_without_namespaces

from trionet import socket as s

LO = "lo"
Open = Callable[..., int]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
OwnNetwork = Callable[[Callable[[], Awaitable[object]]], None]

FAMILIES = {
    # family: (wildcard, loopback, any-source group, source-specific group)
    "ipv4": (s.AF_INET, "0.0.0.0", "127.0.0.1", "239.255.0.1", "232.1.2.3"),
    "ipv6": (s.AF_INET6, "::", "::1", "ff15::1234", "ff35::1234"),
}


@contextmanager
def _sockets() -> Iterator[Open]:
    """Make sockets that are closed when the block ends."""
    opened: list[int] = []

    def make(domain: int, kind: int = s.SOCK_DGRAM) -> int:
        fd = s.socket(domain, kind)
        opened.append(fd)
        return fd

    try:
        yield make
    finally:
        for fd in opened:
            s.close(fd)


@pytest.fixture
def open_socket() -> Iterator[Open]:
    """Make sockets that are closed when the test ends."""
    with _sockets() as make:
        yield make


def _getsockopt(fd: int, level: int, option: int) -> Any:
    with stdsocket.socket(fileno=os.dup(fd)) as sock:
        return sock.getsockopt(level, option)


def _port(fd: int) -> int:
    local = s.sock_name(fd)
    assert isinstance(local, s.SockAddr)
    return local.port


def _sender(open_socket: Open, domain: int, local: str) -> int:
    fd = open_socket(domain)
    s.set_multicast_interface(fd, LO)
    s.set_multicast_loop(fd, True)
    s.set_multicast_ttl(fd, 1)
    s.bind(fd, (local, 0))
    return fd


async def _send_group(fd: int, group: str, port: int, data: bytes) -> None:
    assert await s.sendto(fd, (group, port), data, timeout=5) == len(data)


@pytest.fixture
def own_network() -> OwnNetwork:
    """Run a body in a network namespace whose lo carries IPv6 multicast (``tests/_netns.py``)."""
    skip_without_namespaces()
    return run_in_own_network


async def _next_is_marker(sender: int, receiver: int, loopback: str) -> None:
    """Send a unicast marker; it must be the next datagram the receiver gets."""
    await s.sendto(sender, (loopback, _port(receiver)), b"marker", timeout=5)
    data, _source = await s.recvfrom(receiver, timeout=5)
    assert data == b"marker"


# --- the kernel's membership tables --------------------------------------------------


def _ipv4_from_proc_hex(word: str) -> ipaddress.IPv4Address:
    # /proc/net/igmp prints the network-order address as a host-order int.
    return ipaddress.IPv4Address(struct.pack("=I", int(word, 16)))


def _memberships() -> set[tuple[str, IpAddress]]:
    """Every (interface, group) the kernel has joined, IPv4 and IPv6."""
    found: set[tuple[str, IpAddress]] = set()
    device = ""
    with open("/proc/net/igmp") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            if not line.startswith("\t"):
                device = fields[1]
            else:
                found.add((device, _ipv4_from_proc_hex(fields[0])))
    with open("/proc/net/igmp6") as table:
        for line in table.read().splitlines():
            fields = line.split()
            found.add((fields[1], ipaddress.IPv6Address(bytes.fromhex(fields[2]))))
    return found


def _source_filters() -> set[tuple[str, IpAddress, IpAddress]]:
    """Every (interface, group, included source) the kernel holds, IPv4 and IPv6."""
    found: set[tuple[str, IpAddress, IpAddress]] = set()
    with open("/proc/net/mcfilter") as table:
        for line in table.read().splitlines()[1:]:
            _idx, device, group, source, include, _exclude = line.split()
            if int(include):
                found.add(
                    (
                        device,
                        ipaddress.IPv4Address(int(group, 16)),
                        ipaddress.IPv4Address(int(source, 16)),
                    )
                )
    with open("/proc/net/mcfilter6") as table:
        for line in table.read().splitlines()[1:]:
            _idx, device, group, source, include, _exclude = line.split()
            if int(include):
                found.add(
                    (
                        device,
                        ipaddress.IPv6Address(bytes.fromhex(group)),
                        ipaddress.IPv6Address(bytes.fromhex(source)),
                    )
                )
    return found


@pytest.mark.parametrize("version", FAMILIES)
def test_add_membership_joins_the_group_on_the_named_interface(
    open_socket: Open, version: str
) -> None:
    domain, _any, _loopback, group, _ssm = FAMILIES[version]
    member = (LO, ipaddress.ip_address(group))
    fd = open_socket(domain)
    assert member not in _memberships()
    s.add_membership(fd, group, LO)
    assert member in _memberships()
    s.drop_membership(fd, group, LO)
    assert member not in _memberships()


@pytest.mark.parametrize("version", FAMILIES)
def test_add_membership_with_source_installs_a_source_filter(
    open_socket: Open, version: str
) -> None:
    domain, _any, loopback, _group, group = FAMILIES[version]
    source_filter = (LO, ipaddress.ip_address(group), ipaddress.ip_address(loopback))
    fd = open_socket(domain)
    s.add_membership(fd, group, LO, loopback)
    assert source_filter in _source_filters()
    assert (LO, ipaddress.ip_address(group)) in _memberships()
    s.drop_membership(fd, group, LO, loopback)
    assert source_filter not in _source_filters()
    assert (LO, ipaddress.ip_address(group)) not in _memberships()


@pytest.mark.parametrize("version", FAMILIES)
def test_close_leaves_the_group(version: str) -> None:
    domain, _any, _loopback, group, _ssm = FAMILIES[version]
    fd = s.socket(domain, s.SOCK_DGRAM)
    try:
        s.add_membership(fd, group, LO)
        assert (LO, ipaddress.ip_address(group)) in _memberships()
    finally:
        s.close(fd)
    assert (LO, ipaddress.ip_address(group)) not in _memberships()


@pytest.mark.parametrize("version", FAMILIES)
def test_joining_a_group_twice_raises_address_in_use(open_socket: Open, version: str) -> None:
    domain, _any, _loopback, group, _ssm = FAMILIES[version]
    fd = open_socket(domain)
    s.add_membership(fd, group, LO)
    with pytest.raises(OSError, match=os.strerror(errno.EADDRINUSE)) as caught:
        s.add_membership(fd, group, LO)
    assert caught.value.errno == errno.EADDRINUSE


@pytest.mark.parametrize("version", FAMILIES)
def test_dropping_a_group_not_joined_raises_address_not_available(
    open_socket: Open, version: str
) -> None:
    domain, _any, _loopback, group, _ssm = FAMILIES[version]
    fd = open_socket(domain)
    with pytest.raises(OSError, match=os.strerror(errno.EADDRNOTAVAIL)) as caught:
        s.drop_membership(fd, group, LO)
    assert caught.value.errno == errno.EADDRNOTAVAIL


# --- IPv4 delivery ----------------------------------------------------------------------


async def test_ipv4_multicast_on_lo_reaches_a_member_bound_to_the_group(
    open_socket: Open,
) -> None:
    group = "239.255.0.1"
    receiver = open_socket(s.AF_INET)
    s.bind(receiver, (group, 0))
    s.add_membership(receiver, group, LO)
    sender = _sender(open_socket, s.AF_INET, "127.0.0.1")
    await _send_group(sender, group, _port(receiver), b"hello group")
    data, source = await s.recvfrom(receiver, timeout=5)
    assert data == b"hello group"
    assert source == s.sock_name(sender)


async def _receives_until_dropped(
    open_socket: Open, version: str, group: str, source: str | None = None
) -> None:
    """Joined (to ``source`` only, if given), a socket gets the group's datagrams; dropped, none."""
    domain, wildcard, loopback, _group, _ssm = FAMILIES[version]
    receiver = open_socket(domain)
    s.bind(receiver, (wildcard, 0))
    s.add_membership(receiver, group, LO, source)
    sender = _sender(open_socket, domain, loopback)
    await _send_group(sender, group, _port(receiver), b"while member")
    data, sent_from = await s.recvfrom(receiver, timeout=5)
    assert data == b"while member"
    assert sent_from == s.sock_name(sender)
    s.drop_membership(receiver, group, LO, source)
    await _send_group(sender, group, _port(receiver), b"after drop")
    await _next_is_marker(sender, receiver, loopback)


async def test_ipv4_drop_membership_stops_delivery(open_socket: Open) -> None:
    await _receives_until_dropped(open_socket, "ipv4", "239.255.0.2")


async def test_ipv4_source_specific_join_receives_only_from_that_source(
    open_socket: Open,
) -> None:
    group = "232.1.2.3"
    receiver = open_socket(s.AF_INET)
    s.bind(receiver, ("0.0.0.0", 0))
    s.add_membership(receiver, group, LO, "127.0.0.1")
    other = _sender(open_socket, s.AF_INET, "127.0.0.2")
    chosen = _sender(open_socket, s.AF_INET, "127.0.0.1")
    await _send_group(other, group, _port(receiver), b"from another source")
    await _send_group(chosen, group, _port(receiver), b"from the source")
    data, source = await s.recvfrom(receiver, timeout=5)
    assert data == b"from the source"
    assert source == s.sock_name(chosen)


async def test_ipv4_drop_source_membership_stops_delivery(open_socket: Open) -> None:
    await _receives_until_dropped(open_socket, "ipv4", "232.1.2.4", "127.0.0.1")


# --- IPv6 delivery ----------------------------------------------------------------------
# Each body runs in its own network namespace's child process, so it opens
# its sockets itself: the parent's fixtures are not there.


async def _ipv6_multicast_on_lo_reaches_a_member_until_it_drops() -> None:
    with _sockets() as open_socket:
        await _receives_until_dropped(open_socket, "ipv6", "ff15::1234")


async def _ipv6_source_specific_join_receives_from_the_source_until_it_drops() -> None:
    with _sockets() as open_socket:
        await _receives_until_dropped(open_socket, "ipv6", "ff35::1234", "::1")


def test_ipv6_multicast_on_lo_reaches_a_member_until_it_drops(own_network: OwnNetwork) -> None:
    own_network(_ipv6_multicast_on_lo_reaches_a_member_until_it_drops)


def test_ipv6_source_specific_join_receives_from_the_source_until_it_drops(
    own_network: OwnNetwork,
) -> None:
    own_network(_ipv6_source_specific_join_receives_from_the_source_until_it_drops)


# --- broadcast ------------------------------------------------------------------------------


@pytest.mark.usefixtures("broadcast_on_lo")
@pytest.mark.parametrize("bound_to", ["0.0.0.0", "127.255.255.255"])
async def test_broadcast_on_lo_reaches_a_socket_on_the_port(
    open_socket: Open, bound_to: str
) -> None:
    receiver = open_socket(s.AF_INET)
    s.bind(receiver, (bound_to, 0))
    sender = open_socket(s.AF_INET)
    s.bind(sender, ("127.0.0.1", 0))
    s.set_broadcast(sender, True)
    await s.sendto(sender, ("127.255.255.255", _port(receiver)), b"to all", timeout=5)
    data, source = await s.recvfrom(receiver, timeout=5)
    assert data == b"to all"
    assert source == s.sock_name(sender)


@pytest.mark.usefixtures("broadcast_on_lo")
async def test_broadcast_without_set_broadcast_raises_permission_error(
    open_socket: Open,
) -> None:
    receiver = open_socket(s.AF_INET)
    s.bind(receiver, ("0.0.0.0", 0))
    sender = open_socket(s.AF_INET)
    with pytest.raises(PermissionError) as caught:
        await s.sendto(sender, ("127.255.255.255", _port(receiver)), b"to all", timeout=5)
    assert caught.value.errno == errno.EACCES


# --- sender options ---------------------------------------------------------------------------


def test_ipv6_multicast_interface_reads_back_as_the_interface_index(open_socket: Open) -> None:
    fd = open_socket(s.AF_INET6)
    s.set_multicast_interface(fd, LO)
    level, option = stdsocket.IPPROTO_IPV6, stdsocket.IPV6_MULTICAST_IF
    assert _getsockopt(fd, level, option) == stdsocket.if_nametoindex(LO)
    s.set_multicast_interface(fd, None)
    assert _getsockopt(fd, level, option) == 0


@pytest.mark.parametrize("version", FAMILIES)
def test_multicast_interface_unknown_name_raises_os_error(open_socket: Open, version: str) -> None:
    fd = open_socket(FAMILIES[version][0])
    with pytest.raises(OSError, match="No such device: 'nosuchif0'") as caught:
        s.set_multicast_interface(fd, "nosuchif0")
    assert caught.value.errno == errno.ENODEV


MULTICAST_OPTIONS = {
    "ipv4": (
        s.AF_INET,
        stdsocket.IPPROTO_IP,
        stdsocket.IP_MULTICAST_TTL,
        stdsocket.IP_MULTICAST_LOOP,
    ),
    "ipv6": (
        s.AF_INET6,
        stdsocket.IPPROTO_IPV6,
        stdsocket.IPV6_MULTICAST_HOPS,
        stdsocket.IPV6_MULTICAST_LOOP,
    ),
}


@pytest.mark.parametrize("version", MULTICAST_OPTIONS)
@pytest.mark.parametrize("ttl", [0, 1, 32, 255])
def test_multicast_ttl_reads_back(open_socket: Open, version: str, ttl: int) -> None:
    domain, level, ttl_option, _loop = MULTICAST_OPTIONS[version]
    fd = open_socket(domain)
    s.set_multicast_ttl(fd, ttl)
    assert _getsockopt(fd, level, ttl_option) == ttl


@pytest.mark.parametrize("ttl", [-1, 256])
def test_multicast_ttl_out_of_range_raises_value_error(open_socket: Open, ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        s.set_multicast_ttl(open_socket(s.AF_INET), ttl)


@pytest.mark.parametrize("ttl", [True, 1.0, "1"])
def test_multicast_ttl_of_wrong_type_raises_type_error(open_socket: Open, ttl: object) -> None:
    with pytest.raises(TypeError, match="ttl"):
        s.set_multicast_ttl(open_socket(s.AF_INET), ttl)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", MULTICAST_OPTIONS)
def test_multicast_loop_reads_back(open_socket: Open, version: str) -> None:
    domain, level, _ttl, loop_option = MULTICAST_OPTIONS[version]
    fd = open_socket(domain)
    s.set_multicast_loop(fd, False)
    assert _getsockopt(fd, level, loop_option) == 0
    s.set_multicast_loop(fd, True)
    assert _getsockopt(fd, level, loop_option) == 1


@pytest.mark.parametrize("flag", [1, 0, None, "yes"])
def test_multicast_loop_rejects_non_bool_with_type_error(open_socket: Open, flag: object) -> None:
    with pytest.raises(TypeError, match="must be a bool"):
        s.set_multicast_loop(open_socket(s.AF_INET), flag)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda fd: s.set_multicast_interface(fd, LO),
        lambda fd: s.set_multicast_ttl(fd, 1),
        lambda fd: s.set_multicast_loop(fd, True),
    ],
    ids=["interface", "ttl", "loop"],
)
@pytest.mark.parametrize(
    ("domain", "kind"),
    [(s.AF_INET, s.SOCK_STREAM), (s.AF_INET6, s.SOCK_STREAM), (s.AF_UNIX, s.SOCK_DGRAM)],
    ids=["tcp", "tcp6", "unix"],
)
def test_sender_options_on_a_non_udp_socket_raise_value_error(
    open_socket: Open, call: Callable[[int], None], domain: int, kind: int
) -> None:
    with pytest.raises(ValueError, match="UDP"):
        call(open_socket(domain, kind))


# --- membership arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "group"),
    [
        (s.AF_INET, "127.0.0.1"),
        (s.AF_INET, "10.1.2.3"),
        (s.AF_INET, "255.255.255.255"),
        (s.AF_INET6, "::1"),
        (s.AF_INET6, "fe80::1"),
    ],
)
def test_non_multicast_group_raises_value_error(open_socket: Open, domain: int, group: str) -> None:
    fd = open_socket(domain)
    with pytest.raises(ValueError, match="not a multicast address"):
        s.add_membership(fd, group, LO)
    with pytest.raises(ValueError, match="not a multicast address"):
        s.drop_membership(fd, group, LO)


@pytest.mark.parametrize(
    ("domain", "group"), [(s.AF_INET, "ff15::1234"), (s.AF_INET6, "239.255.0.1")]
)
def test_group_of_the_other_ip_version_raises_value_error(
    open_socket: Open, domain: int, group: str
) -> None:
    with pytest.raises(ValueError, match="group needs"):
        s.add_membership(open_socket(domain), group, LO)


@pytest.mark.parametrize(
    ("domain", "group", "source"),
    [(s.AF_INET, "232.1.2.3", "::1"), (s.AF_INET6, "ff35::1234", "127.0.0.1")],
)
def test_source_of_the_other_ip_version_raises_value_error(
    open_socket: Open, domain: int, group: str, source: str
) -> None:
    with pytest.raises(ValueError, match="same IP version"):
        s.add_membership(open_socket(domain), group, LO, source)


@pytest.mark.parametrize(
    ("domain", "group"), [(s.AF_INET, "239.255.0.1"), (s.AF_INET6, "ff15::1234")]
)
def test_membership_on_a_tcp_socket_raises_value_error(
    open_socket: Open, domain: int, group: str
) -> None:
    fd = open_socket(domain, s.SOCK_STREAM)
    with pytest.raises(ValueError, match="UDP"):
        s.add_membership(fd, group, LO)
    with pytest.raises(ValueError, match="UDP"):
        s.drop_membership(fd, group, LO)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"group": "localhost"}, ValueError, "group must be a numeric IP address"),
        ({"group": 0xEFFF0001}, TypeError, "group"),
        ({"group": b"239.255.0.1"}, TypeError, "group"),
        ({"source": "somehost"}, ValueError, "source must be a numeric IP address"),
        ({"source": 1}, TypeError, "source"),
        ({"interface": ""}, ValueError, "interface"),
        ({"interface": "x" * 16}, ValueError, "interface"),
        ({"interface": "a/b"}, ValueError, "interface"),
        ({"interface": 1}, TypeError, "interface"),
    ],
)
def test_membership_bad_arguments_raise_before_any_system_call(
    open_socket: Open, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    arguments: dict[str, object] = {"group": "232.1.2.9", "interface": LO, "source": None}
    arguments.update(kwargs)
    fd = open_socket(s.AF_INET)
    with pytest.raises(error, match=match):
        s.add_membership(fd, **arguments)  # type: ignore[arg-type]
    assert (LO, ipaddress.ip_address("232.1.2.9")) not in _memberships()


def test_membership_on_an_unknown_interface_raises_os_error(open_socket: Open) -> None:
    with pytest.raises(OSError, match="No such device"):
        s.add_membership(open_socket(s.AF_INET), "239.255.0.1", "nosuchif0")
