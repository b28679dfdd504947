"""OS errors that say what they were about (SPEC rule 34).

The stdlib's ``sock.bind(...)`` raises ``[Errno 98] Address already in
use`` without the address. trionet names it the way Python names a file:
in the ``filename`` attribute, which ``str()`` shows, so
``[Errno 98] Address already in use: '127.0.0.1:8124'``.
"""

from __future__ import annotations

import os
import socket as _stdsocket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trio

__all__ = ["address_text", "getaddrinfo", "getaddrinfo_sync", "named"]


def address_text(address: Any) -> str:
    """``host:port`` (``[v6]:port``) for an IP address tuple, the path for a Unix one."""
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return os.fsdecode(address)


def named(exc: OSError, address: Any) -> OSError:
    """``exc`` naming ``address`` (same errno, so the same ``OSError`` subclass)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, address_text(address))


@contextmanager
def _naming(host: str) -> Iterator[None]:
    try:
        yield
    except _stdsocket.gaierror as exc:
        raise _stdsocket.gaierror(exc.errno, exc.strerror, host) from None


async def getaddrinfo(host: str, port: int | None, family: int = 0, type: int = 0) -> Any:
    """trio's ``getaddrinfo``; a failed lookup names its host, as Node's ``ENOTFOUND`` does.

    Raises:
        socket.gaierror: the lookup failed, ``host`` as its ``filename``.
    """
    with _naming(host):
        return await trio.socket.getaddrinfo(host, port, family, type)


def getaddrinfo_sync(host: str, port: int | None, family: int = 0, type: int = 0) -> Any:
    """The stdlib's blocking ``getaddrinfo`` for compat, naming its host the same way.

    Raises:
        socket.gaierror: the lookup failed, ``host`` as its ``filename``.
    """
    with _naming(host):
        return _stdsocket.getaddrinfo(host, port, family, type)
