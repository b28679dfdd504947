"""``trionet connect``: stdin to a connection, the connection to stdout."""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import trio

from .. import net
from .._core._exception_groups import open_nursery

__all__ = ["connect"]

_CHUNK = 65536


async def connect(
    *,
    host: str | None,
    port: int | None,
    unix: str | None,
    timeout: float | None,
    tls: object = None,
) -> None:
    """Copy stdin to the connection and the connection to stdout.

    Stdin's end half-closes the connection (the peer sees FIN, and may go
    on answering); the command ends when the peer closes its side.
    """
    options: dict[str, Any] = {"allow_half_open": True, "connect_timeout": timeout}
    if tls is not None:
        options["tls"] = tls
    if unix is not None:
        connecting = net.connect(path=unix, **options)
    else:
        connecting = net.connect(port, host or "localhost", **options)
    first = True
    try:
        async with connecting as sock, open_nursery() as nursery:
            nursery.start_soon(_stdin_to, sock)
            async for chunk in sock:
                if first and tls is None and _looks_like_tls(chunk):
                    raise ConnectionAbortedError(
                        errno.ECONNABORTED, "the server speaks TLS: connect with --tls"
                    )
                first = False
                await trio.to_thread.run_sync(_write_stdout, chunk)
            nursery.cancel_scope.cancel()
    except (trio.BrokenResourceError, ConnectionResetError) as exc:
        reset = exc if isinstance(exc, ConnectionResetError) else exc.__cause__
        if not (first and tls is None and isinstance(reset, ConnectionResetError)):
            raise
        # Python's TLS server (OpenSSL) sends no alert for plain text: it
        # drops the connection, and the kernel resets it over our unread line.
        raise ConnectionResetError(
            errno.ECONNRESET,
            "the server reset the connection before it answered;"
            " if it speaks TLS, connect with --tls",
        ) from exc


def _looks_like_tls(chunk: bytes | bytearray) -> bool:
    """Whether a plain connection's first bytes are a TLS record (an alert, a handshake).

    A TLS server answers plain text with an alert record: content type 21
    (or 22), then version 3.x (RFC 8446, 5.1). Printing it would show
    binary noise and exit 0.
    """
    return len(chunk) >= 3 and chunk[0] in (21, 22) and chunk[1] == 3 and chunk[2] <= 4


async def _stdin_to(sock: net.Socket) -> None:
    # A thread per read: stdin may be a terminal, which must not be switched
    # to non-blocking mode under the user's shell.
    while chunk := await trio.to_thread.run_sync(_read_stdin, abandon_on_cancel=True):
        await sock.send_all(chunk)
    await sock.send_eof()


def _read_stdin() -> bytes:
    # os.read returns what is there, as soon as there is something.
    return os.read(sys.stdin.fileno(), _CHUNK)


def _write_stdout(chunk: bytes | bytearray) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()
