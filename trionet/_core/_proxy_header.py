"""The PROXY protocol header (HAProxy's v1 text and v2 binary forms), parsed without I/O.

A load balancer in front of a server (HAProxy with ``send-proxy`` /
``send-proxy-v2``, an AWS NLB, Envoy) opens each connection with one
header saying who the client is. The specification is HAProxy's
``doc/proxy-protocol.txt``:

- **v1**: one line of at most 107 bytes, ``PROXY TCP4 <src> <dst> <sport>
  <dport>\\r\\n`` (or ``TCP6``, or ``UNKNOWN`` with anything up to CRLF).
- **v2**: a 12-byte signature, a version/command byte, a family/protocol
  byte, a 2-byte big-endian length, then that many bytes: the addresses
  (12 for IPv4, 36 for IPv6, 216 for Unix) and TLVs, which we skip.

The readers (``trionet._proxy_read`` for async code, ``trionet.compat``'s
for threads) must never take a byte of the application's data, so this
module also says how many bytes may be read next without reading past the
header: ``needed()`` is a lower bound on what is still missing. ``parse()``
returns ``None`` while the header is incomplete and raises ``ValueError``
as soon as the bytes cannot be one. The rules both readers share are here
too: how long a header may take (``PROXY_TIMEOUT``), and what a failed one
raises (``ProxyHeaderError``, through ``header_errors`` and ``expect``) and
logs (``log_dropped``).

A ``LOCAL`` command (v2, a health check of the balancer itself) and the
``UNKNOWN`` protocol (v1), as well as v2's unspecified and Unix families,
carry no client address: ``ProxyHeader.source`` is then ``None`` and the
connection keeps its own peer address.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import struct
from collections.abc import Iterator

from ._addr import SockAddr
from ._constants import AF_INET, AF_INET6
from ._timeout import Timeout

__all__ = [
    "PROXY_TIMEOUT",
    "V1_MAX",
    "ProxyHeader",
    "ProxyHeaderError",
    "expect",
    "header_errors",
    "log_dropped",
    "needed",
    "parse",
]

# HAProxy sends the header with the connection; 10 s covers a loaded
# balancer and still frees the slot of a client that speaks no PROXY.
PROXY_TIMEOUT = 10.0

V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16
# Enough to tell the versions apart, and no longer than the shortest header
# ("PROXY UNKNOWN\r\n" is 15 bytes): a first read of this size never
# takes application data.
FIRST_READ = 15

_V2_ADDRESS = {0x1: (AF_INET, 4), 0x2: (AF_INET6, 16)}  # family nibble: (domain, length)
_V2_ADDRESS_SIZE = {0x0: 0, 0x1: 12, 0x2: 36, 0x3: 216}
# v1 fields after "PROXY ": proto, src, dst, sport, dport; the shortest text of each.
_V1_SHORTEST = {b"TCP4": (4, 7, 7, 1, 1), b"TCP6": (4, 2, 2, 1, 1)}


@dataclasses.dataclass(frozen=True)
class ProxyHeader:
    """A parsed PROXY header.

    Attributes:
        version: ``1`` or ``2``.
        source: The client's address, ``None`` when the header carries none
            (``LOCAL``, ``UNKNOWN``, a Unix or unspecified family).
        destination: The address the client connected to, or ``None`` likewise.
        length: How many bytes the header took on the connection.
    """

    version: int
    source: SockAddr | None
    destination: SockAddr | None
    length: int


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; ``None`` if it is not complete yet.

    Raises:
        ValueError: ``data`` does not start with a valid PROXY header.
    """
    if data[:1] == V1_PREFIX[:1]:
        return _parse_v1(data)
    if data[:1] == V2_SIGNATURE[:1]:
        return _parse_v2(data)
    if not data:
        return None
    raise ValueError(f"not a PROXY protocol header: starts with {data[:8]!r}")


def needed(data: bytes) -> int:
    """How many more bytes may be read without reading past the header (at least 1).

    Call it when ``parse(data)`` returned ``None``.
    """
    if len(data) < FIRST_READ:
        return FIRST_READ - len(data)
    if data.startswith(V2_SIGNATURE[:1]):
        if len(data) < V2_FIXED:
            return V2_FIXED - len(data)
        length = int.from_bytes(data[14:16], "big")
        return V2_FIXED + length - len(data)
    return _v1_needed(data)


