"""Reading a PROXY header off an accepted connection, before anything else reads it.

The header is read from the raw fd, under TLS if any (a balancer speaks
PROXY in clear before the client's handshake), in the task that will serve
the connection, so a slow or silent client delays nobody else. Every read
asks for at most what ``_proxy_header.needed()`` says is still header, so
the first byte of application data stays in the kernel for the
``net.Socket`` or ``Tcp`` that takes the fd next: no buffer to hand over,
and nothing to replay into TLS.

A connection that sends no valid header within ``PROXY_TIMEOUT`` seconds,
sends something else, or closes first is the peer's doing:
``ProxyHeaderError`` says which, the caller logs it and closes the fd.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from . import _fd_io as fdio
from ._core._addr import SockAddr
from ._core._timeout import Timeout, timeout_scope
from ._proxy_header import ProxyHeader, needed, parse

__all__ = [
    "PROXY_TIMEOUT",
    "ProxyHeaderError",
    "expect",
    "header_errors",
    "log_dropped",
    "read_proxy_header",
]

# HAProxy sends the header with the connection; 10 s covers a loaded
# balancer and still frees the slot of a client that speaks no PROXY.
PROXY_TIMEOUT = 10.0


class ProxyHeaderError(ValueError):
    """A connection did not start with a valid PROXY header."""


async def read_proxy_header(fd: int, timeout: float = PROXY_TIMEOUT) -> ProxyHeader:
    """Read and consume the PROXY header at the start of connection ``fd``.

    Raises:
        ProxyHeaderError: no valid header (bad bytes, end of stream, a
            reset, or ``timeout`` seconds without a complete header).
    """
    data = b""
    with header_errors(), timeout_scope(timeout, "reading the PROXY header"):
        while (header := parse(data)) is None:
            data += expect(await fdio.recv(fd, needed(data)), data)
    return header


def expect(chunk: bytes, data: bytes) -> bytes:
    """``chunk``, unless the stream ended before the header did."""
    if not chunk:
        raise ProxyHeaderError(f"connection closed after {len(data)} bytes of a PROXY header")
    return chunk


@contextlib.contextmanager
def header_errors() -> Iterator[None]:
    """Turn what can go wrong while reading a header into ``ProxyHeaderError``.

    Shared by this reader and compat's blocking one.
    """
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
