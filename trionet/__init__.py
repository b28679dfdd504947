"""trionet: EdgerOS JSRE ``socket`` / ``tcp`` and Node-style ``net`` on trio.

The names of SPEC section 0 (addresses, constants, ``TcpState``,
``Timeout``) live here; each layer has its own module: ``trionet.socket``
(the fd level), ``trionet.tcp`` and ``trionet.udp`` (objects) and
``trionet.task`` (tasks and fd handoff).
"""

from __future__ import annotations

import pkgutil

# The editable install links ``trionet`` and ``trionet.compat`` (the top-level
# compat/ folder) into build/. Python started in the checkout finds this
# folder first, which has no compat/ in it: extending the path lets the
# import go on to the linked copy (see docs/decisions.md).
__path__ = pkgutil.extend_path(__path__, __name__)

from ._addr import SockAddr as SockAddr
from ._addr import sockaddr as sockaddr
from ._addr import sockaddr6 as sockaddr6
from ._constants import *  # noqa: F403 - SPEC section 0 puts every constant here
from ._timeout import Timeout as Timeout

__version__ = "0.1.0"
