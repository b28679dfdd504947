"""httpcore (and so httpx) over trionet: ``NetworkBackend`` (the ``http`` extra).

``httpcore.AsyncConnectionPool(network_backend=NetworkBackend())`` makes
every connection with ``net.open_stream``: trionet's happy eyeballs, TLS
(started with ``Stream.start_tls``, so ALPN and the certificate checks are
trionet's), and ``Stream.is_readable``, which is how the pool notices that
an idle keep-alive connection was closed by the server and opens a new one.
See ``docs/ecosystem.md`` for httpx.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket as _stdsocket
import ssl
from collections.abc import Iterable, Iterator
from typing import Any, final

import httpcore
import trio

from . import net
from ._fd_basic import peer_name, sock_name

__all__ = ["NetworkBackend", "NetworkStream"]

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)

# What a failure is in httpcore's words, per kind of operation: (timed out, failed).
_ERRORS: dict[str, tuple[type[Exception], type[Exception]]] = {
    "connect": (httpcore.ConnectTimeout, httpcore.ConnectError),
    "read": (httpcore.ReadTimeout, httpcore.ReadError),
    "write": (httpcore.WriteTimeout, httpcore.WriteError),
}


@contextlib.contextmanager
def _mapped(kind: str, timeout: float | None) -> Iterator[None]:
    """Bound the block by ``timeout``; raise trio's and the OS's errors as httpcore's."""
    timed_out, failed = _ERRORS[kind]
    try:
        with trio.fail_after(math.inf if timeout is None else timeout):
            yield
    except trio.TooSlowError as exc:  # trionet.Timeout is one too
        raise timed_out(str(exc) or f"{kind} timed out") from exc
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise failed(str(exc) or repr(exc)) from exc


@final
class NetworkStream(httpcore.AsyncNetworkStream):
    """One connection of the pool: a ``net.Stream`` in httpcore's interface."""

    def __init__(self, stream: net.Stream) -> None:
        self.stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped("read", timeout):
            return await self.stream.receive_some(max_bytes)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            with _mapped("write", timeout):
                await self.stream.send_all(buffer)

    async def aclose(self) -> None:
        await self.stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> NetworkStream:
        with _mapped("connect", timeout):
            await self.stream.start_tls(ssl_context, server_name=server_hostname)
        return self

    def get_extra_info(self, info: str) -> Any:
        """``ssl_object``, ``client_addr``, ``server_addr``, ``is_readable``; else ``None``."""
        stream = self.stream
        if info == "ssl_object":
            return stream.ssl_object
        if info == "is_readable":
            return stream.is_readable()
        if info in ("client_addr", "server_addr") and stream.fileno() >= 0:
            address = (sock_name if info == "client_addr" else peer_name)(stream.fileno())
            return address if isinstance(address, str) else (address.addr, address.port)
        return None


@final
class NetworkBackend(httpcore.AsyncNetworkBackend):
    """An ``httpcore.AsyncNetworkBackend`` whose connections are ``net.open_stream``'s.

    Use it in a trio program::

        async with httpcore.AsyncConnectionPool(network_backend=NetworkBackend()) as pool:
            response = await pool.request("GET", "https://example.org/")

    httpcore equivalent: its own ``TrioBackend``, with trionet's transport.
    """

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> NetworkStream:
        with _mapped("connect", timeout):
            stream = await net.open_stream(port, host, local_address=local_address)
        return await _with_options(stream, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> NetworkStream:
        with _mapped("connect", timeout):
            stream = await net.open_stream(path=path)
        return await _with_options(stream, socket_options)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


async def _with_options(
    stream: net.Stream, options: Iterable[SocketOption] | None
) -> NetworkStream:
    """Apply httpcore's ``socket_options`` (``setsockopt`` argument tuples) to ``stream``."""
    if options:
        try:
            # A duplicate fd shares the socket: its options are the stream's.
            with _stdsocket.socket(fileno=os.dup(stream.fileno())) as sock:
                for option in options:
                    sock.setsockopt(*option)
        except BaseException:
            await stream.aclose()
            raise
    return NetworkStream(stream)
