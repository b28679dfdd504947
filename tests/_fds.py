"""Test helpers shared by the fd-level test modules."""

from __future__ import annotations

from typing import TypeVar

from trionet import socket as s
from trionet._sockobj import SocketObject

_Obj = TypeVar("_Obj", bound=SocketObject)

IP_KINDS = {"ipv4": (s.AF_INET, "127.0.0.1"), "ipv6": (s.AF_INET6, "::1")}


class Fds:
    """The fds a test opened; each is closed exactly once when the test ends.

    fd numbers are reused at once, so closing one twice could close a stranger.
    """

    def __init__(self) -> None:
        self.opened: list[int] = []

    def socket(self, domain: int, type: int) -> int:
        return self.track(s.socket(domain, type))

    def track(self, fd: int) -> int:
        self.opened.append(fd)
        return fd

    def close(self, fd: int) -> None:
        """Close ``fd`` now and forget it, so its number may be reused safely."""
        if fd in self.opened:
            self.opened.remove(fd)
            s.close(fd)

    def give_away(self, fd: int) -> None:
        """Another run owns ``fd`` from now on and closes it."""
        self.opened.remove(fd)

    def close_all(self) -> None:
        while self.opened:
            s.close(self.opened.pop())


class Owned:
    """``Tcp`` / ``Udp`` objects a test made; each is closed when the test ends."""

    def __init__(self) -> None:
        self.objects: list[SocketObject] = []

    def __call__(self, obj: _Obj) -> _Obj:
        self.objects.append(obj)
        return obj

    def close_all(self) -> None:
        for obj in self.objects:
            obj.close()
