"""A connected pair of ``net.Socket``s over loopback, plain or TLS, for tests.

The pair is made the way users make sockets: a server on ``127.0.0.1`` port
0 and ``net.connect`` to it, so the server side is a real accepted
connection (with a TLS handshake when asked). The server stops listening
as soon as it has the one connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import trio

from .._certs import DemoCA
from .._core._checks import check_bool
from .._net_connect import connect
from .._net_server import create_server
from .._net_socket import Socket
from .._tls_options import TlsOptions

if TYPE_CHECKING:
    import trustme

__all__ = ["TlsPair", "socket_pair"]

_HOST = "localhost"  # the name the certificates are for; it connects to 127.0.0.1


@dataclasses.dataclass(frozen=True)
class TlsPair:
    """A test CA and the ``TlsOptions`` of a server and a client that trust each other.

    ``server`` has a certificate for ``localhost``, ``127.0.0.1`` and
    ``::1``; ``client`` trusts the CA and checks the name ``localhost``.
    The ``trionet_tls`` fixture yields one made with ``trustme``.

    Attributes:
        ca: The ``trustme.CA`` that signed the server's certificate.
        server: ``tls=`` for ``net.create_server`` (or ``Tcp.create_server``).
        client: ``tls=`` for ``net.connect``.
    """

    ca: trustme.CA
    server: TlsOptions
    client: TlsOptions

    @classmethod
    def from_ca(cls, ca: trustme.CA) -> TlsPair:
        """The options for a server certificate that ``ca`` issues now."""
        issued = ca.issue_cert(_HOST, "127.0.0.1", "::1")
        server = TlsOptions(
            cert=b"".join(blob.bytes() for blob in issued.cert_chain_pems),
            key=issued.private_key_pem.bytes(),
        )
        return cls(ca, server, TlsOptions(ca=ca.cert_pem.bytes(), server_name=_HOST))


@contextlib.asynccontextmanager
async def socket_pair(
    *, tls: bool = False, allow_half_open: bool = False
) -> AsyncIterator[tuple[Socket, Socket]]:
    """A connected ``(client, server)`` pair of ``net.Socket``s over ``127.0.0.1``.

    Both sockets are open and connected (TLS handshake done, with
    ``tls=True``) when the block starts, and neither flows until a
    ``'data'`` listener is added, so they can be pulled (``receive_some``)
    or listened to. Leaving the block closes the client as its own block
    would and destroys the server side if it is still open.

    Example:
        ```python
        async with socket_pair() as (client, server):
            await client.send_all(b"ping")
            assert await server.receive_some() == b"ping"
        ```

    Node equivalent: none; what a test of Node code builds with
    ``net.createServer`` and ``net.connect`` on port 0.

    Args:
        tls: Connect over TLS, with a certificate made for this pair by a
            throwaway CA (no ``trustme`` needed).
        allow_half_open: Passed to both sockets (see ``net.connect``).

    Yields:
        ``(client, server)``.

    Raises:
        TypeError: ``tls`` or ``allow_half_open`` is not a ``bool``.
    """
    check_bool("tls", tls)
    check_bool("allow_half_open", allow_half_open)
    server_tls, client_tls = _throwaway_tls() if tls else (None, None)
    accepted_send, accepted = trio.open_memory_channel[Socket](1)

    async with create_server(
        accepted_send.send_nowait, tls=server_tls, allow_half_open=allow_half_open
    ).unref() as server:
        await server.listen(0, "127.0.0.1")
        async with connect(
            server.address_info().port,
            "127.0.0.1",
            tls=client_tls,
            allow_half_open=allow_half_open,
        ) as client:
            # The connection listener runs after the server's handshake.
            server_side = await accepted.receive()
            server.close()
            yield client, server_side
        server_side.destroy()


def _throwaway_tls() -> tuple[TlsOptions, TlsOptions]:
    ca = DemoCA("trionet.testing socket_pair CA")
    issued = ca.issue(_HOST)
    return (
        TlsOptions(cert=issued.cert, key=issued.key),
        TlsOptions(ca=ca.pem, server_name=_HOST),
    )
