"""DTLS over UDP: a server with a handler per association, and a client.

Built on ``trio.DTLSEndpoint`` (DTLS 1.2, pyOpenSSL). Addresses are numeric,
as for ``trionet.udp``; every wait takes ``timeout=`` in seconds. See
``docs/dtls.md``.

JSRE equivalent: the ``dtls`` module.
"""

from __future__ import annotations

from ._dtls import DtlsChannel as DtlsChannel
from ._dtls import connect as connect
from ._dtls_server import DtlsServer as DtlsServer
from ._dtls_server import serve as serve
from ._tls_options import TlsOptions as TlsOptions

__all__ = ["DtlsChannel", "DtlsServer", "TlsOptions", "connect", "serve"]

from ._public import publish as _publish

_publish(__name__, globals(), after="trionet.net")
