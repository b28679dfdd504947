"""The non-blocking calls of the fd level (SPEC section 1) over real loopback sockets."""

from __future__ import annotations

import errno
import fcntl
import os
import socket as stdsocket
from pathlib import Path

import pytest
import trio
from _fds import IP_KINDS, Fds, listener_with_mports

import trionet
from trionet import socket as s


def tcp_listener(fds: Fds, kind: str = "ipv4") -> int:
    family, host = IP_KINDS[kind]
    listener = fds.socket(family, s.SOCK_STREAM)
    s.bind(listener, (host, 0))
    s.listen(listener)
    return listener


def port_of(fd: int) -> int:
    address = s.sock_name(fd)
    assert isinstance(address, trionet.SockAddr)
    return address.port


async def connected(fds: Fds, listener: int) -> tuple[int, int]:
    """A client connected to ``listener`` and the server side of it."""
    client = fds.socket(s.domain(listener), s.SOCK_STREAM)
    await s.connect(client, s.sock_name(listener), timeout=5)
    server, _remote = await s.accept(listener, timeout=5)
    return client, fds.track(server)


async def assert_refused(fds: Fds, kind: str, port: int) -> None:
    family, host = IP_KINDS[kind]
    client = fds.socket(family, s.SOCK_STREAM)
    try:
        with pytest.raises(ConnectionRefusedError):
            await s.connect(client, (host, port), timeout=5)
    finally:
        fds.close(client)


class TestSocket:
    @pytest.mark.parametrize("family", [s.AF_INET, s.AF_INET6, s.AF_UNIX])
    @pytest.mark.parametrize("type", [s.SOCK_STREAM, s.SOCK_DGRAM])
    def test_socket_is_non_blocking_close_on_exec_of_the_asked_kind(
        self, fds: Fds, family: int, type: int
    ) -> None:
        fd = fds.socket(family, type)
        assert isinstance(fd, int)
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
        assert not os.get_inheritable(fd)
        assert s.domain(fd) == family
        probe = stdsocket.socket(fileno=os.dup(fd))
        try:
            assert probe.type == type
        finally:
            probe.close()

    @pytest.mark.parametrize(
        ("domain", "type", "error"),
        [
            pytest.param(12345, s.SOCK_STREAM, ValueError, id="unknown-domain"),
            pytest.param(stdsocket.AF_PACKET, s.SOCK_DGRAM, ValueError, id="af-packet"),
            pytest.param(-1, s.SOCK_STREAM, ValueError, id="negative-domain"),
            pytest.param(s.AF_INET, stdsocket.SOCK_RAW, ValueError, id="raw"),
            pytest.param(s.AF_INET, stdsocket.SOCK_SEQPACKET, ValueError, id="seqpacket"),
            pytest.param(s.AF_INET, 999, ValueError, id="unknown-type"),
            pytest.param("AF_INET", s.SOCK_STREAM, TypeError, id="str-domain"),
            pytest.param(True, s.SOCK_STREAM, TypeError, id="bool-domain"),
            pytest.param(s.AF_INET, None, TypeError, id="none-type"),
            pytest.param(s.AF_INET, 1.0, TypeError, id="float-type"),
        ],
    )
    def test_bad_domain_or_type_is_refused_without_creating_a_socket(
        self, domain: object, type: object, error: type[Exception]
    ) -> None:
        with pytest.raises(error, match=r"domain|type"):
            s.socket(domain, type)  # type: ignore[arg-type]


