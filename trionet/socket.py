"""The fd level: EdgerOS JSRE's ``socket`` module on trio.

Sockets are plain ``int`` fds, non-blocking and close-on-exec. Calls that
can block are ``async`` and take a keyword-only ``timeout`` in seconds (a
cancel scope on trio's clock); the others are plain functions. See
``docs/fd-level.md`` for the JSRE-to-trionet table.
"""

from __future__ import annotations

from ._core._constants import *  # noqa: F403 - every constant, as JSRE's module has them
from ._fd_io import accept as accept
from ._fd_io import connect as connect
from ._fd_io import recv as recv
from ._fd_io import recv_into as recv_into
from ._fd_io import recvfrom as recvfrom
from ._fd_io import recvfrom_into as recvfrom_into
from ._fd_io import send as send
from ._fd_io import sendto as sendto
from ._fd_plain import *  # noqa: F403 - the calls that never block
from ._public import publish as _publish

_publish(__name__, globals())
