"""The PROXY header parser: v1 and v2, every way to be incomplete or wrong (no I/O)."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from trionet import AF_INET, AF_INET6, SockAddr
from trionet._core._proxy_header import V2_SIGNATURE, ProxyHeader, needed, parse


def v2(command: int, family: int, body: bytes, version: int = 2) -> bytes:
    """A v2 header as HAProxy builds it."""
    return V2_SIGNATURE + struct.pack("!BBH", version << 4 | command, family, len(body)) + body


def v2_inet(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    ip = ipaddress.ip_address(src)
    family = 0x11 if ip.version == 4 else 0x21
    body = ip.packed + ipaddress.ip_address(dst).packed + struct.pack("!HH", sport, dport)
    return v2(1, family, body + tlvs)


def read_like_the_reader(stream: bytes) -> tuple[ProxyHeader, bytes, int]:
    """Feed ``stream`` as the reader does: never more than ``needed()``; count the reads."""
    data, reads = b"", 0
    while (header := parse(data)) is None:
        want = needed(data)
        assert want >= 1
        data += stream[len(data) : len(data) + want]
        reads += 1
    return header, stream[len(data) :], reads


def test_v1_tcp4() -> None:
    line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n"
    header, rest, _ = read_like_the_reader(line + b"GET /")
    assert header == ProxyHeader(
        1, SockAddr("192.0.2.7", 56324, AF_INET), SockAddr("198.51.100.1", 443, AF_INET), len(line)
    )
    assert rest == b"GET /"  # not one byte of the application's data was taken


def test_v1_tcp6_and_its_reads_stay_few() -> None:
    line = b"PROXY TCP6 2001:db8::1 2001:db8::2 65535 8080\r\n"
    header, rest, reads = read_like_the_reader(line + b"x")
    assert header.source == SockAddr("2001:db8::1", 65535, AF_INET6)
    assert rest == b"x"
    assert reads <= 12


def test_v1_unknown_carries_no_address() -> None:
    header, rest, _ = read_like_the_reader(b"PROXY UNKNOWN\r\nhello")
    assert (header.source, header.length, rest) == (None, 15, b"hello")
    header, rest, _ = read_like_the_reader(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nhi")
    assert (header.source, rest) == (None, b"hi")


def test_v2_ipv4_with_tlvs_skipped() -> None:
    raw = v2_inet("203.0.113.9", "127.0.0.1", 40000, 8124, tlvs=b"\x04\x00\x01\x00")
    header, rest, reads = read_like_the_reader(raw + b"data")
    assert header.version == 2
    assert header.source == SockAddr("203.0.113.9", 40000, AF_INET)
    assert header.destination == SockAddr("127.0.0.1", 8124, AF_INET)
    assert (header.length, rest, reads) == (len(raw), b"data", 3)


def test_v2_ipv6() -> None:
    header, _, _ = read_like_the_reader(v2_inet("2001:db8::5", "::1", 1, 2))
    assert header.source == SockAddr("2001:db8::5", 1, AF_INET6)


@pytest.mark.parametrize(
    "raw",
    [
        v2(0, 0x00, b""),  # LOCAL: the balancer's own health check
        v2(0, 0x11, bytes(12)),  # LOCAL with addresses: they are ignored
        v2(1, 0x00, b""),  # PROXY, family unspecified
        v2(1, 0x31, bytes(216)),  # a Unix-domain client
    ],
)
def test_v2_without_a_client_address(raw: bytes) -> None:
    header, rest, _ = read_like_the_reader(raw + b"!")
    assert (header.source, header.length, rest) == (None, len(raw), b"!")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "not a PROXY protocol header"),
        (b"PROXZ TCP4 1.2.3.4 1.2.3.4 1 2\r\n", "not a PROXY v1 header"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "bad PROXY v1 header"),
        (b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", "bad PROXY v1 header"),
        (b"PROXY TCP4 1.2.3.400 1.2.3.4 1 2\r\n", "bad address"),
        (b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n", "does not match"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", "bad port"),
        (b"PROXY " + b"A" * 120, "not a PROXY v1 header"),  # no CRLF in 107 bytes
        (V2_SIGNATURE[:6] + b"XXXXXXXXXX", "not a PROXY v2 header"),
        (v2(1, 0x11, bytes(12), version=1), "unsupported PROXY header version"),
        (v2(2, 0x11, bytes(12)), "unsupported PROXY v2 command"),
        (v2(1, 0x12, bytes(12)), "family/protocol"),  # DGRAM on a stream
        (v2(1, 0x41, bytes(12)), "family/protocol"),
        (v2(1, 0x21, bytes(12)), "too short for its family"),
    ],
)
def test_invalid_headers_raise_value_error(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_like_the_reader(raw + bytes(300))


def test_incomplete_headers_ask_for_more() -> None:
    assert parse(b"") is None
    assert parse(b"PRO") is None
    assert parse(b"PROXY TCP4 1.2.3.4") is None
    assert parse(V2_SIGNATURE[:5]) is None
    raw = v2_inet("1.2.3.4", "5.6.7.8", 1, 2)
    assert parse(raw[:-1]) is None
    assert needed(raw[:-1]) == 1
    assert needed(b"") == 15
