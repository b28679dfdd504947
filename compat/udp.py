"""The object level for UDP, synchronous: JSRE-style ``Udp`` objects for scripts.

``Udp`` has the names, arguments and errors of ``trionet.udp.Udp``,
with ``send``, ``sendto``, ``recv``, ``recvfrom`` and ``recvfrom_into``
blocking the calling thread (each bounded by its ``timeout`` in seconds)
and ``with`` instead of ``async with``.
"""

from __future__ import annotations

from ._udp import Udp as Udp

__all__ = ["Udp"]

from trionet._public import publish as _publish

_publish(__name__, globals())
