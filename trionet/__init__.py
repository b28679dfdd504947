"""trionet: EdgerOS JSRE ``socket`` / ``tcp`` and Node-style ``net`` on trio.

The names of SPEC section 0 (addresses, constants, ``TcpState``,
``Timeout``) live here; each layer has its own module: ``trionet.socket``
(the fd level), ``trionet.tcp`` and ``trionet.udp`` (objects) and
``trionet.task`` (tasks and fd handoff). The aliases ``Address``,
``FdAddress``, ``Buffer``, ``WritableBuffer``, ``Data`` and ``SendData``
name what public parameters take (see ``docs/typing.md``).
"""

from __future__ import annotations

import os
import pkgutil


def _package_path(path: list[str], file: str, name: str) -> list[str]:
    """A package's ``__path__`` that also works in a strict editable install.

    That install (see docs/decisions.md) links each file of ``trionet`` and
    ``trionet.compat`` into build/. The real folder comes first, so a module
    added since the install is found; then every folder of the package on
    ``sys.path`` (``pkgutil.extend_path``), so that Python started in the
    checkout, which finds its trionet/ first, still finds ``trionet.compat``
    in the linked copy. In an ordinary install this changes nothing.
    """
    real = os.path.dirname(os.path.realpath(file))
    return pkgutil.extend_path([real, *(entry for entry in path if entry != real)], name)


__path__ = _package_path(__path__, __file__, __name__)

from ._core._addr import SockAddr as SockAddr
from ._core._addr import sockaddr as sockaddr
from ._core._addr import sockaddr6 as sockaddr6
from ._core._constants import *  # noqa: F403 - SPEC section 0 puts every constant here
from ._core._timeout import Timeout as Timeout
from ._types import Address as Address
from ._types import Buffer as Buffer
from ._types import Data as Data
from ._types import FdAddress as FdAddress
from ._types import SendData as SendData
from ._types import WritableBuffer as WritableBuffer

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"

from ._public import publish as _publish

_publish(__name__, globals())
