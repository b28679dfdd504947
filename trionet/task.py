"""Tasks: EdgerOS JSRE's ``Task`` on trio.

A task is a separate ``trio.run`` in a thread of its own, with an inbox of
Python objects and fd handoff between tasks. See ``docs/tasks.md``.
"""

from __future__ import annotations

from ._handoff import Handoff as Handoff
from ._task import Task as Task
from ._task import current as current
from ._task import open_task as open_task
from ._task import recv as recv
from ._task import send as send

__all__ = ["Handoff", "Task", "current", "open_task", "recv", "send"]

from ._public import publish as _publish

_publish(__name__, globals())