def _v1_needed(data: bytes) -> int:
    if data.endswith(b"\r"):
        return 1
    fields = data[len(V1_PREFIX) :].split(b" ")
    shortest = _V1_SHORTEST.get(fields[0]) if len(fields) > 1 else None
    if shortest is None:  # UNKNOWN, or the protocol not read yet: only CRLF is sure
        return 2
    # Each field not started yet needs a space and its shortest text; then CRLF.
    return sum(1 + size for size in shortest[len(fields) :]) + 2


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if not V1_PREFIX.startswith(data[: len(V1_PREFIX)]) or len(data) >= V1_MAX:
            raise ValueError(f"not a PROXY v1 header: {data[:V1_MAX]!r}")
        return None
    line = data[:end]
    if not line.startswith(V1_PREFIX):
        raise ValueError(f"not a PROXY v1 header: {line!r}")
    fields = line[len(V1_PREFIX) :].split(b" ")
    length = end + 2
    if fields[0] == b"UNKNOWN":
        return ProxyHeader(1, None, None, length)
    if fields[0] not in _V1_SHORTEST or len(fields) != 5:
        raise ValueError(f"bad PROXY v1 header: {line!r}")
    domain = AF_INET if fields[0] == b"TCP4" else AF_INET6
    source = _v1_address(fields[1], fields[3], domain)
    destination = _v1_address(fields[2], fields[4], domain)
    return ProxyHeader(1, source, destination, length)


def _v1_address(host: bytes, port: bytes, domain: int) -> SockAddr:
    try:
        text = host.decode("ascii")
        ip = ipaddress.ip_address(text)
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"bad address in PROXY v1 header: {host!r}") from None
    if (ip.version == 4) != (domain == AF_INET):
        raise ValueError(f"address {text!r} does not match the PROXY v1 protocol")
    # The text form must be canonical decimal: no sign, no leading zeros.
    if not port.isdigit() or (port.startswith(b"0") and port != b"0") or int(port) > 65535:
        raise ValueError(f"bad port in PROXY v1 header: {port!r}")
    return SockAddr(str(ip), int(port), domain)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if not data.startswith(V2_SIGNATURE[: len(data)]) or (
        len(data) >= len(V2_SIGNATURE) and not data.startswith(V2_SIGNATURE)
    ):
        raise ValueError(f"not a PROXY v2 header: starts with {data[:12]!r}")
    if len(data) < V2_FIXED:
        return None
    version_command, family_protocol, length = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ValueError(f"unsupported PROXY header version {version_command >> 4}")
    command = version_command & 0xF
    if command not in (0, 1):
        raise ValueError(f"unsupported PROXY v2 command {command}")
    family, protocol = family_protocol >> 4, family_protocol & 0xF
    if family not in _V2_ADDRESS_SIZE or protocol not in (0, 1):  # 1: STREAM
        raise ValueError(f"unsupported PROXY v2 family/protocol 0x{family_protocol:02x}")
    if length < _V2_ADDRESS_SIZE[family]:
        raise ValueError(f"PROXY v2 header too short for its family: {length} bytes")
    total = V2_FIXED + length
    if len(data) < total:
        return None
    if command == 0 or family not in _V2_ADDRESS:  # LOCAL, or no IP address
        return ProxyHeader(2, None, None, total)
    domain, size = _V2_ADDRESS[family]
    body = data[V2_FIXED:total]
    source_ip = ipaddress.ip_address(body[:size])
    destination_ip = ipaddress.ip_address(body[size : 2 * size])
    source_port, destination_port = struct.unpack_from("!HH", body, 2 * size)
    return ProxyHeader(
        2,
        SockAddr(str(source_ip), source_port, domain),
        SockAddr(str(destination_ip), destination_port, domain),
        total,
    )


class ProxyHeaderError(ValueError):
    """A connection did not start with a valid PROXY header."""


def expect(chunk: bytes, data: bytes) -> bytes:
    """``chunk``, unless the stream ended before the header did."""
    if not chunk:
        raise ProxyHeaderError(f"connection closed after {len(data)} bytes of a PROXY header")
    return chunk


@contextlib.contextmanager
def header_errors() -> Iterator[None]:
    """Turn what can go wrong while reading a header into ``ProxyHeaderError``."""
    try:
        yield
    except ProxyHeaderError:
        raise
    except Timeout as exc:
        raise ProxyHeaderError(f"no complete PROXY header: {exc}") from None
    except ValueError as exc:  # parse(): the bytes are no header
        raise ProxyHeaderError(str(exc)) from None
    except OSError as exc:  # a reset, a broken pipe
        raise ProxyHeaderError(f"connection failed before its PROXY header: {exc}") from None


def log_dropped(logger: logging.Logger, remote: SockAddr | str, error: ProxyHeaderError) -> None:
    """Log a connection dropped for its header, naming the peer (the balancer)."""
    peer = f"{remote.addr}:{remote.port}" if isinstance(remote, SockAddr) else repr(remote)
    logger.warning("dropped a connection from %s: %s", peer, error)
