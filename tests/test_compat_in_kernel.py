"""compat's driver blocking in the system call, and waking it with ``shutdown``.

A receive or send that finds its socket not ready clears the fd's
``O_NONBLOCK`` and blocks in the kernel, bounded by ``SO_RCVTIMEO`` /
``SO_SNDTIMEO``; after ``STREAK`` such calls in a row it blocks at once,
without trying first (every ``_PROBE``-th tries first again). The behaviour must be what it was with
``poll``: what is there is returned, ``timeout`` bounds the whole call
(``0`` still tries once), a close from another thread wakes the call, a
second reader is busy. New here: the closed fd's number stays taken until
the blocked call has left the kernel, async code on the same fd never
blocks, and the kernel's limit is set only when it changes. Also here:
the calls that still sleep in ``poll`` (accept) try again after a wake-up
that is not a close (``Tcp.serve``'s failing handler relies on it).
"""

from __future__ import annotations

import os
import socket as stdsocket
import threading
import time
from pathlib import Path

import pytest
import trio
from _compat_net import (
    GUARD,
    SHORT,
    Pair,
    Worker,
    connected_pair,
    expect_timeout,
    stream_listener,
    udp_socket,
    wait_until_sleeping,
)
from _fds import Fds, Owned, kernel_socket
from trio.testing import MockClock
from trionet.compat import _drive_sync
from trionet.compat import socket as c
from trionet.compat._drive_sync import _PROBE, STREAK, SyncState
from trionet.compat.tcp import Tcp

import trionet
from trionet import socket as s
from trionet._core._fdtable import entry, left_closed
from trionet._core._readiness import READ, WRITE, Direction


def compat_state(fd: int) -> SyncState:
    """compat's own state of ``fd``: what its driver keeps beside the shared entry."""
    return _drive_sync.state(entry(fd))


PROMPT = 1.0  # seconds from a close to the blocked call's end; it takes microseconds


def in_kernel_pair(fds: Fds) -> Pair:
    """A connected pair whose server side's calls block in the kernel."""
    pair = connected_pair(fds)
    with pytest.raises(trionet.Timeout):
        c.recv(pair.server, timeout=SHORT)
    assert compat_state(pair.server).blocking
    assert os.get_blocking(pair.server)
    return pair


def waiting_at_once(fds: Fds) -> Pair:
    """A connected pair whose server side's reads block in the kernel without trying first."""
    pair = in_kernel_pair(fds)
    for _ in range(STREAK):
        with pytest.raises(trionet.Timeout):
            c.recv(pair.server, timeout=0.001)
    assert compat_state(pair.server).streak[READ] >= STREAK
    return pair


