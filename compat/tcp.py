"""The object level for TCP, synchronous: EdgerOS JSRE's ``tcp`` module for scripts.

``Tcp`` has the names, arguments and errors of ``trionet.tcp.Tcp``,
with the waiting calls blocking the calling thread (each bounded by its
``timeout`` in seconds), ``with`` instead of ``async with``, and JSRE's
callback mode: ``Tcp.create_client(addr, callback=fn)`` and
``tcp.accept(callback=fn)``, whose callbacks run in ``iosched.poll()``.
"""

from __future__ import annotations

from ._tcp import AcceptCallback as AcceptCallback
from ._tcp import ConnectCallback as ConnectCallback
from ._tcp import Handler as Handler
from ._tcp import Tcp as Tcp

__all__ = ["AcceptCallback", "ConnectCallback", "Handler", "Tcp"]

from trionet._public import publish as _publish

_publish(__name__, globals())
