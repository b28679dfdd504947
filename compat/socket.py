"""The fd level, synchronous: EdgerOS JSRE's ``socket`` module for scripts.

The names, arguments and errors of ``trionet.socket``, with the blocking
calls (``accept``, ``connect``, ``send``, ``sendto``, ``recv``,
``recv_into``, ``recvfrom``, ``recvfrom_into``) as plain functions that
block the calling thread, each bounded by its ``timeout`` in seconds. The
fds are the async API's: one can be used from both.
"""

from __future__ import annotations

from trionet._core._constants import *  # noqa: F403 - every constant, as JSRE's module has them
from trionet._fd_plain import *  # noqa: F403 - the calls that never block
from trionet._public import publish as _publish

from ._fd_io import accept as accept
from ._fd_io import connect as connect
from ._fd_io import recv as recv
from ._fd_io import recv_into as recv_into
from ._fd_io import recvfrom as recvfrom
from ._fd_io import recvfrom_into as recvfrom_into
from ._fd_io import send as send
from ._fd_io import sendto as sendto

_publish(__name__, globals(), after="trionet.socket")
