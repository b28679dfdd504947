"""Peers on loopback for tests: a free port, a connected fd pair, an echo server.

Everything here binds to ``127.0.0.1`` or ``::1`` only, so a test never
reaches beyond the machine it runs on.
"""

from __future__ import annotations

import contextlib
import socket as _stdsocket
from collections.abc import AsyncIterator

from .._core import _fdtable
from .._core._constants import AF_INET, AF_INET6, SOCK_DGRAM, SOCK_STREAM
from .._fd_basic import bind, close, listen, sock_name, socket
from .._fd_io import accept, connect
from .._net_address import AddressInfo
from .._net_server import create_server
from .._net_socket import Socket

__all__ = ["free_port", "loopback_pair", "serve_echo"]

_LOOPBACK = {AF_INET: "127.0.0.1", AF_INET6: "::1"}


def _loopback(family: object) -> str:
    if isinstance(family, bool) or not isinstance(family, int):
        raise TypeError(f"family must be AF_INET or AF_INET6, not {type(family).__name__}")
    host = _LOOPBACK.get(family)
    if host is None:
        raise ValueError(f"family must be AF_INET or AF_INET6, got {family}")
    return host


def free_port(family: int = AF_INET, type: int = SOCK_STREAM) -> int:
    """A port that was free on the loopback address of ``family`` a moment ago.

    The port is found by binding to port 0 and closing again, so another
    process may take it before the test does. Prefer listening on port 0 and
    asking the listener for its port when the code under test allows it;
    use this for code that must be told a port before it starts.

    Args:
        family: ``AF_INET`` (``127.0.0.1``) or ``AF_INET6`` (``::1``).
        type: ``SOCK_STREAM`` for a TCP port, ``SOCK_DGRAM`` for a UDP one.

    Returns:
        The port number.

    Raises:
        TypeError: ``family`` or ``type`` is not an ``int``.
        ValueError: ``family`` or ``type`` is not one of those above.
    """
    host = _loopback(family)
    if type not in (SOCK_STREAM, SOCK_DGRAM):
        raise ValueError(f"type must be SOCK_STREAM or SOCK_DGRAM, got {type!r}")
    with _stdsocket.socket(family, type) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def loopback_pair(family: int = AF_INET) -> AsyncIterator[tuple[int, int]]:
    """Two connected TCP fds of the fd level: ``(client, server)`` over loopback.

    ``async with loopback_pair() as (client, server):`` gives a connected
    pair of ``trionet.socket`` fds; the listener that made them is already
    closed. Both are closed when the block ends, unless the test closed one
    itself (a number the kernel has since given to another socket is left
    alone).

    Args:
        family: ``AF_INET`` (``127.0.0.1``) or ``AF_INET6`` (``::1``).

    Raises:
        TypeError: ``family`` is not an ``int``.
        ValueError: ``family`` is neither ``AF_INET`` nor ``AF_INET6``.
    """
    host = _loopback(family)
    entries: list[_fdtable.Entry] = []
    try:
        listener = socket(family, SOCK_STREAM)
        try:
            bind(listener, (host, 0))
            listen(listener, 1)
            client = socket(family, SOCK_STREAM)
            entries.append(_fdtable.entry(client))
            await connect(client, sock_name(listener))
            server, _peer = await accept(listener)
            entries.append(_fdtable.entry(server))
        finally:
            close(listener)
        yield client, server
    finally:
        # An entry stays marked closed once its fd is closed, while a new
        # socket on the same number gets a new entry.
        for entry in entries:
            if not entry.closed:
                close(entry.fd)


def _echo(sock: Socket) -> None:
    sock.on("data", sock.write)


@contextlib.asynccontextmanager
async def serve_echo(family: int = AF_INET) -> AsyncIterator[AddressInfo]:
    """A ``trionet.net`` server on a free loopback port that echoes what it gets.

    Each connection writes back every chunk it receives and ends when its
    peer ends. When the block ends, the server stops listening and destroys
    the connections still open, so a test that forgot to close its client
    does not hang.

    Example:
        ```python
        async with serve_echo() as address, net.connect(address.port, address.address) as c:
            ...
        ```

    Node equivalent: ``net.createServer((c) => c.pipe(c)).listen(0, '127.0.0.1')``.

    Args:
        family: ``AF_INET`` (``127.0.0.1``) or ``AF_INET6`` (``::1``).

    Yields:
        The server's address: ``address.address`` and ``address.port``.

    Raises:
        TypeError: ``family`` is not an ``int``.
        ValueError: ``family`` is neither ``AF_INET`` nor ``AF_INET6``.
    """
    host = _loopback(family)
    async with create_server(_echo).unref() as server:
        await server.listen(0, host)
        yield server.address_info()
