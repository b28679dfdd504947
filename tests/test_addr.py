"""Addresses (SPEC section 0): ``SockAddr``, its builders, tuple forms, ``domain()``."""

from __future__ import annotations

import dataclasses
import ipaddress
from pathlib import Path

import pytest
from _fds import Fds
from hypothesis import given
from hypothesis import strategies as st

import trionet
from trionet import socket as s

PORTS = st.integers(min_value=0, max_value=65535)
BAD_PORTS = st.integers().filter(lambda port: not 0 <= port <= 65535)


class TestSockAddrValue:
    def test_sockaddr_is_frozen(self) -> None:
        address = trionet.sockaddr("127.0.0.1", 80)
        with pytest.raises(dataclasses.FrozenInstanceError):
            address.port = 81  # type: ignore[misc]

    def test_equal_addresses_hash_equal_and_deduplicate_in_a_set(self) -> None:
        first = trionet.SockAddr("::0001", 443)
        second = trionet.sockaddr6("::1", 443)
        assert first == second
        assert hash(first) == hash(second)
        assert len({first, second, trionet.sockaddr6("::1", 444)}) == 2

    def test_ipv6_address_is_normalised(self) -> None:
        assert trionet.SockAddr("::0001", 1).addr == "::1"
        assert trionet.sockaddr6("FE80:0000::0001", 1).addr == "fe80::1"

    def test_fields_and_defaults(self) -> None:
        address = trionet.SockAddr("10.1.2.3", 8080)
        assert (address.addr, address.port, address.domain, address.scope_id) == (
            "10.1.2.3",
            8080,
            trionet.AF_INET,
            0,
        )

    def test_domain_is_inferred_from_the_address(self) -> None:
        assert trionet.SockAddr("127.0.0.1", 1).domain == trionet.AF_INET
        assert trionet.SockAddr("::1", 1).domain == trionet.AF_INET6
        assert trionet.sockaddr("::1", 1).domain == trionet.AF_INET6

    def test_domain_given_must_match_the_address(self) -> None:
        assert trionet.SockAddr("::1", 1, trionet.AF_INET6).domain == trionet.AF_INET6
        with pytest.raises(ValueError, match="domain"):
            trionet.SockAddr("::1", 1, trionet.AF_INET)
        with pytest.raises(ValueError, match="domain"):
            trionet.SockAddr("127.0.0.1", 1, trionet.AF_INET6)

    def test_sockaddr6_rejects_an_ipv4_address(self) -> None:
        with pytest.raises(ValueError, match="domain"):
            trionet.sockaddr6("127.0.0.1", 1)

    def test_sockaddr6_keeps_its_scope_id(self) -> None:
        address = trionet.sockaddr6("fe80::1", 5353, scope_id=1)
        assert address.scope_id == 1
        assert address.domain == trionet.AF_INET6
        assert address != trionet.sockaddr6("fe80::1", 5353)

    def test_scope_id_is_refused_for_ipv4(self) -> None:
        with pytest.raises(ValueError, match="scope_id"):
            trionet.SockAddr("127.0.0.1", 1, scope_id=3)

    @pytest.mark.parametrize("scope_id", [-1, 2**32])
    def test_scope_id_out_of_range_is_a_value_error(self, scope_id: int) -> None:
        with pytest.raises(ValueError, match="scope_id"):
            trionet.sockaddr6("fe80::1", 1, scope_id)

    def test_str_shows_host_and_port_with_brackets_for_ipv6(self) -> None:
        assert str(trionet.sockaddr("127.0.0.1", 80)) == "127.0.0.1:80"
        assert str(trionet.sockaddr6("::1", 80)) == "[::1]:80"
        assert str(trionet.sockaddr6("fe80::1", 80, 2)) == "[fe80::1%2]:80"


