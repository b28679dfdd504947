"""The object level for UDP: JSRE-style ``Udp`` objects on trio."""

from __future__ import annotations

from ._udp import Udp as Udp

__all__ = ["Udp"]

from ._public import publish as _publish

_publish(__name__, globals())
