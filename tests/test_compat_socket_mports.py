"""SPEC sections 1 and 5: ``mports`` listeners with the sync ``accept``.

A listener with ``mports`` waits on all its ports, in a thread as in a
task, and goes on waiting on the new set when ``mports`` changes it.
"""

from __future__ import annotations

from _compat_net import (
    GUARD,
    SHORT,
    Worker,
    expect_timeout,
    wait_until_sleeping,
)
from _fds import Fds
from _fds import listener_with_mports as _listener_with_mports
from trionet.compat import socket as c

import trionet


def listener_with_mports(fds: Fds, count: int) -> int:
    """A listener that also listens on the ``count`` ports after its own (``c.mports``)."""
    return _listener_with_mports(fds, "ipv4", count, c.mports)


def port_of(fd: int) -> int:
    address = c.sock_name(fd)
    assert isinstance(address, trionet.SockAddr)
    return address.port


class TestMports:
    def test_accept_takes_connections_from_every_port(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, 2)
        base = port_of(listener)
        clients = {}
        for port in range(base, base + 3):
            client = fds.socket(c.AF_INET, c.SOCK_STREAM)
            c.connect(client, ("127.0.0.1", port), timeout=GUARD)
            clients[c.sock_name(client)] = port
        accepted = {}
        for _ in range(3):
            server, remote = c.accept(listener, timeout=GUARD)
            fds.track(server)
            accepted[remote] = port_of(server)
        assert accepted == clients
        expect_timeout(lambda: c.accept(listener, timeout=SHORT))

    def test_a_blocked_accept_wakes_for_a_connection_on_an_extra_port(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, 2)
        last_port = port_of(listener) + 2
        acceptor = Worker(lambda: c.accept(listener, timeout=GUARD))
        wait_until_sleeping(listener)
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(client, ("127.0.0.1", last_port), timeout=GUARD)
        server, remote = acceptor.outcome()
        fds.track(server)
        assert (remote, port_of(server)) == (c.sock_name(client), last_port)

    def test_a_blocked_accept_goes_on_waiting_on_the_new_ports(self, fds: Fds) -> None:
        # As the async accept does (test_fd_basic): ports that mports adds while
        # a thread waits in accept must be waited on too.
        listener = listener_with_mports(fds, 2)  # finds two free ports after its own
        new_port = port_of(listener) + 2
        c.mports(listener, 0)
        acceptor = Worker(lambda: c.accept(listener, timeout=1.0))
        wait_until_sleeping(listener)
        c.mports(listener, 2)
        client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(client, ("127.0.0.1", new_port), timeout=GUARD)
        server, remote = acceptor.outcome()
        fds.track(server)
        assert (remote, port_of(server)) == (c.sock_name(client), new_port)