class TestSockAddrValidation:
    @pytest.mark.parametrize("port", [-1, 65536, 70000])
    def test_port_out_of_range_is_a_value_error(self, port: int) -> None:
        with pytest.raises(ValueError, match="port"):
            trionet.sockaddr("127.0.0.1", port)

    @pytest.mark.parametrize("port", [True, False, 80.0, "80", None])
    def test_port_of_wrong_type_is_a_type_error(self, port: object) -> None:
        with pytest.raises(TypeError, match="port"):
            trionet.sockaddr("127.0.0.1", port)  # type: ignore[arg-type]

    @pytest.mark.parametrize("host", ["localhost", "example.com", "", "1.2.3", "::g", "1.2.3.4:80"])
    def test_host_that_is_not_numeric_is_a_value_error(self, host: str) -> None:
        with pytest.raises(ValueError, match="numeric"):
            trionet.sockaddr(host, 80)

    @pytest.mark.parametrize("host", [None, 2130706433, b"127.0.0.1"])
    def test_host_that_is_not_a_str_is_a_type_error(self, host: object) -> None:
        with pytest.raises(TypeError, match="addr"):
            trionet.sockaddr(host, 80)  # type: ignore[arg-type]

    @given(ip=st.ip_addresses(v=4), port=PORTS)
    def test_any_ipv4_address_round_trips_through_sockaddr(
        self, ip: ipaddress.IPv4Address, port: int
    ) -> None:
        address = trionet.sockaddr(str(ip), port)
        assert (address.addr, address.port, address.domain) == (str(ip), port, trionet.AF_INET)
        assert ipaddress.ip_address(address.addr) == ip

    @given(ip=st.ip_addresses(v=6), port=PORTS)
    def test_any_ipv6_address_is_normalised_to_its_compressed_form(
        self, ip: ipaddress.IPv6Address, port: int
    ) -> None:
        address = trionet.sockaddr6(ip.exploded, port)
        assert address.addr == str(ip)
        assert address == trionet.sockaddr(ip.compressed, port)
        assert address.domain == trionet.AF_INET6

    @given(port=BAD_PORTS)
    def test_any_int_port_outside_the_range_is_a_value_error(self, port: int) -> None:
        with pytest.raises(ValueError, match="port"):
            trionet.sockaddr("127.0.0.1", port)
        with pytest.raises(ValueError, match="port"):
            trionet.sockaddr6("::1", port)


class TestAddrIs:
    @pytest.mark.parametrize(
        ("text", "ipv4", "ipv6"),
        [
            ("127.0.0.1", True, False),
            ("255.255.255.255", True, False),
            ("::1", False, True),
            ("::ffff:127.0.0.1", False, True),
            ("fe80::1", False, True),
            ("localhost", False, False),
            ("", False, False),
            ("1.2.3", False, False),
            ("127.0.0.1:80", False, False),
        ],
    )
    def test_addr_is_ipv4_and_ipv6_classify_numeric_strings(
        self, text: str, ipv4: bool, ipv6: bool
    ) -> None:
        assert s.addr_is_ipv4(text) is ipv4
        assert s.addr_is_ipv6(text) is ipv6

    @pytest.mark.parametrize("value", [None, 1, b"127.0.0.1", ("127.0.0.1", 80)])
    def test_addr_is_checks_reject_non_str(self, value: object) -> None:
        with pytest.raises(TypeError):
            s.addr_is_ipv4(value)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            s.addr_is_ipv6(value)  # type: ignore[arg-type]

    @given(ip=st.ip_addresses())
    def test_addr_is_agrees_with_the_ip_version(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> None:
        assert s.addr_is_ipv4(str(ip)) is (ip.version == 4)
        assert s.addr_is_ipv6(str(ip)) is (ip.version == 6)


class TestDomain:
    @pytest.mark.parametrize(
        ("text", "family"),
        [("127.0.0.1", s.AF_INET), ("0.0.0.0", s.AF_INET), ("::1", s.AF_INET6), ("::", s.AF_INET6)],
    )
    def test_domain_of_an_ip_string(self, text: str, family: int) -> None:
        assert s.domain(text) == family

    @pytest.mark.parametrize("text", ["localhost", "", "not an address"])
    def test_domain_of_a_non_numeric_string_is_a_value_error(self, text: str) -> None:
        with pytest.raises(ValueError, match="numeric"):
            s.domain(text)

    @pytest.mark.parametrize("value", [None, 1.5, True, b"::1"])
    def test_domain_of_something_else_is_a_type_error(self, value: object) -> None:
        with pytest.raises(TypeError):
            s.domain(value)  # type: ignore[arg-type]

    @pytest.mark.parametrize("family", [s.AF_INET, s.AF_INET6, s.AF_UNIX])
    @pytest.mark.parametrize("type", [s.SOCK_STREAM, s.SOCK_DGRAM])
    def test_domain_of_an_fd_is_its_family(self, fds: Fds, family: int, type: int) -> None:
        assert s.domain(fds.socket(family, type)) == family


class TestAddressForms:
    """bind / connect / sendto take a SockAddr or the tuple forms."""

    async def test_bind_and_connect_take_a_two_tuple(self, fds: Fds) -> None:
        listener = fds.socket(s.AF_INET, s.SOCK_STREAM)
        s.bind(listener, ("127.0.0.1", 0))
        s.listen(listener)
        port = s.sock_name(listener).port  # type: ignore[union-attr]
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, ("127.0.0.1", port), timeout=5)
        conn, remote = await s.accept(listener, timeout=5)
        fds.track(conn)
        assert remote == s.sock_name(client)
        assert s.peer_name(client) == trionet.sockaddr("127.0.0.1", port)

    async def test_bind_and_connect_take_the_ipv6_four_tuple(self, fds: Fds) -> None:
        listener = fds.socket(s.AF_INET6, s.SOCK_STREAM)
        s.bind(listener, ("::1", 0, 0, 0))
        s.listen(listener)
        port = s.sock_name(listener).port  # type: ignore[union-attr]
        client = fds.socket(s.AF_INET6, s.SOCK_STREAM)
        await s.connect(client, ("::1", port, 0, 0), timeout=5)
        conn, _remote = await s.accept(listener, timeout=5)
        fds.track(conn)
        assert s.peer_name(client) == trionet.sockaddr6("::1", port)

    async def test_ipv6_two_tuple_is_accepted_too(self, fds: Fds) -> None:
        listener = fds.socket(s.AF_INET6, s.SOCK_STREAM)
        s.bind(listener, ("::1", 0))
        assert s.sock_name(listener) == trionet.sockaddr6("::1", s.sock_name(listener).port)  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("family", "host"), [(s.AF_INET, "127.0.0.1"), (s.AF_INET6, "::1")], ids=["ipv4", "ipv6"]
    )
    async def test_sendto_takes_tuple_and_sockaddr(self, fds: Fds, family: int, host: str) -> None:
        receiver = fds.socket(family, s.SOCK_DGRAM)
        s.bind(receiver, (host, 0))
        port = s.sock_name(receiver).port  # type: ignore[union-attr]
        sender = fds.socket(family, s.SOCK_DGRAM)
        assert await s.sendto(sender, (host, port), b"tuple", timeout=5) == 5
        assert await s.sendto(sender, trionet.sockaddr(host, port), b"sockaddr", timeout=5) == 8
        if family == s.AF_INET6:
            assert await s.sendto(sender, (host, port, 0, 0), b"four", timeout=5) == 4
        data, source = await s.recvfrom(receiver, timeout=5)
        sender_port = s.sock_name(sender).port  # type: ignore[union-attr]
        assert (data, source) == (b"tuple", trionet.sockaddr(host, sender_port))
        assert (await s.recvfrom(receiver, timeout=5))[0] == b"sockaddr"
        if family == s.AF_INET6:
            assert (await s.recvfrom(receiver, timeout=5))[0] == b"four"


