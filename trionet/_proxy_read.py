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

from . import _fd_io as fdio
from ._core._proxy_header import (
    PROXY_TIMEOUT,
    ProxyHeader,
    ProxyHeaderError,
    expect,
    header_errors,
    log_dropped,
    needed,
    parse,
)
from ._core._timeout import timeout_scope

# The shared rules (in ``trionet._core._proxy_header``) that the servers use beside this reader.
__all__ = ["PROXY_TIMEOUT", "ProxyHeaderError", "log_dropped", "read_proxy_header"]


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
