"""Helpers shared by the ``trionet.compat.socket`` test modules.

Sockets are made with the fd level's plain calls (the same objects in both
APIs) and connected with the sync calls under test. Work that must run
beside a blocked call runs in a :class:`Worker` thread, whose outcome is
re-raised in the test and whose end is bounded.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

import pytest
import trio
from _fds import IP_KINDS, Fds
from trionet.compat import socket as c

import trionet
from trionet._core._fdtable import entry

T = TypeVar("T")

KINDS = ["ipv4", "ipv6", "unix"]
GUARD = 5.0  # seconds; only a failing test ever waits this long
SHORT = 0.1  # seconds: the timeout of calls that are meant to time out
LATE = 2.0  # seconds: more than any timed-out call may take


class Pair:
    """A listener and one connection through it: ``client`` to ``server``."""

    def __init__(self, listener: int, client: int, server: int) -> None:
        self.listener = listener
        self.client = client
        self.server = server


def family_of(kind: str) -> int:
    return c.AF_UNIX if kind == "unix" else IP_KINDS[kind][0]


def stream_listener(fds: Fds, kind: str, tmp_path: Path, backlog: int = 5) -> int:
    listener = fds.socket(family_of(kind), c.SOCK_STREAM)
    c.bind(listener, str(tmp_path / "listener.sock") if kind == "unix" else (IP_KINDS[kind][1], 0))
    c.listen(listener, backlog)
    return listener


def connected_pair(fds: Fds, kind: str = "ipv4", tmp_path: Path | None = None) -> Pair:
    """A new listener and one connection through it, made with the sync calls."""
    listener = stream_listener(fds, kind, tmp_path or Path("/nonexistent"))
    client = fds.socket(family_of(kind), c.SOCK_STREAM)
    c.connect(client, c.sock_name(listener), timeout=GUARD)
    server, _remote = c.accept(listener, timeout=GUARD)
    return Pair(listener, client, fds.track(server))


def udp_socket(fds: Fds, kind: str = "ipv4") -> int:
    family, host = IP_KINDS[kind]
    fd = fds.socket(family, c.SOCK_DGRAM)
    c.bind(fd, (host, 0))
    return fd


def recv_exactly(fd: int, count: int) -> bytes:
    """Receive until ``count`` bytes arrived (a stream may split them)."""
    received = bytearray()
    for _ in range(count + 1):
        if len(received) >= count:
            break
        chunk = c.recv(fd, count - len(received), timeout=GUARD)
        assert chunk, "end of stream before all the data arrived"
        received += chunk
    return bytes(received)


def wait_until_sleeping(fd: int, count: int = 1) -> None:
    """Return once ``count`` threads sleep in a compat call on ``fd``."""
    sleepers = entry(fd).sleepers
    give_up = time.monotonic() + GUARD
    while len(sleepers) < count:
        assert time.monotonic() < give_up, f"{len(sleepers)} of {count} threads blocked on {fd}"
        time.sleep(0.001)


@contextmanager
def elapsed() -> Iterator[list[float]]:
    """Measure the block: the list holds the seconds it took once it ends."""
    took: list[float] = []
    start = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - start)


class Worker(threading.Thread, Generic[T]):
    """Runs ``target`` in a thread; :meth:`outcome` joins it and returns or re-raises.

    The exception is kept rather than raised in the thread, where pytest
    would only report it as a warning.
    """

    def __init__(self, target: Callable[[], T], daemon: bool = True) -> None:
        super().__init__(daemon=daemon)
        self._target_fn = target
        self._result: T | None = None
        self._error: BaseException | None = None
        self.finished_at = 0.0
        self.start()

    def run(self) -> None:
        try:
            self._result = self._target_fn()
        except BaseException as exc:
            self._error = exc
        finally:
            self.finished_at = time.monotonic()

    def outcome(self, within: float = GUARD) -> T:
        self.join(within)
        assert not self.is_alive(), f"the worker thread did not end within {within} s"
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result  # type: ignore[return-value]


def expect_timeout(call: Callable[[], object], seconds: float = SHORT) -> trionet.Timeout:
    """Run ``call``; it must raise ``Timeout`` after about ``seconds``."""
    with elapsed() as took, pytest.raises(trionet.Timeout) as info:
        call()
    assert seconds - 0.005 <= took[0] < seconds + LATE
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, trio.TooSlowError)
    assert info.value.errno == errno.ETIMEDOUT
    assert info.value.bytes_sent == 0
    return info.value
