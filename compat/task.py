"""Tasks for sync scripts: EdgerOS JSRE's ``Task`` without ``async``.

The names and behaviour of ``trionet.task``, blocking. The tasks,
their ids and inboxes are the async API's: a sync task and an async task
send each other messages and fds (``Handoff``). See ``docs/compat.md``.
"""

from __future__ import annotations

from trionet._handoff import Handoff as Handoff

from ._task import Task as Task
from ._task import current as current
from ._task import open_task as open_task
from ._task import recv as recv
from ._task import send as send

__all__ = ["Handoff", "Task", "current", "open_task", "recv", "send"]

from trionet._public import publish as _publish

_publish(__name__, globals(), after="trionet.task")
