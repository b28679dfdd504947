"""Reading a PROXY header in the calling thread: ``trionet._proxy_read`` for sync code.

The same parser, the same rule of never reading past the header, and the
same errors; only the wait differs (``._drive_sync.block``, one deadline for the
whole header).
"""

from __future__ import annotations

from trionet._core import _prepare
from trionet._core._proxy_header import (
    PROXY_TIMEOUT,
    ProxyHeader,
    expect,
    header_errors,
    needed,
    parse,
)

from ._drive_sync import Deadline, block

__all__ = ["read_proxy_header"]


def read_proxy_header(fd: int, timeout: float = PROXY_TIMEOUT) -> ProxyHeader:
    """Read and consume the PROXY header at the start of connection ``fd``.

    Raises:
        trionet._core._proxy_header.ProxyHeaderError: no valid header in time.
    """
    deadline = Deadline(timeout)
    data = b""
    with header_errors():
        while (header := parse(data)) is None:
            data += expect(block(_prepare.recv(fd, needed(data), None), deadline), data)
    return header
