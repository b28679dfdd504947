"""What the sync ``Tcp`` and ``Udp`` add to their shared base: ``with``."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from trionet._sockobj import SocketObject

__all__ = ["SyncSocketObject"]

_Self = TypeVar("_Self", bound="SyncSocketObject")


class SyncSocketObject(SocketObject):
    """A ``trionet._sockobj.SocketObject`` that ``with`` closes on exit."""

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
