"""Which exceptions a peer can cause: a server ends that connection only (SPEC rule 31).

A server runs user code per connection: a ``net`` server's listeners and
a ``Tcp.serve`` handler. When that code lets an error from its own
connection escape (a reset while it wrote, a ``drain()`` on a socket the
client left), the peer caused it, and Node's servers, whose listeners see
such errors as ``'error'`` events, go on. So the per-connection task asks
``ends_connection`` and, if so, logs the error and ends the connection;
every other exception still propagates (rule 2).
"""

from __future__ import annotations

import errno
import ssl

import trio

from ._core._exception_groups import leaves

__all__ = ["ends_connection"]

# Connection errnos that are not ConnectionError subclasses.
_PEER_ERRNOS = frozenset({errno.ENOTCONN, errno.ESHUTDOWN, errno.EPROTO, errno.EHOSTUNREACH})


def ends_connection(exc: BaseException, closed: bool) -> bool:
    """Whether ``exc`` is the peer's doing, so only its connection should end.

    ``closed``: the connection is already closed or destroyed, so a
    ``trio.ClosedResourceError`` came from it (otherwise it may be a bug:
    a closed object of the user's own). A group counts when all its
    exceptions do (a handler's nursery wraps them).
    """
    return all(_peer_caused(leaf, closed) for leaf in leaves(exc))


def _peer_caused(exc: BaseException, closed: bool) -> bool:
    if isinstance(exc, trio.ClosedResourceError):
        return closed
    if isinstance(exc, (trio.BrokenResourceError, ConnectionError, TimeoutError, ssl.SSLError)):
        return True
    return isinstance(exc, OSError) and exc.errno in _PEER_ERRNOS
