"""How ``net`` turns ``tls=`` into TLS sockets: checked settings, applied per connection.

``tls=`` is checked, and its context built (files read), when
``net.connect`` / ``Socket.connect`` / ``net.create_server`` is called,
before anything connects (SPEC 8.11). The result is a ``TlsSetup``,
which a ``Socket`` keeps and applies when its fd arrives: the fd's
``FdTransport`` is wrapped in a ``trionet._tls.TlsTransport``, and
the socket runs the handshake itself before its first event (a client
before ``'connect'``, a server connection before ``'connection'``), so
its reader and writer only ever see a finished handshake.

A server keeps a ``trionet._tls_options.SniCertificates`` (its
default context, plus the ones ``add_cert`` adds); a multi-task server's
subs share their master's, so ``add_cert`` on the master serves every sub.
A server connection's handshake is bounded by ``HANDSHAKE_TIMEOUT``,
so a client that connects and says nothing cannot hold a connection
forever.
"""

from __future__ import annotations

import dataclasses
import ssl

from ._core._checks import check_bool
from ._net_transport import Transport
from ._tls import TlsTransport
from ._tls_options import SniCertificates, TlsOptions, client_context, server_context

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "TlsSetup",
    "client_setup",
    "server_certificates",
    "server_setup",
    "start_tls_setup",
]

HANDSHAKE_TIMEOUT = 120.0
"""Seconds a server connection's TLS handshake may take (Node's ``handshakeTimeout``)."""


@dataclasses.dataclass(frozen=True)
class TlsSetup:
    """What one side of a TLS connection needs: a context, its role, the name to check.

    Attributes:
        context: The ``ssl.SSLContext`` (on a server, the default one of its SNI table).
        server_side: ``True`` on an accepted connection.
        server_hostname: The name a client sends (SNI) and verifies; ``None`` on a server.
        handshake_timeout: Seconds the handshake may take, or ``None`` (no limit of its own).
    """

    context: ssl.SSLContext
    server_side: bool
    server_hostname: str | None = None
    handshake_timeout: float | None = None

    def wrap(self, inner: Transport) -> TlsTransport:
        """``inner`` wrapped in TLS (the result owns ``inner``).

        Nagle is off already on every TCP socket TLS runs over (SPEC rule
        28): the handshake is a ping-pong of small records, which Nagle
        would hold back for the peer's delayed ACK.
        """
        return TlsTransport(
            inner,
            self.context,
            server_side=self.server_side,
            server_hostname=self.server_hostname,
        )


def client_setup(tls: object, name: str | None) -> TlsSetup | None:
    """The client side of ``connect(..., tls=tls)``; ``None`` without ``tls``.

    The name checked is ``tls.server_name``, else ``name`` (the host
    connected to; ``None`` for a Unix-domain connection, which has no host
    to check: it then needs ``server_name``, or a context that does not
    check host names).

    Raises:
        TypeError: ``tls`` is neither ``TlsOptions`` nor ``ssl.SSLContext``.
        ValueError: a certificate could not be loaded, or no name to check
            the certificate against.
    """
    if tls is None:
        return None
    if not isinstance(tls, (TlsOptions, ssl.SSLContext)):
        kind = type(tls).__name__
        raise TypeError(f"tls must be net.TlsOptions or ssl.SSLContext, not {kind}")
    context = client_context(tls)
    if isinstance(tls, TlsOptions) and tls.server_name is not None:
        name = tls.server_name
    if name is None and context.check_hostname:
        raise ValueError(
            "tls: no host name to verify the certificate against (a Unix-domain "
            "connection, or an fd); give TlsOptions(server_name=...), or a context "
            "with check_hostname=False"
        )
    return TlsSetup(context, server_side=False, server_hostname=name)


def start_tls_setup(
    tls: object, server_side: object, server_name: object, host: str | None
) -> TlsSetup:
    """The settings of ``start_tls(tls, server_side=..., server_name=...)``.

    A client checks ``server_name``, else ``tls.server_name``, else
    ``host`` (the name the connection was made to, if any). A server's
    handshake is bounded by ``HANDSHAKE_TIMEOUT``, as on a TLS server.

    Raises:
        TypeError, ValueError: a bad argument.
    """
    check_bool("server_side", server_side)
    if server_name is not None and not isinstance(server_name, str):
        raise TypeError(f"server_name must be a str or None, not {type(server_name).__name__}")
    if tls is None:
        raise TypeError("tls must be net.TlsOptions or ssl.SSLContext, not None")
    if server_side:
        if server_name is not None:
            raise ValueError("server_name is for the client side (server_side=False)")
        certificates = server_certificates(tls)
        assert certificates is not None
        return server_setup(certificates)
    if isinstance(tls, TlsOptions) and server_name is not None:
        tls = dataclasses.replace(tls, server_name=server_name)
    elif server_name is not None:
        host = server_name
    setup = client_setup(tls, host)
    assert setup is not None
    return setup


def server_certificates(tls: object) -> SniCertificates | None:
    """The SNI table of ``create_server(tls=tls)``; ``None`` without ``tls``.

    A ``SniCertificates`` is taken as it is: it is how a sub-server shares
    its master's certificates.

    Raises:
        TypeError: ``tls`` is neither ``TlsOptions`` nor ``ssl.SSLContext``.
        ValueError: no ``cert`` and ``key``, or they could not be loaded.
    """
    if tls is None or isinstance(tls, SniCertificates):
        return tls
    if not isinstance(tls, (TlsOptions, ssl.SSLContext)):
        kind = type(tls).__name__
        raise TypeError(f"tls must be net.TlsOptions or ssl.SSLContext, not {kind}")
    return SniCertificates(server_context(tls), tls if isinstance(tls, TlsOptions) else None)


def server_setup(certificates: SniCertificates) -> TlsSetup:
    """The server side of every connection a server with ``certificates`` accepts."""
    return TlsSetup(certificates.default, server_side=True, handshake_timeout=HANDSHAKE_TIMEOUT)
