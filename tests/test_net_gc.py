"""A ``net.Socket`` that still owns an fd when it is garbage-collected (SPEC 0, "No leaks").

It closes the fd and emits a ``ResourceWarning``. A socket that was closed,
or that never took an fd, is collected silently (``filterwarnings = error``
and the leak check of ``conftest.py`` would notice otherwise).
"""

from __future__ import annotations

import gc
import os
import socket as stdsocket
import warnings

import pytest
import trio
from _net_helpers import serving
from trio.testing import MockClock

from trionet import net


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _collect_quietly() -> None:
    """Collect garbage; no finalizer may warn (a warning there is not raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught] == []


def _drop_unentered(fd: int) -> None:
    net.Socket(fd=fd)  # made, never entered, dropped at once
    gc.collect()


def _drop_attached(fd: int) -> None:
    # No public path leaves an attached socket open (``async with`` always
    # closes it), so attach by hand to reach the finalizer's other branch.
    sock = net.Socket(fd=fd)
    sock._attach(fd)
    assert sock.fileno() == fd
    del sock
    gc.collect()


def test_socket_never_entered_closes_its_fd_and_warns() -> None:
    left, right = stdsocket.socketpair()
    with right:
        fd = left.detach()
        with pytest.warns(ResourceWarning, match=f"fd {fd} was never closed"):
            _drop_unentered(fd)
        assert not _is_open(fd)
        right.settimeout(5)
        assert right.recv(1) == b""  # the peer sees the connection end


async def test_socket_never_entered_inside_a_run_closes_its_fd_and_warns(
    autojump_clock: MockClock,
) -> None:
    left, right = stdsocket.socketpair()
    with right:
        fd = left.detach()
        with pytest.warns(ResourceWarning, match="net.Socket"):
            _drop_unentered(fd)
        assert not _is_open(fd)


async def test_socket_dropped_while_attached_closes_its_fd_and_warns(
    autojump_clock: MockClock,
) -> None:
    left, right = stdsocket.socketpair()
    with right:
        fd = left.detach()
        with pytest.warns(ResourceWarning, match=f"fd {fd} was never closed"):
            _drop_attached(fd)
        assert not _is_open(fd)


def test_rejected_fd_stays_the_callers_and_nothing_warns() -> None:
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM) as udp:
        with pytest.raises(ValueError, match="stream"):
            net.Socket(fd=udp.fileno())
        left, right = stdsocket.socketpair()
        with left, right, pytest.raises(ValueError, match="high_water_mark"):
            net.Socket(fd=left.fileno(), high_water_mark=-1)
        _collect_quietly()
        assert udp.fileno() >= 0
        assert _is_open(udp.fileno())


def test_socket_without_an_fd_is_collected_silently() -> None:
    net.Socket()
    _collect_quietly()


async def test_closed_sockets_are_collected_silently(autojump_clock: MockClock) -> None:
    with trio.fail_after(10):
        async with serving(net.Socket.resume) as served:
            async with net.connect(served.port, "127.0.0.1") as sock:
                sock.write(b"x")
            peer = await served.next_socket()
            await peer.wait_closed()
    left, right = stdsocket.socketpair()
    async with net.Socket(fd=left.detach()) as a, net.Socket(fd=right.detach()) as b:
        a.destroy()
        b.destroy()
    del sock, peer, a, b
    served.accepted.clear()
    _collect_quietly()
