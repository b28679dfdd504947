"""``net.connect`` / ``net.create_connection``: a connected ``Socket`` in an ``async with``."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import final

import trio

from ._core._checks import check_bool, check_max_buffer_size
from ._net_dial import ConnectOptions, check_options
from ._net_socket import Socket
from ._types import Lookup, OnRead, TlsConfig

__all__ = ["Connecting", "connect", "create_connection", "open_socket"]


@final
class Connecting:
    """What ``net.connect()`` returns: entering it connects, leaving it closes.

    ``async with net.connect(...) as sock`` enters a new ``Socket`` (its
    nursery opens), connects it, and yields it. A failed connect raises
    from the ``async with`` line, after ``'error'`` and ``'close'``.
    """

    __slots__ = ("_allow_half_open", "_max_buffer_size", "_options", "_socket")

    def __init__(
        self, options: ConnectOptions, allow_half_open: bool, max_buffer_size: int | None
    ) -> None:
        self._options = options
        self._allow_half_open = allow_half_open
        self._max_buffer_size = max_buffer_size
        self._socket: Socket | None = None

    async def __aenter__(self) -> Socket:
        if self._socket is not None:
            raise RuntimeError("a net.connect() result can be entered only once")
        sock = self._socket = Socket(
            allow_half_open=self._allow_half_open, max_buffer_size=self._max_buffer_size
        )
        await sock.__aenter__()
        try:
            await sock._connect(self._options)
        except BaseException as error:
            await sock.__aexit__(type(error), error, error.__traceback__)
            raise
        return sock

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._socket is not None
        await self._socket.__aexit__(exc_type, exc, tb)


def connect(
    port: int | None = None,
    host: str = "localhost",
    *,
    path: str | None = None,
    family: int = 0,
    local_address: str | None = None,
    local_port: int | None = None,
    lookup: Lookup | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    tls: TlsConfig | None = None,
    allow_half_open: bool = False,
    max_buffer_size: int | None = None,
    on_connect: Callable[[], object] | None = None,
    onread: OnRead | None = None,
) -> Connecting:
    """Open a connection: ``async with net.connect(8124, "localhost") as sock: ...``.

    Arguments are checked now, before anything connects; the connection is
    made when the block is entered.

    Node equivalent: ``net.connect()`` / ``net.createConnection()``.

    Args:
        port: TCP port (omit with ``path``).
        host: Host name or numeric address; names are resolved (``'lookup'``
            event) and every address is tried with happy eyeballs.
        path: Connect to this Unix-domain socket instead.
        family: ``4`` or ``6`` to use only that IP version; ``0`` for both.
        local_address: Numeric address to connect from.
        local_port: Port to connect from.
        lookup: ``lookup(host, family) -> address | [addresses]`` (may be
            async), used instead of the system resolver.
        timeout: Idle timeout, as ``set_timeout``.
        connect_timeout: Seconds the lookup and connect may take (``trionet.Timeout``).
        tls: ``net.TlsOptions`` or an ``ssl.SSLContext``: speak TLS. The
            certificate is verified, against ``tls.server_name`` or else
            ``host`` (a ``path`` connection needs ``server_name`` or a
            context without host-name checks); the handshake completes
            before ``'connect'``, within ``connect_timeout``.
        allow_half_open: Stay writable after the peer's FIN until ``end()``.
        max_buffer_size: Destroy the socket with a ``net.BufferLimitError``
            once more than this many bytes wait to be written (``None``:
            no bound, as in Node; see ``net.Socket``).
        on_connect: A ``'connect'`` listener, called once.
        onread: ``{"buffer": bytearray | callable, "callback": fn(nread, buf)}``.

    Raises:
        TypeError, ValueError: a bad argument (at once).
        OSError: when entered, the connection failed
            (``ssl.SSLCertVerificationError``: the server's certificate did
            not verify); ``trionet.Timeout`` when ``connect_timeout`` ran out.
    """
    options = check_options(
        port,
        host,
        path=path,
        family=family,
        local_address=local_address,
        local_port=local_port,
        lookup=lookup,
        timeout=timeout,
        connect_timeout=connect_timeout,
        tls=tls,
        on_connect=on_connect,
        onread=onread,
    )
    return Connecting(
        options,
        check_bool("allow_half_open", allow_half_open),
        check_max_buffer_size(max_buffer_size),
    )


create_connection = connect


async def open_socket(
    port: int | None = None,
    host: str = "localhost",
    *,
    nursery: trio.Nursery,
    path: str | None = None,
    family: int = 0,
    local_address: str | None = None,
    local_port: int | None = None,
    lookup: Lookup | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    tls: TlsConfig | None = None,
    allow_half_open: bool = False,
    max_buffer_size: int | None = None,
    on_connect: Callable[[], object] | None = None,
    onread: OnRead | None = None,
) -> Socket:
    """Connect a ``Socket`` whose tasks run in ``nursery``; it outlives the calling block.

    For pools and long-lived clients that keep a connection beyond one
    ``async with`` (trio's ``serve_tcp(handler_nursery=...)`` convention).
    The options are ``net.connect``'s. The socket lives until it closes:
    ``await sock.aclose()`` (flush, FIN, close) or ``sock.destroy()``; a
    nursery that is cancelled destroys it. As for a client in a block, an
    error nobody was told of (no ``'error'`` listener, not raised by a call)
    propagates into ``nursery``, as an unhandled ``'error'`` is fatal in
    Node: a pool listens for ``'error'``. ``async with`` on the result
    closes it on exit.

    Node equivalent: ``net.connect()``, whose socket lives until closed.

    Raises:
        TypeError, ValueError: a bad argument (before anything connects).
        OSError: the connection failed (after ``'error'`` and ``'close'``).
        trionet.Timeout: ``connect_timeout`` ran out.
    """
    if not isinstance(nursery, trio.Nursery):
        raise TypeError(f"nursery must be a trio.Nursery, not {type(nursery).__name__}")
    options = check_options(
        port,
        host,
        path=path,
        family=family,
        local_address=local_address,
        local_port=local_port,
        lookup=lookup,
        timeout=timeout,
        connect_timeout=connect_timeout,
        tls=tls,
        on_connect=on_connect,
        onread=onread,
    )
    sock = Socket(
        allow_half_open=check_bool("allow_half_open", allow_half_open),
        max_buffer_size=max_buffer_size,
    )
    sock._nursery = nursery
    await sock._connect(options)
    return sock
