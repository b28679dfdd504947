"""Finalizers run by the garbage collector inside the fd table's locked code.

gc runs finalizers inside whatever allocation triggers it, which may be one
made while ``trionet._core._fdtable`` holds its (non-reentrant) lock: adopting a
foreign fd wraps it in a new ``socket.socket`` there. A finalizer that then
closes an fd through the table (a dropped socket object, a dead compat
thread's wake-up fd) must not wait for that lock: it once hung the suite.
Each test forces a collection at that point (``_wrap``, called under the
lock) with the garbage made unreachable only through a reference cycle, so
only the collector can free it, and only there. Each test gets a short
limit: on the old code each hung until pytest-timeout fired.
"""

from __future__ import annotations

import errno
import gc
import os
import socket as stdsocket
import threading
from collections.abc import Iterator

import pytest
from trionet.compat import _drive_sync

from trionet._core import _fdtable
from trionet.udp import Udp


@pytest.fixture
def collect_inside_the_lock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """gc runs only when the table, holding its lock, wraps a foreign fd."""
    wrap = _fdtable._wrap

    def collecting_wrap(fd: int) -> stdsocket.socket:
        assert _fdtable._in_locked_code()
        gc.collect()
        return wrap(fd)

    monkeypatch.setattr(_fdtable, "_wrap", collecting_wrap)
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _dead_thread_wake_fd() -> int:
    """The wake-up fd of a compat thread that has ended, its sleeper kept by a cycle."""
    fds: list[int] = []

    def run() -> None:
        cycle: list[object] = [_drive_sync._sleeper()]
        cycle.append(cycle)
        fds.append(_drive_sync.wake_fd())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return fds[0]


def _adopt_a_foreign_socket() -> None:
    fd = stdsocket.socket().detach()
    try:
        assert _fdtable.entry(fd).fd == fd
    finally:
        _fdtable.close(fd)


def _is_closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as exc:
        return exc.errno == errno.EBADF
    return False


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("collect_inside_the_lock")
def test_a_dead_threads_wake_fd_is_closed_once_the_lock_is_let_go() -> None:
    wake_fds = [_dead_thread_wake_fd() for _ in range(3)]
    assert set(wake_fds) <= _fdtable.wake_fds()
    _adopt_a_foreign_socket()
    assert not set(wake_fds) & _fdtable.wake_fds()
    assert all(_is_closed(fd) for fd in wake_fds)


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("collect_inside_the_lock")
def test_a_dropped_socket_is_closed_once_the_lock_is_let_go() -> None:
    dropped = Udp.create()
    fd = dropped.sock_fd
    dropped.cycle = dropped  # type: ignore[attr-defined]
    del dropped
    with pytest.warns(ResourceWarning, match=f"fd {fd} was never closed"):
        _adopt_a_foreign_socket()
    assert _is_closed(fd)


@pytest.mark.timeout(10)
def test_other_calls_into_the_table_from_its_locked_code_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the closes may be reached from a finalizer there; anything else
    # would wait for itself, and says so instead.
    def reentering_wrap(fd: int) -> stdsocket.socket:
        _fdtable.wake_fds()
        raise AssertionError("not reached")

    monkeypatch.setattr(_fdtable, "_wrap", reentering_wrap)
    fd = stdsocket.socket().detach()
    try:
        with pytest.raises(RuntimeError, match="re-entered from inside its locked code"):
            _fdtable.entry(fd)
        assert not _fdtable._in_locked_code()
    finally:
        os.close(fd)
