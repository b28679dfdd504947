"""Which accept errors a server lives through: one table for every server.

trionet's servers (``Tcp.serve``, async and in threads, ``net.Server``,
compat's ``tcp.accept(callback)``) accept until they are closed. An accept
may fail for reasons that are not the server's own:

- the process or the system is out of fds or memory, as
  ``trio.serve_listeners`` also survives: that frees up as connections
  close, so the server logs a warning and tries again after 0.1 s;
- the connection died before it was taken (``ECONNABORTED``, and on some
  kernels and families ``EPROTO`` or ``ECONNRESET``): the server takes the
  next one at once.

Anything else is the server's own failure, and is raised.
"""

from __future__ import annotations

import errno
import logging

__all__ = ["CAPACITY_BACKOFF", "PEER_ERRNOS", "retry_delay"]

# Out of a resource that frees up as connections close: back off, retry.
_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
CAPACITY_BACKOFF = 0.1
# The connection died before it was taken: nothing to do but take the next.
PEER_ERRNOS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET})


def retry_delay(error: OSError, logger: logging.Logger) -> float | None:
    """How long a server waits before accepting again after ``error``; ``None``: raise it.

    Running out of fds or memory is logged on ``logger`` (the server's).
    """
    if error.errno in _CAPACITY_ERRNOS:
        logger.warning(
            "accept: %s; retrying in %s s", errno.errorcode[error.errno], CAPACITY_BACKOFF
        )
        return CAPACITY_BACKOFF
    if error.errno in PEER_ERRNOS:
        return 0
    return None