class TestBindListen:
    def test_is_listen_only_after_listen(self, fds: Fds, ip_kind: str) -> None:
        family, host = IP_KINDS[ip_kind]
        fd = fds.socket(family, s.SOCK_STREAM)
        assert s.is_listen(fd) is False
        s.bind(fd, (host, 0))
        assert s.is_listen(fd) is False
        s.listen(fd)
        assert s.is_listen(fd) is True

    async def test_accepted_and_datagram_sockets_do_not_listen(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        client, server = await connected(fds, listener)
        assert not s.is_listen(client)
        assert not s.is_listen(server)
        assert not s.is_listen(fds.socket(s.AF_INET, s.SOCK_DGRAM))

    def test_bind_to_port_zero_lets_the_system_choose(self, fds: Fds, ip_kind: str) -> None:
        family, host = IP_KINDS[ip_kind]
        fd = fds.socket(family, s.SOCK_DGRAM)
        s.bind(fd, trionet.sockaddr(host, 0))
        address = s.sock_name(fd)
        assert isinstance(address, trionet.SockAddr)
        assert address.addr == host
        assert address.port > 0

    def test_bind_to_a_port_in_use_is_address_in_use(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        other = fds.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(OSError, match="in use") as info:
            s.bind(other, s.sock_name(listener))
        assert info.value.errno == errno.EADDRINUSE

    def test_listen_with_backlog_zero_is_allowed(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        s.bind(fd, ("127.0.0.1", 0))
        s.listen(fd, 0)
        assert s.is_listen(fd)

    @pytest.mark.parametrize(
        ("backlog", "error"), [(-1, ValueError), (65536, ValueError), ("5", TypeError)]
    )
    def test_bad_backlog_is_refused_and_the_socket_does_not_listen(
        self, fds: Fds, backlog: object, error: type[Exception]
    ) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        s.bind(fd, ("127.0.0.1", 0))
        with pytest.raises(error, match="backlog"):
            s.listen(fd, backlog)  # type: ignore[arg-type]
        assert not s.is_listen(fd)

    def test_listen_on_a_datagram_socket_is_refused_by_the_kernel(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        s.bind(fd, ("127.0.0.1", 0))
        with pytest.raises(OSError, match="not supported") as info:
            s.listen(fd)
        assert info.value.errno == errno.EOPNOTSUPP


class TestMports:
    @pytest.mark.parametrize("count", [1, 3])
    async def test_listener_accepts_on_each_of_its_ports(
        self, fds: Fds, ip_kind: str, count: int
    ) -> None:
        family, host = IP_KINDS[ip_kind]
        listener = listener_with_mports(fds, ip_kind, count)
        base = port_of(listener)
        clients = {}
        for port in range(base, base + count + 1):
            client = fds.socket(family, s.SOCK_STREAM)
            await s.connect(client, (host, port), timeout=5)
            clients[s.sock_name(client)] = port
        accepted = {}
        for _ in range(count + 1):
            server, remote = await s.accept(listener, timeout=5)
            fds.track(server)
            accepted[remote] = port_of(server)
        assert accepted == clients

    async def test_accept_waits_on_every_port(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, "ipv4", 2)
        last_port = port_of(listener) + 2
        results: list[int] = []

        async def accept_one() -> None:
            server, _remote = await s.accept(listener, timeout=5)
            fds.track(server)
            results.append(port_of(server))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_one)
            await trio.testing.wait_all_tasks_blocked()
            client = fds.socket(s.AF_INET, s.SOCK_STREAM)
            await s.connect(client, ("127.0.0.1", last_port), timeout=5)
        assert results == [last_port]

    async def test_accept_keeps_waiting_while_mports_changes_the_ports(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, "ipv4", 2)
        base = port_of(listener)
        results: list[int] = []

        async def accept_one() -> None:
            server, _remote = await s.accept(listener, timeout=5)
            fds.track(server)
            results.append(port_of(server))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_one)
            await trio.testing.wait_all_tasks_blocked()
            s.mports(listener, 0)
            await trio.testing.wait_all_tasks_blocked()
            s.mports(listener, 1)
            await trio.testing.wait_all_tasks_blocked()
            client = fds.socket(s.AF_INET, s.SOCK_STREAM)
            await s.connect(client, ("127.0.0.1", base + 1), timeout=5)
        assert results == [base + 1]

    async def test_close_closes_every_extra_port(self, fds: Fds, ip_kind: str) -> None:
        listener = listener_with_mports(fds, ip_kind, 3)
        base = port_of(listener)
        fds.close(listener)
        for port in range(base, base + 4):
            await assert_refused(fds, ip_kind, port)

    async def test_mports_again_with_a_smaller_count_closes_the_extra_ports(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, "ipv4", 3)
        base = port_of(listener)
        s.mports(listener, 1)
        await assert_refused(fds, "ipv4", base + 2)
        await assert_refused(fds, "ipv4", base + 3)
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, ("127.0.0.1", base + 1), timeout=5)
        server, _remote = await s.accept(listener, timeout=5)
        fds.track(server)
        assert port_of(server) == base + 1

    async def test_mports_zero_leaves_only_the_listeners_own_port(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, "ipv4", 2)
        base = port_of(listener)
        s.mports(listener, 0)
        await assert_refused(fds, "ipv4", base + 1)
        await assert_refused(fds, "ipv4", base + 2)
        client, _server = await connected(fds, listener)
        assert s.peer_name(client) == s.sock_name(listener)

    async def test_shrinking_keeps_connections_queued_on_kept_ports(self, fds: Fds) -> None:
        listener = listener_with_mports(fds, "ipv4", 2)
        base = port_of(listener)
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(client, ("127.0.0.1", base + 1), timeout=5)
        s.mports(listener, 1)
        server, remote = await s.accept(listener, timeout=5)
        fds.track(server)
        assert remote == s.sock_name(client)

    def test_mports_on_a_socket_that_does_not_listen_is_a_value_error(self, fds: Fds) -> None:
        unbound = fds.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(ValueError, match="listen"):
            s.mports(unbound, 1)
        bound = fds.socket(s.AF_INET, s.SOCK_STREAM)
        s.bind(bound, ("127.0.0.1", 0))
        with pytest.raises(ValueError, match="listen"):
            s.mports(bound, 1)
        datagram = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        s.bind(datagram, ("127.0.0.1", 0))
        with pytest.raises(ValueError, match="listen"):
            s.mports(datagram, 1)

    def test_mports_past_port_65535_is_a_value_error(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        base = port_of(listener)
        with pytest.raises(ValueError, match="65535"):
            s.mports(listener, 65535 - base + 1)
        with pytest.raises(ValueError, match="count"):
            s.mports(listener, 65536)

    @pytest.mark.parametrize(("count", "error"), [(-1, ValueError), (True, TypeError)])
    def test_bad_count_is_refused(self, fds: Fds, count: object, error: type[Exception]) -> None:
        listener = tcp_listener(fds)
        with pytest.raises(error, match="count"):
            s.mports(listener, count)  # type: ignore[arg-type]


class TestPending:
    async def test_pending_counts_bytes_queued_for_reading(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        client, server = await connected(fds, listener)
        assert s.pending(server) == 0
        await s.send(client, b"12345", timeout=5)
        await trio.lowlevel.wait_readable(server)
        assert s.pending(server) == 5
        assert await s.recv(server, 2, timeout=5) == b"12"
        assert s.pending(server) == 3
        assert await s.recv(server, timeout=5) == b"345"
        assert s.pending(server) == 0


class TestShutdown:
    @pytest.mark.parametrize("how", ["x", "", "wr", "RW", "read"])
    async def test_unknown_how_is_a_value_error(self, fds: Fds, how: str) -> None:
        listener = tcp_listener(fds)
        client, server = await connected(fds, listener)
        with pytest.raises(ValueError, match="how"):
            s.shutdown(client, how)
        # Nothing was shut down.
        await s.send(client, b"still open", timeout=5)
        assert await s.recv(server, timeout=5) == b"still open"

    @pytest.mark.parametrize("how", [1, None, b"rw"])
    async def test_how_of_the_wrong_type_is_a_type_error(self, fds: Fds, how: object) -> None:
        listener = tcp_listener(fds)
        client, _server = await connected(fds, listener)
        with pytest.raises(TypeError, match="how"):
            s.shutdown(client, how)  # type: ignore[arg-type]

    async def test_shutdown_read_makes_recv_return_empty(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        client, server = await connected(fds, listener)
        s.shutdown(server, "r")
        assert await s.recv(server, timeout=5) == b""
        await s.send(server, b"writes still work", timeout=5)
        assert await s.recv(client, timeout=5) == b"writes still work"

    async def test_shutdown_default_closes_both_directions(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        client, server = await connected(fds, listener)
        s.shutdown(client)
        assert await s.recv(server, timeout=5) == b""
        assert await s.recv(client, timeout=5) == b""
        with pytest.raises(BrokenPipeError):
            await s.send(client, b"x", timeout=5)

    def test_shutdown_of_an_unconnected_socket_is_not_connected(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        with pytest.raises(OSError, match="not connected") as info:
            s.shutdown(fd, "rw")
        assert info.value.errno == errno.ENOTCONN


class TestError:
    async def test_error_is_zero_on_healthy_sockets(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        client, server = await connected(fds, listener)
        assert s.error(fds.socket(s.AF_INET, s.SOCK_DGRAM)) == 0
        assert s.error(listener) == 0
        assert s.error(client) == 0
        assert s.error(server) == 0


class TestNames:
    async def test_ip_names_on_both_ends(self, fds: Fds, ip_kind: str) -> None:
        _family, host = IP_KINDS[ip_kind]
        listener = tcp_listener(fds, ip_kind)
        assert s.sock_name(listener) == trionet.sockaddr(host, port_of(listener))
        client, server = await connected(fds, listener)
        assert s.peer_name(client) == s.sock_name(listener)
        assert s.peer_name(server) == s.sock_name(client)
        assert s.sock_name(server) == s.sock_name(listener)
        client_name = s.sock_name(client)
        assert isinstance(client_name, trionet.SockAddr)
        assert (client_name.addr, client_name.domain) == (host, s.domain(host))

    async def test_unix_names_are_paths(self, fds: Fds, tmp_path: Path) -> None:
        path = str(tmp_path / "names.sock")
        listener = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        s.bind(listener, path)
        s.listen(listener)
        assert s.sock_name(listener) == path
        client = fds.socket(s.AF_UNIX, s.SOCK_STREAM)
        await s.connect(client, path, timeout=5)
        server, remote = await s.accept(listener, timeout=5)
        fds.track(server)
        assert s.peer_name(client) == path
        assert s.sock_name(server) == path
        assert s.sock_name(client) == ""  # unbound: no name
        assert s.peer_name(server) == remote == ""

    def test_peer_name_of_an_unconnected_socket_is_not_connected(
        self, fds: Fds, ip_kind: str
    ) -> None:
        family, host = IP_KINDS[ip_kind]
        unconnected = fds.socket(family, s.SOCK_STREAM)
        listener = tcp_listener(fds, ip_kind)
        datagram = fds.socket(family, s.SOCK_DGRAM)
        s.bind(datagram, (host, 0))
        for fd in (unconnected, listener, datagram):
            with pytest.raises(OSError, match="not connected") as info:
                s.peer_name(fd)
            assert info.value.errno == errno.ENOTCONN

    def test_sock_name_of_an_unbound_socket_is_the_wildcard_with_port_zero(self, fds: Fds) -> None:
        assert s.sock_name(fds.socket(s.AF_INET, s.SOCK_STREAM)) == trionet.sockaddr(
            trionet.INADDR_ANY, 0
        )
        assert s.sock_name(fds.socket(s.AF_INET6, s.SOCK_DGRAM)) == trionet.sockaddr6(
            trionet.IN6ADDR_ANY, 0
        )


class TestClosedAndForeignFds:
    def test_plain_calls_after_close_are_closed_resource_error(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        fds.close(listener)
        calls = [
            lambda: s.bind(listener, ("127.0.0.1", 0)),
            lambda: s.listen(listener),
            lambda: s.is_listen(listener),
            lambda: s.is_eof(listener),
            lambda: s.sock_name(listener),
            lambda: s.peer_name(listener),
            lambda: s.pending(listener),
            lambda: s.shutdown(listener),
            lambda: s.error(listener),
            lambda: s.mports(listener, 1),
            lambda: s.disconnect(listener),
            lambda: s.domain(listener),
        ]
        for call in calls:
            with pytest.raises(trio.ClosedResourceError):
                call()

    def test_close_twice_is_a_no_op(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        fds.close(fd)
        s.close(fd)
        s.close(fd)

    @pytest.mark.parametrize(("fd", "error"), [(-1, ValueError), ("3", TypeError)])
    def test_close_of_a_bad_fd_argument(self, fd: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="fd"):
            s.close(fd)  # type: ignore[arg-type]

    def test_an_fd_that_is_not_a_socket_is_a_value_error_and_stays_open(self) -> None:
        read_end, write_end = os.pipe()
        try:
            with pytest.raises(ValueError, match="not a socket"):
                s.sock_name(read_end)
            os.fstat(read_end)  # still open: the caller's
        finally:
            os.close(read_end)
            os.close(write_end)

    def test_a_foreign_socket_fd_is_adopted(self, fds: Fds) -> None:
        foreign = stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_DGRAM)
        foreign.bind(("127.0.0.1", 0))
        fd = fds.track(foreign.detach())
        assert s.domain(fd) == s.AF_INET
        assert s.sock_name(fd) == trionet.sockaddr("127.0.0.1", foreign_port(fd))
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK


def foreign_port(fd: int) -> int:
    probe = stdsocket.socket(fileno=os.dup(fd))
    try:
        return int(probe.getsockname()[1])
    finally:
        probe.close()
