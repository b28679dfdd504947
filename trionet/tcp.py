"""The object level for TCP: EdgerOS JSRE's ``tcp`` module on trio."""

from __future__ import annotations

from ._tcp import Tcp as Tcp

__all__ = ["Tcp"]

from ._public import publish as _publish

_publish(__name__, globals())
