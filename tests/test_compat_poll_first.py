"""compat's driver polling before the system call, once a socket keeps not being ready.

After ``_STREAK`` calls in a row in one direction found the socket not
ready, its calls in that direction sleep in ``poll`` first (one system
call fewer per wait); every ``_PROBE``-th of them tries first again. The
behaviour must be the same either way: what is there is returned, a close
from another thread wakes the sleeper, ``timeout`` bounds the whole call
(``0`` still tries once), a second reader is busy. Also here: a wake-up
that is not a close makes a blocked call try again (``Tcp.serve``'s
failing handler relies on it), except a connect.
"""

from __future__ import annotations

import os
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
    wait_until_sleeping,
)
from _fds import Fds, Owned
from trionet.compat import socket as c
from trionet.compat._wait import _PROBE, _STREAK
from trionet.compat.tcp import Tcp

import trionet
from trionet._fdtable import entry
from trionet._readiness import READ

PROMPT = 1.0  # seconds from a close to the blocked call's end; it takes microseconds


def polling_first(fds: Fds) -> Pair:
    """A connected pair whose server side's reads poll first."""
    pair = connected_pair(fds)
    for _ in range(_STREAK):
        with pytest.raises(trionet.Timeout):
            c.recv(pair.server, timeout=0)
    assert entry(pair.server).streak[READ] == _STREAK
    return pair


class TestPollingFirst:
    def test_returns_what_is_there_at_once(self, fds: Fds) -> None:
        pair = polling_first(fds)
        c.send(pair.client, b"ready")
        assert c.recv(pair.server, timeout=GUARD) == b"ready"

    def test_waits_for_what_comes(self, fds: Fds) -> None:
        pair = polling_first(fds)
        sender = Worker(lambda: (wait_until_sleeping(pair.server), c.send(pair.client, b"later")))
        assert c.recv(pair.server, timeout=GUARD) == b"later"
        sender.outcome()

    def test_a_zero_timeout_still_tries_once(self, fds: Fds) -> None:
        pair = polling_first(fds)
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
        pair = polling_first(fds)
        expect_timeout(lambda: c.recv(pair.server, timeout=SHORT))

    def test_a_close_from_another_thread_wakes_it(self, fds: Fds) -> None:
        pair = polling_first(fds)
        reader = Worker(lambda: c.recv(pair.server))
        wait_until_sleeping(pair.server)
        closed_at = time.monotonic()
        fds.close(pair.server)
        with pytest.raises(trio.ClosedResourceError):
            reader.outcome()
        assert reader.finished_at - closed_at < PROMPT

    def test_a_closed_socket_is_closed_resource_error(self, fds: Fds) -> None:
        pair = polling_first(fds)
        fds.close(pair.server)
        with pytest.raises(trio.ClosedResourceError):
            c.recv(pair.server, timeout=GUARD)

    def test_a_second_reader_is_busy(self, fds: Fds) -> None:
        pair = polling_first(fds)
        reader = Worker(lambda: c.recv(pair.server, timeout=GUARD))
        wait_until_sleeping(pair.server)
        with pytest.raises(trio.BusyResourceError):
            c.recv(pair.server, timeout=GUARD)
        c.send(pair.client, b"for the first")
        assert reader.outcome() == b"for the first"

    def test_an_accept_polling_first_takes_the_connection(self, fds: Fds) -> None:
        listener = stream_listener(fds, "ipv4", Path())
        for _ in range(_STREAK):
            with pytest.raises(trionet.Timeout):
                c.accept(listener, timeout=0)
        acceptor = Worker(lambda: c.accept(listener, timeout=GUARD))
        wait_until_sleeping(listener)
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(client, c.sock_name(listener), timeout=GUARD)
        server, remote = acceptor.outcome()
        fds.track(server)
        assert remote == c.sock_name(client)

    def test_a_socket_that_is_ready_again_goes_back_to_trying_first(self, fds: Fds) -> None:
        pair = polling_first(fds)
        for _ in range(_PROBE + 1):
            c.send(pair.client, b"x")
            assert c.recv(pair.server, timeout=GUARD) == b"x"
        assert entry(pair.server).streak[READ] == 0

    def test_a_socket_that_stays_unready_keeps_polling_first(self, fds: Fds) -> None:
        pair = polling_first(fds)
        for _ in range(_PROBE + 1):
            sender = Worker(lambda: (wait_until_sleeping(pair.server), c.send(pair.client, b"y")))
            assert c.recv(pair.server, timeout=GUARD) == b"y"
            sender.outcome()
        assert entry(pair.server).streak[READ] >= _STREAK


class TestWakeUps:
    def test_a_stray_wake_up_leaves_a_recv_waiting(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        reader = Worker(lambda: c.recv(pair.server, timeout=GUARD))
        wait_until_sleeping(pair.server)
        (wake,) = entry(pair.server).sleepers
        os.eventfd_write(wake, 1)
        time.sleep(SHORT)
        assert reader.is_alive()
        c.send(pair.client, b"the data")
        assert reader.outcome() == b"the data"

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