class TestBlockingInTheKernel:
    def test_a_fresh_socket_stays_non_blocking_until_a_call_must_wait(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.send(pair.client, b"ready")
        assert c.recv(pair.server, timeout=GUARD) == b"ready"
        assert not os.get_blocking(pair.server)
        assert not compat_state(pair.listener).blocking
        assert not os.get_blocking(pair.listener)

    def test_returns_what_is_there_at_once(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        c.send(pair.client, b"ready")
        assert c.recv(pair.server, timeout=GUARD) == b"ready"

    def test_waits_for_what_comes(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        sender = Worker(lambda: (wait_until_sleeping(pair.server), c.send(pair.client, b"later")))
        assert c.recv(pair.server) == b"later"
        sender.outcome()

    def test_a_zero_timeout_still_tries_once(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        with pytest.raises(trionet.Timeout, match="would block"):
            c.recv(pair.server, timeout=0)
        c.send(pair.client, b"there")
        deadline = time.monotonic() + GUARD
        while True:  # loopback delivery is immediate, but bounded anyway
            try:
                assert c.recv(pair.server, timeout=0) == b"there"
                break
            except trionet.Timeout:
                assert time.monotonic() < deadline

    def test_the_timeout_bounds_the_call(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        expect_timeout(lambda: c.recv(pair.server, timeout=SHORT))

    def test_the_timeout_bounds_a_send_to_a_peer_that_does_not_read(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.set_send_buffer_size(pair.client, 4096)
        c.set_recv_buffer_size(pair.server, 4096)
        chunk = b"x" * 65536
        for _ in range(1000):  # bounded: the buffers hold far less
            try:
                c.send(pair.client, chunk, timeout=SHORT)
            except trionet.Timeout:
                break
        assert compat_state(pair.client).blocking
        expect_timeout(lambda: c.send(pair.client, chunk, timeout=SHORT))

    def test_the_kernel_limit_is_set_once_for_calls_with_one_timeout(
        self, fds: Fds, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pair = waiting_at_once(fds)
        target = compat_state(pair.server)
        limits: list[float | None] = []
        set_limit = SyncState._set_limit

        def counting(fd_state: SyncState, direction: Direction, limit: float | None) -> None:
            limits.append(limit)
            set_limit(fd_state, direction, limit)

        monkeypatch.setattr(SyncState, "_set_limit", counting)
        for _ in range(3):
            c.send(pair.client, b"x")
            assert c.recv(pair.server, timeout=GUARD) == b"x"
            assert target.timeo[READ] == GUARD
        c.send(pair.client, b"y")
        assert c.recv(pair.server) == b"y"
        assert target.timeo[READ] is None
        assert limits == [GUARD, None]
        limit = target.sock.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVTIMEO, 16)
        assert limit == bytes(16)

    def test_a_socket_that_is_ready_again_goes_back_to_trying_first(self, fds: Fds) -> None:
        pair = waiting_at_once(fds)
        for _ in range(_PROBE + 1):
            c.send(pair.client, b"x")
            assert c.recv(pair.server, timeout=GUARD) == b"x"
        assert compat_state(pair.server).streak[READ] == 0

    def test_a_socket_that_stays_unready_keeps_waiting_at_once(self, fds: Fds) -> None:
        pair = waiting_at_once(fds)
        for _ in range(_PROBE + 1):
            sender = Worker(lambda: (wait_until_sleeping(pair.server), c.send(pair.client, b"y")))
            assert c.recv(pair.server, timeout=GUARD) == b"y"
            sender.outcome()
        assert compat_state(pair.server).streak[READ] >= STREAK

    def test_a_second_reader_is_busy(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        reader = Worker(lambda: c.recv(pair.server, timeout=GUARD))
        wait_until_sleeping(pair.server)
        with pytest.raises(trio.BusyResourceError):
            c.recv(pair.server, timeout=GUARD)
        c.send(pair.client, b"for the first")
        assert reader.outcome() == b"for the first"

    def test_async_code_on_the_same_fd_never_blocks(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        # A compat receive without a timeout leaves the kernel no limit
        # (SO_RCVTIMEO 0): from now on a receive that blocked in the kernel
        # would never return, however briefly it meant to wait.
        reader = Worker(lambda: c.recv(pair.server))
        wait_until_sleeping(pair.server)
        c.send(pair.client, b"compat")
        assert reader.outcome() == b"compat"
        with kernel_socket(pair.server) as raw:
            assert raw.getsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVTIMEO, 16) == bytes(16)

        async def use_it() -> bytes:
            # trio's clock moves only while trio waits (autojump, no rate):
            # the whole timeout on it is trio's wait, not the kernel's.
            start = trio.current_time()
            with pytest.raises(trionet.Timeout):
                await s.recv(pair.server, timeout=3600)
            assert trio.current_time() - start == pytest.approx(3600)
            await s.send(pair.client, b"async")
            return await s.recv(pair.server, timeout=GUARD)

        runner = Worker(lambda: trio.run(use_it, clock=MockClock(autojump_threshold=0)))
        runner.join(GUARD)
        if runner.is_alive():
            entry(pair.server).sock.shutdown(stdsocket.SHUT_RDWR)  # lets the blocked call go
            pytest.fail("an async receive blocked in the kernel")
        assert runner.outcome() == b"async"
        assert os.get_blocking(pair.server)


class TestCloseWhileInTheKernel:
    def test_a_close_from_another_thread_wakes_it(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        reader = Worker(lambda: c.recv(pair.server))
        wait_until_sleeping(pair.server)
        closed_at = time.monotonic()
        fds.close(pair.server)
        with pytest.raises(trio.ClosedResourceError):
            reader.outcome()
        assert reader.finished_at - closed_at < PROMPT

    def test_a_close_wakes_an_unconnected_udp_receiver(self, fds: Fds) -> None:
        fd = udp_socket(fds)
        with pytest.raises(trionet.Timeout):
            c.recvfrom(fd, timeout=SHORT)
        reader = Worker(lambda: c.recvfrom(fd))
        wait_until_sleeping(fd)
        closed_at = time.monotonic()
        fds.close(fd)
        with pytest.raises(trio.ClosedResourceError):
            reader.outcome()
        assert reader.finished_at - closed_at < PROMPT

    def test_a_closed_socket_is_closed_resource_error(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        fds.close(pair.server)
        with pytest.raises(trio.ClosedResourceError):
            c.recv(pair.server, timeout=GUARD)

    def test_the_fd_number_stays_taken_until_the_blocked_call_left(self, fds: Fds) -> None:
        # A thread stands in the kernel (registered as compat's driver does);
        # the close must shut the socket down and leave the number to it.
        pair = in_kernel_pair(fds)
        target = entry(pair.server)
        key = ~threading.get_ident()
        target.sleepers[key] = READ
        try:
            fds.close(pair.server)
            assert target.closed
            assert target.deferred
            os.fstat(pair.server)  # still open: no new socket can get the number
            newcomer = fds.socket(c.AF_INET, c.SOCK_STREAM)
            assert newcomer != pair.server
            # Shut down: a receive that started now would return at once.
            assert target.sock.recv(1, stdsocket.MSG_DONTWAIT) == b""
            with pytest.raises(trio.ClosedResourceError):
                c.recv(pair.server, timeout=GUARD)
        finally:
            del target.sleepers[key]
            left_closed(target)
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(pair.server)
        with pytest.raises(trio.ClosedResourceError):
            entry(pair.server)

    def test_the_last_of_two_threads_in_the_kernel_closes_it(self, fds: Fds) -> None:
        pair = in_kernel_pair(fds)
        target = entry(pair.server)
        reader, writer = -1_000_001, -1_000_002  # keys no thread has
        target.sleepers[reader] = READ
        target.sleepers[writer] = WRITE
        fds.close(pair.server)
        del target.sleepers[reader]
        left_closed(target)
        os.fstat(pair.server)
        del target.sleepers[writer]
        left_closed(target)
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(pair.server)


class TestWakeUps:
    def test_a_stray_wake_up_leaves_an_accept_waiting(self, fds: Fds) -> None:
        listener = stream_listener(fds, "ipv4", Path())
        acceptor = Worker(lambda: c.accept(listener, timeout=GUARD))
        wait_until_sleeping(listener)
        (wake,) = entry(listener).sleepers
        os.eventfd_write(wake, 1)
        time.sleep(SHORT)
        assert acceptor.is_alive()
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        server, _ = acceptor.outcome()
        fds.track(server)

    def test_a_handler_failing_while_serve_waits_in_accept_ends_serve(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(("127.0.0.1", 0)))
        running, go = threading.Event(), threading.Event()

        def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            running.set()
            go.wait(GUARD)
            raise LookupError("from a handler, late")

        serving = Worker(lambda: server.serve(handler))
        owned(Tcp.create_client(server.sock_name(), timeout=GUARD))
        assert running.wait(GUARD)
        wait_until_sleeping(server.sock_fd)  # back in accept, the handler still running
        go.set()
        start = time.monotonic()
        with pytest.raises(LookupError):
            serving.outcome(GUARD)
        assert time.monotonic() - start < PROMPT
