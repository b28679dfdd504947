"""JSRE's ``iosched`` for sync scripts: callbacks on fd readiness, run by ``poll()``.

Each thread has its own scheduler. ``event(kind, fd, callback, *args)``
makes an event, ``add`` / ``delete`` register and unregister it, and
``poll(timeout=None)`` waits for ready events and runs their callbacks once
(returning how many ran); ``forever()`` polls until no event is left. A
callback returning ``False`` removes its event. ``trionet.compat.tcp.Tcp``'s
``create_client(callback=...)`` and ``accept(callback=...)`` run their
callbacks here too.
"""

from __future__ import annotations

from ._iosched import READ as READ
from ._iosched import WRITE as WRITE
from ._iosched import Event as Event
from ._iosched import add as add
from ._iosched import delete as delete
from ._iosched import event as event
from ._iosched import forever as forever
from ._iosched import poll as poll

__all__ = ["READ", "WRITE", "Event", "add", "delete", "event", "forever", "poll"]

from trionet._public import publish as _publish

_publish(__name__, globals())
