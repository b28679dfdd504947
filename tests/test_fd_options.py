"""Socket options of the fd level, read back from the kernel.

Each option is checked twice: through ``trionet.socket`` and through a
``getsockopt`` on a duplicate of the fd, so a setter that silently does
nothing, or sets the wrong option, fails here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket as stdsocket
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import trio
from _ports import retry_on_addr_in_use

from trionet import socket as s

MIB = 1024 * 1024
SO_MARK = getattr(stdsocket, "SO_MARK", 36)


def _getsockopt(fd: int, level: int, option: int, buflen: int | None = None) -> Any:
    """Read an option through a duplicate of ``fd`` (closed again at once)."""
    with stdsocket.socket(fileno=os.dup(fd)) as sock:
        if buflen is None:
            return sock.getsockopt(level, option)
        return sock.getsockopt(level, option, buflen)


def _tcp_opt(fd: int, option: int) -> int:
    value: int = _getsockopt(fd, stdsocket.IPPROTO_TCP, option)
    return value


def _sol_opt(fd: int, option: int) -> int:
    value: int = _getsockopt(fd, stdsocket.SOL_SOCKET, option)
    return value


def _open(domain: int, type: int) -> Iterator[int]:
    fd = s.socket(domain, type)
    try:
        yield fd
    finally:
        s.close(fd)


@pytest.fixture
def tcp() -> Iterator[int]:
    yield from _open(s.AF_INET, s.SOCK_STREAM)


@pytest.fixture
def tcp6() -> Iterator[int]:
    yield from _open(s.AF_INET6, s.SOCK_STREAM)


@pytest.fixture
def udp() -> Iterator[int]:
    yield from _open(s.AF_INET, s.SOCK_DGRAM)


@pytest.fixture
def udp6() -> Iterator[int]:
    yield from _open(s.AF_INET6, s.SOCK_DGRAM)


@pytest.fixture
def unix_stream() -> Iterator[int]:
    yield from _open(s.AF_UNIX, s.SOCK_STREAM)


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    fd = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        s.bind(fd, ("127.0.0.1", 0))
        s.listen(fd)
        yield fd
    finally:
        s.close(fd)


@pytest.fixture
async def tcp_pair(listener: int) -> AsyncIterator[tuple[int, int]]:
    """A connected (client, server) pair over 127.0.0.1."""
    client = s.socket(s.AF_INET, s.SOCK_STREAM)
    server = -1
    try:
        await s.connect(client, s.sock_name(listener), timeout=5)
        server, _peer = await s.accept(listener, timeout=5)
        yield client, server
    finally:
        s.close(client)
        if server >= 0:
            s.close(server)


# --- keep-alive -----------------------------------------------------------------


def test_keep_alive_enable_without_idle_raises_value_error(tcp: int) -> None:
    with pytest.raises(ValueError, match="idle"):
        s.set_keep_alive(tcp, True)
    assert _sol_opt(tcp, stdsocket.SO_KEEPALIVE) == 0


def test_keep_alive_enable_sets_idle_interval_count_and_turns_probes_on(tcp: int) -> None:
    s.set_keep_alive(tcp, True, idle=10, interval=3, count=5)
    assert _sol_opt(tcp, stdsocket.SO_KEEPALIVE) == 1
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPIDLE) == 10
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPINTVL) == 3
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPCNT) == 5


@pytest.mark.parametrize(
    ("seconds", "whole"),
    [(0, 1), (0.001, 1), (1, 1), (1.2, 2), (2.0, 2), (59.5, 60), (32767, 32767)],
)
def test_keep_alive_seconds_round_up_to_whole_seconds_at_least_one(
    tcp: int, seconds: float, whole: int
) -> None:
    s.set_keep_alive(tcp, True, idle=seconds, interval=seconds)
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPIDLE) == whole
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPINTVL) == whole


def test_keep_alive_interval_defaults_to_idle_and_count_to_three(tcp: int) -> None:
    s.set_keep_alive(tcp, True, idle=7.5)
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPIDLE) == 8
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPINTVL) == 8
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPCNT) == 3


@pytest.mark.parametrize("count", [1, 127])
def test_keep_alive_count_accepts_1_to_127(tcp: int, count: int) -> None:
    s.set_keep_alive(tcp, True, idle=1, count=count)
    assert _tcp_opt(tcp, stdsocket.TCP_KEEPCNT) == count


@pytest.mark.parametrize("count", [0, 128, -1])
def test_keep_alive_count_out_of_range_raises_value_error(tcp: int, count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        s.set_keep_alive(tcp, True, idle=1, count=count)
    assert _sol_opt(tcp, stdsocket.SO_KEEPALIVE) == 0


@pytest.mark.parametrize("count", [3.0, True, "3"])
def test_keep_alive_count_of_wrong_type_raises_type_error(tcp: int, count: object) -> None:
    with pytest.raises(TypeError, match="count"):
        s.set_keep_alive(tcp, True, idle=1, count=count)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"idle": -1}, "idle"),
        ({"idle": 32768}, "idle"),
        ({"idle": float("inf")}, "idle"),
        ({"idle": float("nan")}, "idle"),
        ({"idle": 1, "interval": -0.5}, "interval"),
        ({"idle": 1, "interval": 40000}, "interval"),
    ],
)
def test_keep_alive_times_out_of_range_raise_value_error(
    tcp: int, kwargs: dict[str, float], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        s.set_keep_alive(tcp, True, **kwargs)
    assert _sol_opt(tcp, stdsocket.SO_KEEPALIVE) == 0


@pytest.mark.parametrize(("kwargs", "name"), [({"idle": "10"}, "idle"), ({"idle": True}, "idle")])
def test_keep_alive_times_of_wrong_type_raise_type_error(
    tcp: int, kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(TypeError, match=name):
        s.set_keep_alive(tcp, True, **kwargs)  # type: ignore[arg-type]


def test_keep_alive_disable_turns_probes_off_without_idle(tcp: int) -> None:
    s.set_keep_alive(tcp, True, idle=5)
    assert _sol_opt(tcp, stdsocket.SO_KEEPALIVE) == 1
    s.set_keep_alive(tcp, False)
    assert _sol_opt(tcp, stdsocket.SO_KEEPALIVE) == 0


async def test_keep_alive_applies_to_a_connected_socket(tcp_pair: tuple[int, int]) -> None:
    client, server = tcp_pair
    s.set_keep_alive(server, True, idle=30, interval=2, count=4)
    assert _sol_opt(server, stdsocket.SO_KEEPALIVE) == 1
    assert _tcp_opt(server, stdsocket.TCP_KEEPIDLE) == 30
    assert _sol_opt(client, stdsocket.SO_KEEPALIVE) == 0


def test_keep_alive_on_udp_raises_value_error(udp: int) -> None:
    with pytest.raises(ValueError, match="TCP"):
        s.set_keep_alive(udp, True, idle=1)


# --- no delay ---------------------------------------------------------------------


def test_no_delay_reads_back_as_tcp_nodelay(tcp: int) -> None:
    assert _tcp_opt(tcp, stdsocket.TCP_NODELAY) == 0
    s.set_no_delay(tcp, True)
    assert _tcp_opt(tcp, stdsocket.TCP_NODELAY) == 1
    s.set_no_delay(tcp, False)
    assert _tcp_opt(tcp, stdsocket.TCP_NODELAY) == 0


def test_no_delay_works_on_ipv6_tcp(tcp6: int) -> None:
    s.set_no_delay(tcp6, True)
    assert _tcp_opt(tcp6, stdsocket.TCP_NODELAY) == 1


def test_no_delay_on_udp_raises_value_error(udp: int) -> None:
    with pytest.raises(ValueError, match="TCP"):
        s.set_no_delay(udp, True)


def test_no_delay_on_unix_stream_raises_value_error(unix_stream: int) -> None:
    with pytest.raises(ValueError, match="TCP"):
        s.set_no_delay(unix_stream, True)


# --- broadcast, reuse, ipv6-only ------------------------------------------------


@pytest.mark.parametrize(
    ("setter", "option"),
    [
        (s.set_broadcast, stdsocket.SO_BROADCAST),
        (s.set_reuse_addr, stdsocket.SO_REUSEADDR),
        (s.set_reuse_port, stdsocket.SO_REUSEPORT),
    ],
    ids=["broadcast", "reuse_addr", "reuse_port"],
)
def test_socket_level_flags_read_back(
    udp: int, setter: Callable[[int, bool], None], option: int
) -> None:
    assert _sol_opt(udp, option) == 0
    setter(udp, True)
    assert _sol_opt(udp, option) == 1
    setter(udp, False)
    assert _sol_opt(udp, option) == 0


def test_reuse_port_lets_two_udp_sockets_bind_the_same_port(udp: int) -> None:
    second = s.socket(s.AF_INET, s.SOCK_DGRAM)
    try:
        s.set_reuse_port(udp, True)
        s.set_reuse_port(second, True)
        s.bind(udp, ("127.0.0.1", 0))
        s.bind(second, s.sock_name(udp))
        assert s.sock_name(second) == s.sock_name(udp)
    finally:
        s.close(second)


def test_without_reuse_port_a_second_bind_to_the_port_fails(udp: int) -> None:
    second = s.socket(s.AF_INET, s.SOCK_DGRAM)
    try:
        s.bind(udp, ("127.0.0.1", 0))
        with pytest.raises(OSError, match=os.strerror(errno.EADDRINUSE)) as caught:
            s.bind(second, s.sock_name(udp))
        assert caught.value.errno == errno.EADDRINUSE
    finally:
        s.close(second)


def test_ipv6_only_reads_back_as_ipv6_v6only(udp6: int) -> None:
    s.set_ipv6_only(udp6, True)
    assert _getsockopt(udp6, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY) == 1
    s.set_ipv6_only(udp6, False)
    assert _getsockopt(udp6, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY) == 0


def test_ipv6_only_socket_leaves_the_ipv4_port_free() -> None:
    def bind_both() -> None:
        # Another program may have the IPv4 port that the kernel gave the
        # IPv6 socket: then both are tried again on a fresh port.
        with contextlib.ExitStack() as stack:
            tcp6 = s.socket(s.AF_INET6, s.SOCK_STREAM)
            stack.callback(s.close, tcp6)
            tcp = s.socket(s.AF_INET, s.SOCK_STREAM)
            stack.callback(s.close, tcp)
            s.set_ipv6_only(tcp6, True)
            s.bind(tcp6, ("::", 0))
            s.bind(tcp, ("0.0.0.0", s.sock_name(tcp6).port))  # type: ignore[union-attr]

    retry_on_addr_in_use(bind_both)


@pytest.mark.parametrize("kind", [s.SOCK_STREAM, s.SOCK_DGRAM])
def test_ipv6_only_on_an_ipv4_socket_raises_value_error(kind: int) -> None:
    fd = s.socket(s.AF_INET, kind)
    try:
        with pytest.raises(ValueError, match="IPv6"):
            s.set_ipv6_only(fd, True)
    finally:
        s.close(fd)


# --- linger --------------------------------------------------------------------------


def _linger(fd: int) -> tuple[int, int]:
    raw = _getsockopt(fd, stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, struct.calcsize("ii"))
    onoff, seconds = struct.unpack("ii", raw)
    return onoff, seconds


@pytest.mark.parametrize(
    ("enabled", "seconds", "expected"),
    [(True, 5, (1, 5)), (True, 0, (1, 0)), (True, 2.5, (1, 3)), (False, 0, (0, 0))],
)
def test_linger_reads_back_as_struct_linger(
    tcp: int, enabled: bool, seconds: float, expected: tuple[int, int]
) -> None:
    s.set_linger(tcp, enabled, seconds)
    assert _linger(tcp) == expected


def test_linger_seconds_default_to_zero(tcp: int) -> None:
    s.set_linger(tcp, True)
    assert _linger(tcp) == (1, 0)


def test_linger_negative_seconds_raises_value_error(tcp: int) -> None:
    with pytest.raises(ValueError, match="seconds"):
        s.set_linger(tcp, True, -1)


def test_linger_seconds_of_wrong_type_raises_type_error(tcp: int) -> None:
    with pytest.raises(TypeError, match="seconds"):
        s.set_linger(tcp, True, "5")  # type: ignore[arg-type]


async def test_linger_zero_makes_close_reset_the_connection(tcp_pair: tuple[int, int]) -> None:
    client, server = tcp_pair
    s.set_linger(client, True, 0)
    s.close(client)
    with pytest.raises(ConnectionResetError):
        await s.recv(server, timeout=5)


# --- ttl -------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [1, 64, 255])
def test_ttl_reads_back_as_ip_ttl(udp: int, ttl: int) -> None:
    s.set_ttl(udp, ttl)
    assert _getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_TTL) == ttl


@pytest.mark.parametrize("ttl", [1, 17, 255])
def test_ttl_on_ipv6_sets_the_unicast_hop_limit(udp6: int, ttl: int) -> None:
    s.set_ttl(udp6, ttl)
    assert _getsockopt(udp6, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_UNICAST_HOPS) == ttl


def test_ttl_works_on_tcp(tcp: int) -> None:
    s.set_ttl(tcp, 33)
    assert _getsockopt(tcp, stdsocket.IPPROTO_IP, stdsocket.IP_TTL) == 33


@pytest.mark.parametrize("ttl", [0, 256, 300, -1])
def test_ttl_out_of_range_raises_value_error(udp: int, ttl: int) -> None:
    before = _getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_TTL)
    with pytest.raises(ValueError, match="ttl"):
        s.set_ttl(udp, ttl)
    assert _getsockopt(udp, stdsocket.IPPROTO_IP, stdsocket.IP_TTL) == before


@pytest.mark.parametrize("ttl", [True, 64.0, "64", None])
def test_ttl_of_wrong_type_raises_type_error(udp: int, ttl: object) -> None:
    with pytest.raises(TypeError, match="ttl"):
        s.set_ttl(udp, ttl)  # type: ignore[arg-type]


def test_ttl_on_unix_socket_raises_value_error(unix_stream: int) -> None:
    with pytest.raises(ValueError, match="IPv4 and IPv6"):
        s.set_ttl(unix_stream, 64)


# --- tcp state -----------------------------------------------------------------------


def test_tcp_state_of_a_fresh_socket_is_closed(tcp: int) -> None:
    assert s.get_tcp_state(tcp) is s.TcpState.CLOSED
    assert s.get_tcp_state(tcp) == s.TCP_CLOSED == 0


async def test_tcp_state_of_a_listener_is_listen(listener: int) -> None:
    assert s.get_tcp_state(listener) is s.TcpState.LISTEN


async def test_tcp_state_of_a_connected_pair_is_established(tcp_pair: tuple[int, int]) -> None:
    client, server = tcp_pair
    assert s.get_tcp_state(client) is s.TcpState.ESTABLISHED
    assert s.get_tcp_state(server) is s.TcpState.ESTABLISHED


async def test_tcp_state_after_shutdown_write_is_fin_wait_2_and_close_wait(
    tcp_pair: tuple[int, int],
) -> None:
    client, server = tcp_pair
    s.shutdown(client, "w")
    assert await s.recv(server, timeout=5) == b""
    assert s.get_tcp_state(server) is s.TcpState.CLOSE_WAIT
    # Linux delays the ACK of a FIN (to piggyback it); until it arrives the
    # closer is in FIN_WAIT_1. Data from the half-open side carries the ACK.
    assert s.get_tcp_state(client) in (s.TcpState.FIN_WAIT_1, s.TcpState.FIN_WAIT_2)
    assert await s.send(server, b"still here", timeout=5) == 10
    assert await s.recv(client, timeout=5) == b"still here"
    assert s.get_tcp_state(client) is s.TcpState.FIN_WAIT_2
    assert s.get_tcp_state(server) is s.TcpState.CLOSE_WAIT


async def test_tcp_state_of_the_passive_closer_after_both_shutdowns_is_last_ack_or_closed(
    tcp_pair: tuple[int, int],
) -> None:
    client, server = tcp_pair
    s.shutdown(client, "w")
    assert await s.recv(server, timeout=5) == b""
    s.shutdown(server, "w")
    assert await s.recv(client, timeout=5) == b""
    # The active closer went to TIME_WAIT, which Linux keeps in a separate
    # mini-socket: the fd's own socket reads CLOSED.
    assert s.get_tcp_state(client) is s.TcpState.CLOSED
    assert s.get_tcp_state(server) in (s.TcpState.LAST_ACK, s.TcpState.CLOSED)


def test_tcp_state_on_udp_raises_value_error(udp: int) -> None:
    with pytest.raises(ValueError, match="TCP"):
        s.get_tcp_state(udp)


# --- buffer sizes ----------------------------------------------------------------------

BUFFERS = [
    (s.set_recv_buffer_size, s.get_recv_buffer_size, stdsocket.SO_RCVBUF),
    (s.set_send_buffer_size, s.get_send_buffer_size, stdsocket.SO_SNDBUF),
]
BUFFER_IDS = ["recv", "send"]


@pytest.mark.parametrize(("setter", "getter", "option"), BUFFERS, ids=BUFFER_IDS)
@pytest.mark.parametrize("size", [1024, 4096, 65536, 16 * MIB])
def test_buffer_size_set_then_get_is_at_least_the_size(
    tcp: int,
    setter: Callable[[int, int], None],
    getter: Callable[[int], int],
    option: int,
    size: int,
) -> None:
    setter(tcp, size)
    got = getter(tcp)
    # Linux doubles the request for its bookkeeping, raises it to its own
    # minimum (4608 for a TCP send buffer) and caps it at rmem_max / wmem_max.
    assert got == _sol_opt(tcp, option)
    assert got >= min(size, 65536)
    if size <= 65536:
        assert got >= size


@pytest.mark.parametrize(("setter", "getter", "option"), BUFFERS, ids=BUFFER_IDS)
def test_buffer_size_works_on_udp(
    udp: int, setter: Callable[[int, int], None], getter: Callable[[int], int], option: int
) -> None:
    setter(udp, 8192)
    assert getter(udp) >= 8192
    assert getter(udp) == _sol_opt(udp, option)


@pytest.mark.parametrize(("setter", "getter", "option"), BUFFERS, ids=BUFFER_IDS)
@pytest.mark.parametrize("size", [1023, 0, -1, 16 * MIB + 1])
def test_buffer_size_out_of_range_raises_value_error(
    tcp: int,
    setter: Callable[[int, int], None],
    getter: Callable[[int], int],
    option: int,
    size: int,
) -> None:
    before = getter(tcp)
    with pytest.raises(ValueError, match="size"):
        setter(tcp, size)
    assert getter(tcp) == before


@pytest.mark.parametrize(("setter", "getter", "option"), BUFFERS, ids=BUFFER_IDS)
@pytest.mark.parametrize("size", [4096.0, True, "4096"])
def test_buffer_size_of_wrong_type_raises_type_error(
    tcp: int,
    setter: Callable[[int, object], None],
    getter: Callable[[int], int],
    option: int,
    size: object,
) -> None:
    with pytest.raises(TypeError, match="size"):
        setter(tcp, size)


# --- sec_region (SO_MARK) ----------------------------------------------------------------


def _set_mark_or_skip(fd: int, region: int) -> int:
    try:
        return s.sec_region(fd, region)
    except PermissionError as exc:
        pytest.skip(f"setting SO_MARK refused ({errno.errorcode[exc.errno]}): not privileged")


def test_sec_region_of_a_fresh_socket_is_zero(tcp: int, udp: int) -> None:
    assert s.sec_region(tcp) == 0
    assert s.sec_region(udp) == 0


def test_sec_region_set_returns_the_new_region_and_reads_back(udp: int) -> None:
    assert _set_mark_or_skip(udp, 7) == 7
    assert s.sec_region(udp) == 7
    assert _sol_opt(udp, SO_MARK) == 7


@pytest.mark.parametrize("region", [0, 2**31 - 1, 2**31, 2**32 - 1])
def test_sec_region_takes_the_whole_unsigned_32_bit_range(tcp: int, region: int) -> None:
    assert _set_mark_or_skip(tcp, region) == region
    assert s.sec_region(tcp) == region


@pytest.mark.parametrize("region", [-1, 2**32])
def test_sec_region_out_of_range_raises_value_error(tcp: int, region: int) -> None:
    with pytest.raises(ValueError, match="region"):
        s.sec_region(tcp, region)
    assert s.sec_region(tcp) == 0


@pytest.mark.parametrize("region", [True, 7.0, "7"])
def test_sec_region_of_wrong_type_raises_type_error(tcp: int, region: object) -> None:
    with pytest.raises(TypeError, match="region"):
        s.sec_region(tcp, region)  # type: ignore[arg-type]


# --- udp connect assigns local address -------------------------------------------------


def test_udp_conn_assign_local_addr_is_true_on_linux(udp: int, udp6: int) -> None:
    assert s.get_udp_conn_assign_local_addr(udp) is True
    assert s.get_udp_conn_assign_local_addr(udp6) is True


def test_udp_conn_assign_local_addr_set_true_is_accepted(udp: int) -> None:
    s.set_udp_conn_assign_local_addr(udp, True)
    assert s.get_udp_conn_assign_local_addr(udp) is True


def test_udp_conn_assign_local_addr_set_false_raises_not_implemented(udp: int) -> None:
    with pytest.raises(NotImplementedError, match="Linux"):
        s.set_udp_conn_assign_local_addr(udp, False)


async def test_udp_connect_assigns_a_local_address(udp: int) -> None:
    await s.connect(udp, ("127.0.0.1", 9), timeout=5)
    local = s.sock_name(udp)
    assert isinstance(local, s.SockAddr)
    assert local.addr == "127.0.0.1"
    assert local.port != 0


def test_udp_conn_assign_local_addr_on_tcp_raises_value_error(tcp: int) -> None:
    with pytest.raises(ValueError, match="UDP"):
        s.get_udp_conn_assign_local_addr(tcp)
    with pytest.raises(ValueError, match="UDP"):
        s.set_udp_conn_assign_local_addr(tcp, True)


# --- bind_to_device ------------------------------------------------------------------------


def _bound_device(fd: int) -> bytes:
    raw: bytes = _getsockopt(fd, stdsocket.SOL_SOCKET, stdsocket.SO_BINDTODEVICE, 16)
    return raw.split(b"\0", 1)[0]


def test_bind_to_device_lo_then_none_unbinds(udp: int) -> None:
    s.bind_to_device(udp, "lo")
    assert _bound_device(udp) == b"lo"
    try:
        s.bind_to_device(udp, None)
    except PermissionError as exc:
        pytest.skip(f"changing a device binding refused ({errno.errorcode[exc.errno]})")
    assert _bound_device(udp) == b""


def test_bind_to_device_default_is_unbind(udp: int) -> None:
    s.bind_to_device(udp)
    assert _bound_device(udp) == b""


async def test_socket_bound_to_lo_still_talks_over_loopback(udp: int) -> None:
    s.bind_to_device(udp, "lo")
    s.bind(udp, ("127.0.0.1", 0))
    await s.sendto(udp, s.sock_name(udp), b"via lo", timeout=5)
    data, _sender = await s.recvfrom(udp, timeout=5)
    assert data == b"via lo"


def test_bind_to_device_unknown_interface_raises_os_error(udp: int) -> None:
    with pytest.raises(OSError, match=os.strerror(errno.ENODEV)) as caught:
        s.bind_to_device(udp, "nosuchif0")
    assert caught.value.errno == errno.ENODEV
    assert _bound_device(udp) == b""


@pytest.mark.parametrize("ifname", ["", "a" * 16, "a" * 40, "lo/0", "l o", "lo\0"])
def test_bind_to_device_invalid_name_raises_value_error(udp: int, ifname: str) -> None:
    with pytest.raises(ValueError, match="interface name"):
        s.bind_to_device(udp, ifname)


@pytest.mark.parametrize("ifname", [b"lo", 1, True])
def test_bind_to_device_non_str_name_raises_type_error(udp: int, ifname: object) -> None:
    with pytest.raises(TypeError, match="ifname"):
        s.bind_to_device(udp, ifname)  # type: ignore[arg-type]


# --- shared argument rules ---------------------------------------------------------------

ENABLE_SETTERS: list[tuple[str, Callable[[int, Any], object]]] = [
    ("set_keep_alive", lambda fd, flag: s.set_keep_alive(fd, flag, idle=1)),
    ("set_no_delay", s.set_no_delay),
    ("set_broadcast", s.set_broadcast),
    ("set_reuse_addr", s.set_reuse_addr),
    ("set_reuse_port", s.set_reuse_port),
    ("set_ipv6_only", s.set_ipv6_only),
    ("set_linger", s.set_linger),
    ("set_udp_conn_assign_local_addr", s.set_udp_conn_assign_local_addr),
]


@pytest.mark.parametrize("flag", [1, 0, None, "yes"])
@pytest.mark.parametrize(
    ("name", "setter"), ENABLE_SETTERS, ids=[name for name, _ in ENABLE_SETTERS]
)
def test_every_enable_flag_rejects_non_bool_with_type_error(
    name: str, setter: Callable[[int, Any], object], flag: object
) -> None:
    kind = s.SOCK_DGRAM if "udp" in name or "broadcast" in name else s.SOCK_STREAM
    domain = s.AF_INET6 if name == "set_ipv6_only" else s.AF_INET
    fd = s.socket(domain, kind)
    try:
        with pytest.raises(TypeError, match="must be a bool"):
            setter(fd, flag)
    finally:
        s.close(fd)


def test_options_on_a_closed_fd_raise_closed_resource_error() -> None:
    fd = s.socket(s.AF_INET, s.SOCK_STREAM)
    s.close(fd)
    with pytest.raises(trio.ClosedResourceError):
        s.set_no_delay(fd, True)
    with pytest.raises(trio.ClosedResourceError):
        s.get_recv_buffer_size(fd)