class TestBadAddressesAtTheFdLevel:
    """Bad addresses fail before any system call; the fd stays open and unchanged."""

    @pytest.mark.parametrize(
        ("addr", "error"),
        [
            (("127.0.0.1", 70000), ValueError),
            (("127.0.0.1", -1), ValueError),
            (("127.0.0.1", True), TypeError),
            (("127.0.0.1", "80"), TypeError),
            (("localhost", 80), ValueError),
            (("127.0.0.1",), ValueError),
            (("127.0.0.1", 80, 0), ValueError),
            ("127.0.0.1:80", TypeError),
            (None, TypeError),
            (("::1", 80), ValueError),
        ],
    )
    async def test_bad_address_is_refused_by_bind_connect_and_sendto(
        self, fds: Fds, addr: object, error: type[Exception]
    ) -> None:
        stream = fds.socket(s.AF_INET, s.SOCK_STREAM)
        datagram = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        with pytest.raises(error):
            s.bind(stream, addr)
        with pytest.raises(error):
            await s.connect(stream, addr, timeout=5)
        with pytest.raises(error):
            await s.sendto(datagram, addr, b"x", timeout=5)
        # Nothing happened to the sockets: still unbound and unconnected.
        assert s.sock_name(stream) == trionet.sockaddr("0.0.0.0", 0)
        assert s.sock_name(datagram) == trionet.sockaddr("0.0.0.0", 0)
        with pytest.raises(OSError, match="not connected"):
            s.peer_name(stream)

    async def test_ipv4_address_on_an_ipv6_socket_is_a_value_error(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET6, s.SOCK_STREAM)
        with pytest.raises(ValueError, match="IPv6"):
            s.bind(fd, trionet.sockaddr("127.0.0.1", 0))
        with pytest.raises(ValueError, match="IPv6"):
            await s.connect(fd, ("127.0.0.1", 1), timeout=5)

    async def test_ip_address_on_a_unix_socket_is_a_type_error(
        self, fds: Fds, tmp_path: Path
    ) -> None:
        fd = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        with pytest.raises(TypeError, match="path"):
            s.bind(fd, ("127.0.0.1", 0))
        with pytest.raises(TypeError, match="path"):
            await s.connect(fd, trionet.sockaddr("127.0.0.1", 1), timeout=5)
        s.bind(fd, str(tmp_path / "ok"))
        assert s.sock_name(fd) == str(tmp_path / "ok")
