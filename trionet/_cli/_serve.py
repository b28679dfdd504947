"""``trionet serve``: a net server that echoes, discards or prints what it gets."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import trio

from .. import net
from .._core._exception_groups import open_nursery

__all__ = ["serve"]


def _handler(mode: str) -> Any:
    def on_connection(sock: net.Socket) -> None:
        if mode == "echo":
            sock.on("data", sock.write)
        elif mode == "print":
            sock.on("data", _print_chunk)
        else:
            sock.on("data", _discard)
        # A peer's error ends its connection only; one line says so.
        sock.on("error", lambda error: _peer_error(sock, error))

    return on_connection


def _peer_error(sock: net.Socket, error: BaseException) -> None:
    print(f"trionet serve: {_peer(sock)}: {error!r}", file=sys.stderr, flush=True)


def _peer(sock: net.Socket) -> str:
    if sock.remote_address is None:
        return "a Unix-domain peer"
    return f"{sock.remote_address}:{sock.remote_port}"


def _print_chunk(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def _discard(*_: object) -> None:
    """Drop the data (``--mode discard``), or a peer's error."""


async def serve(
    *,
    host: str | None,
    port: int,
    unix: str | None,
    mode: str,
    tls: object = None,
    subs: int = 0,
    fds: Sequence[int] = (),
    proxy_protocol: bool = False,
) -> None:
    """Listen until SIGINT or SIGTERM, then close cleanly.

    Prints the address it listens on as its first line, so a script can
    start it with ``--port 0`` and read the port. With ``fds`` (``--systemd``)
    it serves each of those listening sockets instead, one server each.
    """
    options: dict[str, Any] = {"proxy_protocol": proxy_protocol}
    if tls is not None:
        options["tls"] = tls
    if subs:
        options["subs"] = subs
    with _peer_errors_on_stderr():
        await _serve_all(mode, options, host, port, unix, fds)


@contextlib.contextmanager
def _peer_errors_on_stderr() -> Iterator[None]:
    """Show what the server logs about its peers (a failed TLS handshake, ...) on stderr.

    Those come before any ``'error'`` listener could be added, on the
    ``trionet.net`` logger; a user who connects in plain text to a TLS
    server is told, rather than nobody saying anything.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("trionet serve: %(message)s"))
    logger = logging.getLogger("trionet.net")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def _serve_all(
    mode: str,
    options: dict[str, Any],
    host: str | None,
    port: int,
    unix: str | None,
    fds: Sequence[int],
) -> None:
    async with open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            nursery.start_soon(_stop_on_signal, signals, nursery.cancel_scope)
            if not fds:
                await _serve_one(_handler(mode), options, host, port, unix, None)
            async with open_nursery() as servers:
                for fd in fds:
                    servers.start_soon(_serve_one, _handler(mode), options, None, 0, None, fd)
            nursery.cancel_scope.cancel()


async def _serve_one(
    handler: Any,
    options: dict[str, Any],
    host: str | None,
    port: int,
    unix: str | None,
    fd: int | None,
) -> None:
    async with net.create_server(handler, **options) as server:
        if fd is not None:
            await server.listen(fd=fd)
        elif unix is not None:
            await server.listen(path=unix)
        else:
            await server.listen(port, host)
        print(f"listening on {_where(server)}", flush=True)
        await server.wait_closed()


async def _stop_on_signal(signals: Any, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return


def _where(server: net.Server) -> str:
    address = server.address()
    if isinstance(address, net.AddressInfo):
        host = f"[{address.address}]" if ":" in address.address else address.address
        return f"{host}:{address.port}"
    return str(address)
