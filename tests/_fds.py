"""Test helpers shared by the fd-level test modules."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket as stdsocket
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from _ports import quiet_port, retry_on_addr_in_use

from trionet import socket as s
from trionet._core._fdtable import entry
from trionet._core._seam import SimulatedSocket
from trionet._sockobj import SocketObject
from trionet.testing import open_fds as open_fds

_Obj = TypeVar("_Obj", bound=SocketObject)

IP_KINDS = {"ipv4": (s.AF_INET, "127.0.0.1"), "ipv6": (s.AF_INET6, "::1")}

# ``timeout=`` values every blocking call refuses, async (``test_fd_io``) and
# sync (``test_compat_socket_args``) alike (SPEC section 0), with the error.
BAD_TIMEOUTS = [
    pytest.param(-1, ValueError, id="negative"),
    pytest.param(-0.001, ValueError, id="small-negative"),
    pytest.param(math.nan, ValueError, id="nan"),
    pytest.param(math.inf, ValueError, id="inf"),
    pytest.param("1", TypeError, id="str"),
    pytest.param(True, TypeError, id="bool"),
    pytest.param([1], TypeError, id="list"),
]


@contextlib.contextmanager
def kernel_socket(fd: int) -> Iterator[stdsocket.socket]:
    """The kernel's own socket behind ``fd``, to check what trionet set on it.

    On the real kernel: a stdlib socket on a duplicate of ``fd`` (closed
    at the end). On a virtual network: the virtual socket itself, which is
    the simulated kernel's state (and stays open).
    """
    sock = entry(fd).sock
    if isinstance(sock, SimulatedSocket):
        yield sock
        return
    with stdsocket.socket(fileno=os.dup(fd)) as raw:
        yield raw


def getsockopt(obj: SocketObject, level: int, option: int, buflen: int | None = None) -> Any:
    """An option of ``obj``'s socket, read from the kernel (see ``kernel_socket``)."""
    with kernel_socket(obj.sock_fd) as sock:
        if buflen is None:
            return sock.getsockopt(level, option)
        return sock.getsockopt(level, option, buflen)


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


def listener_with_mports(
    fds: Fds, kind: str, count: int, mports: Callable[[int, int], None] = s.mports
) -> int:
    """A listener that also listens on the ``count`` ports after its own.

    ``mports`` is the fd level's (trionet's or compat's) under test.
    """
    family, host = IP_KINDS[kind]

    def attempt() -> int:
        listener = fds.socket(family, s.SOCK_STREAM)
        try:
            s.bind(listener, (host, quiet_port(count + 1)))
            s.listen(listener)
            mports(listener, count)
        except OSError:
            fds.close(listener)
            raise
        return listener

    return retry_on_addr_in_use(attempt)


def is_open(fd: int) -> bool:
    # Not ``fd in open_fds()``: listdir's own directory fd takes the lowest free number.
    return os.path.lexists(f"/proc/self/fd/{fd}")


def skip_without_broadcast() -> None:
    """Skip unless the kernel routes the loopback broadcast address through lo.

    The probe is a connect on a UDP socket: a route lookup that sends
    nothing. Call it from a sync fixture: pytest-trio drops the reason of a
    ``pytest.skip`` raised inside the trio run.
    """
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as probe:
        probe.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_BROADCAST, 1)
        try:
            probe.connect(("127.255.255.255", 9))
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            pytest.skip(f"the kernel has no route for 127.255.255.255 through lo: {name}")
