"""``trionet.tcp.Tcp`` (SPEC section 2) over real loopback and the virtual network.

Each option method is checked against the kernel (a ``getsockopt`` on a
duplicate of the fd, or the virtual socket itself), so a method that
forgets to delegate fails here.
Timing tests run under ``autojump_clock`` and only wait for things that
never arrive (a full listen queue, a peer that never reads).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import socket as stdsocket
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
import trio
import trio.testing
from _fds import Fds, Owned, getsockopt, is_open, open_fds
from _ports import (
    aretry_on_addr_in_use,
    hold_port,
    refusing_on_both_loopbacks,
    retry_on_addr_in_use,
)

import trionet
from trionet import socket as s
from trionet.tcp import Tcp

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True
LOOPBACK_ONLY = {
    "test_another_trio_run_adopts_the_fd_and_echoes": "a second trio run in a thread (a task)",
}

LOOPBACK = ("127.0.0.1", 0)
LOOPBACK6 = ("::1", 0)
MIB = 1024 * 1024


@pytest.fixture
def bind_to_device_allowed() -> None:
    """Skip unless this process may use ``SO_BINDTODEVICE`` (the suite runs as root)."""
    with stdsocket.socket() as probe:
        try:
            probe.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_BINDTODEVICE, b"lo")
        except PermissionError as exc:
            pytest.skip(
                f"SO_BINDTODEVICE refused: {errno.errorcode.get(exc.errno or 0, exc.errno)}"
            )


class Connection:
    """A listener and one connection through it: ``client`` to ``server``."""

    def __init__(self, listener: Tcp, client: Tcp, server: Tcp, remote: trionet.SockAddr) -> None:
        self.listener = listener
        self.client = client
        self.server = server
        self.remote = remote


async def connection(owned: Owned, host: str = "127.0.0.1", backlog: int = 5) -> Connection:
    """A new listener on ``host`` and one connection through it (no timeout, no jump)."""
    listener = owned(Tcp.create_server((host, 0), backlog))
    client = owned(await Tcp.create_client(listener.sock_name()))
    server, remote = await listener.accept()
    return Connection(listener, client, owned(server), remote)


def bound_device(obj: Tcp) -> str:
    raw: bytes = getsockopt(obj, stdsocket.SOL_SOCKET, stdsocket.SO_BINDTODEVICE, 16)
    return raw.split(b"\0", 1)[0].decode()


def listen_backlog(obj: Tcp) -> int:
    # For a listener Linux reports its backlog in tcpi_sacked (tcp_get_info).
    info: bytes = getsockopt(obj, stdsocket.IPPROTO_TCP, stdsocket.TCP_INFO, 104)
    fields = struct.unpack_from("8B6I", info)
    assert fields[0] == 10  # Linux's TCP_LISTEN
    return int(fields[-1])


def port_of(obj: Tcp) -> int:
    local = obj.sock_name()
    assert isinstance(local, trionet.SockAddr)
    return local.port


async def recv_all(tcp: Tcp, limit: int = 64 * MIB) -> bytes:
    """Receive until the end of the stream."""
    received = bytearray()
    while len(received) <= limit:
        chunk = await tcp.recv()
        if not chunk:
            return bytes(received)
        received += chunk
    raise AssertionError("more data than expected")


async def recv_exactly(tcp: Tcp, count: int) -> bytes:
    received = bytearray()
    for _ in range(count + 1):
        if len(received) >= count:
            break
        chunk = await tcp.recv(count - len(received))
        assert chunk, "end of stream before all the data arrived"
        received += chunk
    return bytes(received)


async def echo(tcp: Tcp, _remote: trionet.SockAddr) -> None:
    while data := await tcp.recv():
        await tcp.send_all(data)


class FixedResolver(trio.abc.HostnameResolver):
    """Resolves one made-up name to fixed addresses, in the given order."""

    def __init__(self, name: str, addresses: Sequence[str]) -> None:
        self.name = name
        self.addresses = addresses

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        assert host in (self.name, self.name.encode())
        assert isinstance(port, int)
        infos: list[Any] = []
        for address in self.addresses:
            if ":" in address:
                infos.append(
                    (stdsocket.AF_INET6, stdsocket.SOCK_STREAM, 6, "", (address, port, 0, 0))
                )
            else:
                infos.append((stdsocket.AF_INET, stdsocket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        raise NotImplementedError


# --- create_server -------------------------------------------------------------------------


class TestCreateServer:
    def test_listens_with_reuse_addr_on(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        assert server.get_state() == trionet.TcpState.LISTEN
        assert s.is_listen(server.sock_fd)
        assert getsockopt(server, stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR) == 1
        assert port_of(server) != 0

    def test_backlog_defaults_to_five_and_is_passed_to_listen(self, owned: Owned) -> None:
        assert listen_backlog(owned(Tcp.create_server(LOOPBACK))) == 5
        assert listen_backlog(owned(Tcp.create_server(LOOPBACK, 17))) == 17
        assert listen_backlog(owned(Tcp.create_server(LOOPBACK, backlog=0))) == 0

    def test_accepts_a_sockaddr_and_an_ipv6_address(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(trionet.sockaddr("127.0.0.1", 0)))
        assert server.sock_name().domain == trionet.AF_INET
        server6 = owned(Tcp.create_server(trionet.sockaddr6("::1", 0)))
        assert server6.sock_name().addr == "::1"

    async def test_reuse_addr_lets_a_new_server_take_a_port_in_time_wait(
        self, owned: Owned
    ) -> None:
        conn = await connection(owned)
        address = conn.listener.sock_name()
        # The side that closes first keeps the port in TIME_WAIT.
        conn.server.close()
        assert await conn.client.recv() == b""
        conn.client.close()
        conn.listener.close()
        again = owned(Tcp.create_server(address))
        assert again.sock_name() == address

    def test_a_port_another_server_listens_on_is_address_in_use(self, owned: Owned) -> None:
        first = owned(Tcp.create_server(LOOPBACK))
        before = open_fds()
        with pytest.raises(OSError, match=os.strerror(errno.EADDRINUSE)) as caught:
            Tcp.create_server(first.sock_name())
        assert caught.value.errno == errno.EADDRINUSE
        assert open_fds() == before

    @pytest.mark.usefixtures("bind_to_device_allowed")
    def test_dev_binds_the_listener_to_the_interface(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK, dev="lo"))
        assert bound_device(server) == "lo"
        assert bound_device(owned(Tcp.create_server(LOOPBACK))) == ""

    @pytest.mark.usefixtures("bind_to_device_allowed")
    def test_unknown_dev_is_an_os_error_and_leaks_nothing(self) -> None:
        before = open_fds()
        with pytest.raises(OSError, match=os.strerror(errno.ENODEV)) as caught:
            Tcp.create_server(LOOPBACK, dev="nosuchif0")
        assert caught.value.errno == errno.ENODEV
        assert open_fds() == before

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"addr": ("localhost", 0)}, ValueError),
            ({"addr": ("127.0.0.1", 70000)}, ValueError),
            ({"addr": ("127.0.0.1", True)}, TypeError),
            ({"addr": 8080}, TypeError),
            ({"addr": LOOPBACK, "backlog": -1}, ValueError),
            ({"addr": LOOPBACK, "backlog": 65536}, ValueError),
            ({"addr": LOOPBACK, "backlog": "5"}, TypeError),
            ({"addr": LOOPBACK, "backlog": True}, TypeError),
            ({"addr": LOOPBACK, "dev": 3}, TypeError),
        ],
        ids=[
            "host-name",
            "port-too-big",
            "bool-port",
            "int-addr",
            "negative-backlog",
            "backlog-too-big",
            "str-backlog",
            "bool-backlog",
            "int-dev",
        ],
    )
    def test_bad_arguments_raise_before_any_fd_is_opened(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        before = open_fds()
        with pytest.raises(error):
            Tcp.create_server(**kwargs)
        assert open_fds() == before


# --- create_client -------------------------------------------------------------------------


class TestCreateClient:
    async def test_connects_to_a_sockaddr(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        target = trionet.sockaddr("127.0.0.1", port_of(server))
        client = owned(await Tcp.create_client(target))
        accepted, remote = await server.accept()
        owned(accepted)
        assert client.peer_name() == target
        assert remote == client.sock_name()
        assert client.get_state() == trionet.TcpState.ESTABLISHED

    async def test_connects_to_a_numeric_tuple(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        client = owned(await Tcp.create_client(("127.0.0.1", port_of(server))))
        assert client.peer_name() == server.sock_name()

    async def test_resolves_localhost_through_trio(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        client = owned(await Tcp.create_client(("localhost", port_of(server)), timeout=10))
        assert client.peer_name() == server.sock_name()
        owned((await server.accept())[0])

    async def test_connects_over_ipv6(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK6))
        client = owned(await Tcp.create_client(("::1", port_of(server))))
        assert client.peer_name() == trionet.sockaddr6("::1", port_of(server))
        assert client.sock_name().domain == trionet.AF_INET6

    async def test_local_addr_is_the_connections_local_address(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(("0.0.0.0", 0)))
        client = owned(
            await Tcp.create_client(("127.0.0.1", port_of(server)), local_addr=("127.0.0.2", 0))
        )
        local = client.sock_name()
        assert isinstance(local, trionet.SockAddr)
        assert local.addr == "127.0.0.2"
        accepted, remote = await server.accept()
        owned(accepted)
        assert remote == local
        assert accepted.peer_name() == local

    async def test_local_addr_with_a_fixed_port(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))

        async def connect_from_a_fixed_port() -> tuple[Tcp, trionet.SockAddr]:
            # Reserve a free port, then give it back for the client to bind;
            # if someone takes it in between, the bind's EADDRINUSE retries.
            reserved = Tcp.create_server(("127.0.0.3", 0))
            local = reserved.sock_name()
            reserved.close()
            return await Tcp.create_client(server.sock_name(), local_addr=local), local

        client, local = await aretry_on_addr_in_use(connect_from_a_fixed_port)
        assert owned(client).sock_name() == local

    async def test_local_addr_of_another_family_is_a_value_error(self) -> None:
        before = open_fds()
        with pytest.raises(ValueError, match="local_addr"):
            await Tcp.create_client(("127.0.0.1", 9), local_addr=("::1", 0))
        assert open_fds() == before

    @pytest.mark.usefixtures("bind_to_device_allowed")
    async def test_dev_binds_the_connection_to_the_interface(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        client = owned(await Tcp.create_client(server.sock_name(), dev="lo"))
        assert bound_device(client) == "lo"
        assert client.get_state() == trionet.TcpState.ESTABLISHED

    async def test_each_resolved_address_is_tried_in_turn(self, owned: Owned) -> None:
        with contextlib.ExitStack() as held:

            def listen_refusing_on_ipv6() -> Tcp:
                server = owned(Tcp.create_server(LOOPBACK))
                # A bound socket holds ::1 at that port: the first address refuses.
                held.enter_context(hold_port(port_of(server), stdsocket.AF_INET6))
                return server

            server = retry_on_addr_in_use(listen_refusing_on_ipv6)
            port = port_of(server)
            with pytest.raises(ConnectionRefusedError):
                owned(await Tcp.create_client(("::1", port)))
            trio.socket.set_custom_hostname_resolver(
                FixedResolver("two.example", ["::1", "127.0.0.1"])
            )
            client = owned(await Tcp.create_client(("two.example", port), timeout=10))
            assert client.peer_name() == server.sock_name()
            assert client.sock_name().domain == trionet.AF_INET

    async def test_when_every_address_refuses_the_error_is_raised(self) -> None:
        # Bound sockets that do not listen hold the port on both and refuse.
        with refusing_on_both_loopbacks() as port:
            trio.socket.set_custom_hostname_resolver(
                FixedResolver("none.example", ["127.0.0.1", "::1"])
            )
            with pytest.raises(ConnectionRefusedError):
                await Tcp.create_client(("none.example", port), timeout=10)
            # The first call also opened the run's readiness layer; the second opens nothing.
            before = open_fds()
            with pytest.raises(ConnectionRefusedError):
                await Tcp.create_client(("none.example", port), timeout=10)
            assert open_fds() == before

    async def test_refused_connection_raises_and_leaks_nothing(self, fds: Fds) -> None:
        bound = fds.socket(s.AF_INET, s.SOCK_STREAM)
        s.bind(bound, LOOPBACK)
        for _ in range(2):
            # The first call also opens the run's readiness layer (an epoll fd).
            before = open_fds()
            with pytest.raises(ConnectionRefusedError) as caught:
                await Tcp.create_client(s.sock_name(bound))
            assert caught.value.errno == errno.ECONNREFUSED
        assert open_fds() == before

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"addr": ("127.0.0.1", True)}, TypeError),
            ({"addr": ("localhost", -1)}, ValueError),
            ({"addr": ("localhost", "80")}, TypeError),
            ({"addr": 80}, TypeError),
            ({"addr": ("127.0.0.1", 80), "timeout": -1}, ValueError),
            ({"addr": ("127.0.0.1", 80), "timeout": "1"}, TypeError),
            ({"addr": ("127.0.0.1", 80), "local_addr": ("localhost", 0)}, ValueError),
        ],
        ids=[
            "bool-port",
            "negative-port",
            "str-port",
            "int-addr",
            "negative-timeout",
            "str-timeout",
            "host-name-local-addr",
        ],
    )
    async def test_bad_arguments_raise_before_any_fd_is_opened(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        before = open_fds()
        with pytest.raises(error):
            await Tcp.create_client(**kwargs)
        assert open_fds() == before

    @pytest.mark.parametrize(("dev", "error"), [(3, TypeError), ("", ValueError)])
    async def test_bad_dev_is_refused_before_resolving(
        self, dev: object, error: type[Exception]
    ) -> None:
        class NoResolving(FixedResolver):
            async def getaddrinfo(self, *args: Any, **kwargs: Any) -> list[Any]:
                raise AssertionError("resolved a name despite a bad argument")

        trio.socket.set_custom_hostname_resolver(NoResolving("", []))
        with pytest.raises(error, match="dev"):
            await Tcp.create_client(("some.example", 80), dev=dev)  # type: ignore[arg-type]


class TestCreateClientTimeout:
    @staticmethod
    async def full_listener(owned: Owned, fds: Fds, host: str = "127.0.0.1") -> int:
        """A listener with backlog 0 whose queue is full: new SYNs are dropped."""
        listener = owned(Tcp.create_server((host, 0), backlog=0))
        address = listener.sock_name()
        for _ in range(8):
            client = fds.socket(s.domain(host), s.SOCK_STREAM)
            try:
                await s.connect(client, address, timeout=2)
            except trionet.Timeout:
                if s.get_tcp_state(client) == trionet.TcpState.SYN_SENT:
                    return port_of(listener)
        raise AssertionError("no connect stayed in SYN_SENT with the backlog full")

    async def test_times_out_when_the_listeners_queue_is_full(
        self, owned: Owned, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        port = await self.full_listener(owned, fds)
        before = open_fds()
        start = trio.current_time()
        with pytest.raises(trionet.Timeout) as caught:
            await Tcp.create_client(("127.0.0.1", port), timeout=3)
        assert trio.current_time() - start == pytest.approx(3)
        assert caught.value.bytes_sent == 0
        assert isinstance(caught.value, TimeoutError)
        assert open_fds() == before

    async def test_one_timeout_covers_every_resolved_address(
        self, owned: Owned, fds: Fds, autojump_clock: trio.testing.MockClock
    ) -> None:
        async def listen_full_and_on_ipv6() -> int:
            port = await self.full_listener(owned, fds)
            # ::1 accepts on the same port, but the hung first address uses up the time.
            owned(Tcp.create_server(("::1", port)))
            return port

        port = await aretry_on_addr_in_use(listen_full_and_on_ipv6)
        trio.socket.set_custom_hostname_resolver(
            FixedResolver("slow.example", ["127.0.0.1", "::1"])
        )
        before = open_fds()
        start = trio.current_time()
        with pytest.raises(trionet.Timeout):
            await Tcp.create_client(("slow.example", port), timeout=3)
        assert trio.current_time() - start == pytest.approx(3)
        assert open_fds() == before


# --- create_by_fd --------------------------------------------------------------------------


class TestCreateByFd:
    async def test_adopts_a_tcp_fd(self, owned: Owned, fds: Fds) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        await s.connect(fd, listener.sock_name())
        fds.give_away(fd)
        client = owned(Tcp.create_by_fd(fd))
        assert client.sock_fd == fd
        server = owned((await listener.accept())[0])
        await client.send_all(b"adopted")
        assert await recv_exactly(server, 7) == b"adopted"
        client.close()
        assert not is_open(fd)

    def test_adopts_a_foreign_tcp_socket(self, owned: Owned) -> None:
        foreign = stdsocket.socket(stdsocket.AF_INET6, stdsocket.SOCK_STREAM)
        tcp = owned(Tcp.create_by_fd(foreign.detach()))
        assert tcp.sock_name().domain == trionet.AF_INET6
        assert tcp.get_state() == trionet.TcpState.CLOSED

    def test_rejects_a_udp_fd_and_leaves_it_open(self, fds: Fds) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        with pytest.raises(ValueError, match="not a TCP socket"):
            Tcp.create_by_fd(fd)
        s.bind(fd, LOOPBACK)
        assert s.sock_name(fd).port != 0  # type: ignore[union-attr]

    def test_rejects_a_unix_socket_and_leaves_it_as_it_was(self) -> None:
        unix = stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
        number = unix.fileno()
        try:
            with pytest.raises(ValueError, match="not a TCP socket"):
                Tcp.create_by_fd(number)
            assert unix.getblocking()
            assert is_open(number)
        finally:
            unix.close()
        # The rejected number must not be remembered: a new socket that gets
        # it again is left alone (a stale entry would close it).
        fd = s.socket(s.AF_INET, s.SOCK_STREAM)
        try:
            gc.collect()
            assert s.get_tcp_state(fd) == trionet.TcpState.CLOSED
            assert is_open(fd)
        finally:
            s.close(fd)

    def test_rejects_a_pipe_and_leaves_it_open(self) -> None:
        read_end, write_end = os.pipe()
        try:
            with pytest.raises(ValueError, match="not a socket"):
                Tcp.create_by_fd(read_end)
            os.write(write_end, b"x")
            assert os.read(read_end, 1) == b"x"
        finally:
            os.close(read_end)
            os.close(write_end)

    def test_bad_fds(self) -> None:
        with pytest.raises(TypeError):
            Tcp.create_by_fd("3")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Tcp.create_by_fd(True)
        with pytest.raises(ValueError, match="fd"):
            Tcp.create_by_fd(-1)
        read_end, write_end = os.pipe()
        os.close(read_end)
        os.close(write_end)
        with pytest.raises(trio.ClosedResourceError):
            Tcp.create_by_fd(read_end)


# --- accept and serve ----------------------------------------------------------------------


class TestAccept:
    async def test_accept_times_out_then_accepts(
        self, owned: Owned, autojump_clock: trio.testing.MockClock
    ) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        start = trio.current_time()
        with pytest.raises(trionet.Timeout) as caught:
            await listener.accept(timeout=2)
        assert trio.current_time() - start == pytest.approx(2)
        assert caught.value.bytes_sent == 0
        client = owned(await Tcp.create_client(listener.sock_name()))
        await trio.lowlevel.wait_readable(listener.sock_fd)
        server, remote = await listener.accept(timeout=0)
        owned(server)
        assert isinstance(server, Tcp)
        assert remote == client.sock_name()
        assert server.peer_name() == client.sock_name()

    async def test_accept_on_a_connection_is_an_os_error(self, owned: Owned) -> None:
        conn = await connection(owned)
        with pytest.raises(OSError, match=os.strerror(errno.EINVAL)) as caught:
            await conn.client.accept()
        assert caught.value.errno == errno.EINVAL


class TestServe:
    async def test_echoes_a_hundred_clients_at_once(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK, backlog=128))
        address = listener.sock_name()
        replies: dict[int, bytes] = {}

        async def client(index: int) -> None:
            async with await Tcp.create_client(address) as tcp:
                message = f"client {index} ".encode() * (index + 1)
                await tcp.send_all(message)
                tcp.shutdown("w")
                replies[index] = await recv_all(tcp)

        async with trio.open_nursery() as nursery:
            await nursery.start(listener.serve, echo)
            async with trio.open_nursery() as clients:
                for index in range(100):
                    clients.start_soon(client, index)
            nursery.cancel_scope.cancel()
        assert replies == {i: f"client {i} ".encode() * (i + 1) for i in range(100)}

    async def test_connection_is_closed_when_the_handler_returns(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        seen: list[trionet.SockAddr] = []

        async def greet(tcp: Tcp, remote: trionet.SockAddr) -> None:
            seen.append(remote)
            await tcp.send_all(b"bye")

        async with trio.open_nursery() as nursery:
            await nursery.start(listener.serve, greet)
            client = owned(await Tcp.create_client(listener.sock_name()))
            assert await recv_all(client) == b"bye"
            assert client.is_eof()
            nursery.cancel_scope.cancel()
        assert seen == [client.sock_name()]

    async def test_started_means_serving(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        handled = trio.Event()

        async def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            handled.set()

        async with trio.open_nursery() as nursery:
            assert await nursery.start(listener.serve, handler) is None
            owned(await Tcp.create_client(listener.sock_name()))
            await handled.wait()
            nursery.cancel_scope.cancel()

    async def test_handler_exception_comes_out_of_serve_bare(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        failure = LookupError("the handler failed")
        waiting: list[Tcp] = []
        first_in = trio.Event()

        async def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            if not waiting:
                waiting.append(tcp)
                first_in.set()
                await trio.sleep_forever()
            raise failure

        async def two_clients() -> None:
            owned(await Tcp.create_client(listener.sock_name()))
            await first_in.wait()
            owned(await Tcp.create_client(listener.sock_name()))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(two_clients)
            with pytest.raises(LookupError) as caught:
                await listener.serve(handler)
        assert caught.value is failure
        assert type(caught.value) is LookupError
        # The other handler was cancelled and its connection closed.
        assert waiting[0].closed
        assert not listener.closed

    async def test_a_flown_away_connection_stays_open(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        taken: list[int] = []
        done = trio.Event()

        async def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            taken.append(tcp.fly_away())
            done.set()

        async with trio.open_nursery() as nursery:
            await nursery.start(listener.serve, handler)
            client = owned(await Tcp.create_client(listener.sock_name()))
            await done.wait()
            nursery.cancel_scope.cancel()
        server = owned(Tcp.create_by_fd(taken[0]))
        assert server.peer_name() == client.sock_name()
        await server.send_all(b"still open")
        assert await recv_exactly(client, 10) == b"still open"

    async def test_closing_the_listener_stops_serve_with_closed_resource_error(
        self, owned: Owned
    ) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))

        async def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            raise AssertionError("no connection expected")

        async with trio.open_nursery() as nursery:

            async def close_soon() -> None:
                await trio.testing.wait_all_tasks_blocked()
                listener.close()

            nursery.start_soon(close_soon)
            with pytest.raises(trio.ClosedResourceError):
                await listener.serve(handler)


# --- sending and receiving -----------------------------------------------------------------


class TestSendRecv:
    async def test_send_returns_the_bytes_taken(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert await conn.client.send(b"hello") == 5
        assert await conn.client.send("héllo") == 6
        assert await conn.client.send([b"ab", bytearray(b"cd"), memoryview(b"ef")]) == 6
        assert await recv_exactly(conn.server, 17) == "hellohéllo".encode() + b"abcdef"

    async def test_send_all_of_four_mib_while_the_peer_reads(self, owned: Owned) -> None:
        conn = await connection(owned)
        payload = os.urandom(4 * MIB)
        received: list[bytes] = []

        async def read() -> None:
            received.append(await recv_all(conn.server))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await conn.client.send_all(payload, timeout=60)
            conn.client.shutdown("w")
        assert received[0] == payload

    async def test_send_all_of_a_list_and_a_str(self, owned: Owned) -> None:
        conn = await connection(owned)
        await conn.client.send_all([b"one ", bytearray(b"two ")])
        await conn.client.send_all("three")
        conn.client.shutdown("w")
        assert await recv_all(conn.server) == b"one two three"

    async def test_send_all_timeout_reports_exactly_what_the_peer_receives(
        self, owned: Owned, autojump_clock: trio.testing.MockClock
    ) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        listener.set_recv_buffer_size(4096)
        client = owned(Tcp.create_by_fd(s.socket(s.AF_INET, s.SOCK_STREAM)))
        client.set_send_buffer_size(4096)
        await s.connect(client.sock_fd, listener.sock_name())
        server = owned((await listener.accept())[0])
        payload = b"x" * (4 * MIB)
        start = trio.current_time()
        with pytest.raises(trionet.Timeout) as caught:
            await client.send_all(payload, timeout=1.5)
        assert trio.current_time() - start == pytest.approx(1.5)
        sent = caught.value.bytes_sent
        assert 0 < sent < len(payload)
        client.shutdown("w")
        assert len(await recv_all(server)) == sent

    async def test_send_all_of_bad_data_is_a_type_error(self, owned: Owned) -> None:
        conn = await connection(owned)
        with pytest.raises(TypeError):
            await conn.client.send_all(12)
        with pytest.raises(ValueError, match="timeout"):
            await conn.client.send_all(b"x", timeout=-1)

    async def test_sendto_ignores_the_address(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert await conn.client.sendto(("10.9.8.7", 1), b"to the peer") == 11
        assert await conn.client.sendto(None, b"!") == 1
        assert await recv_exactly(conn.server, 12) == b"to the peer!"

    async def test_recv_recv_into_and_recvfrom(self, owned: Owned) -> None:
        conn = await connection(owned)
        await conn.client.send_all(b"abcdef")
        assert await recv_exactly(conn.server, 2) == b"ab"
        buffer = bytearray(8)
        count = 0
        for _ in range(3):
            count += await conn.server.recv_into(buffer, 2 + count, 2 - count)
            if count == 2:
                break
        assert buffer == b"\0\0cd\0\0\0\0"
        data, remote = await conn.server.recvfrom(2)
        assert remote == conn.client.sock_name()
        assert data in (b"e", b"ef")
        conn.client.close()
        assert await recv_all(conn.server) == b"ef"[len(data) :]
        assert conn.server.is_eof()
        assert await conn.server.recv_into(buffer) == 0

    async def test_recv_times_out_without_data(
        self, owned: Owned, autojump_clock: trio.testing.MockClock
    ) -> None:
        conn = await connection(owned)
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: conn.server.recv(timeout=1),
            lambda: conn.server.recv_into(bytearray(4), timeout=1),
            lambda: conn.server.recvfrom(timeout=1),
        ]
        for call in calls:
            start = trio.current_time()
            with pytest.raises(trionet.Timeout):
                await call()
            assert trio.current_time() - start == pytest.approx(1)


# --- options -------------------------------------------------------------------------------


class TestOptions:
    async def test_pending_counts_queued_bytes(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert conn.server.pending() == 0
        await conn.client.send_all(b"12345")
        await trio.lowlevel.wait_readable(conn.server.sock_fd)
        assert conn.server.pending() == 5

    async def test_shutdown_write_sends_end_of_stream(self, owned: Owned) -> None:
        conn = await connection(owned)
        conn.client.shutdown("w")
        assert await conn.server.recv() == b""
        assert conn.server.is_eof()
        assert conn.server.get_state() == trionet.TcpState.CLOSE_WAIT
        await conn.server.send_all(b"other way")
        assert await recv_exactly(conn.client, 9) == b"other way"
        assert not conn.client.is_eof()
        with pytest.raises(ValueError, match="how"):
            conn.client.shutdown("x")

    async def test_mports_listens_on_the_next_ports(self, owned: Owned) -> None:
        for _ in range(10):
            listener = owned(Tcp.create_server(LOOPBACK))
            try:
                listener.mports(1)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                listener.close()
                continue
            break
        else:
            raise AssertionError("no free pair of consecutive ports")
        client = owned(await Tcp.create_client(("127.0.0.1", port_of(listener) + 1)))
        server, remote = await listener.accept()
        owned(server)
        assert remote == client.sock_name()
        assert port_of(server) == port_of(listener) + 1

    async def test_is_eof_follows_the_last_receive(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert not conn.server.is_eof()
        conn.client.close()
        assert await conn.server.recv() == b""
        assert conn.server.is_eof()

    async def test_keep_alive_no_delay_linger_ttl_reuse_addr(self, owned: Owned) -> None:
        conn = await connection(owned)
        tcp = conn.client
        tcp.set_keep_alive(True, 5, 2, 4)
        assert getsockopt(tcp, stdsocket.SOL_SOCKET, stdsocket.SO_KEEPALIVE) == 1
        assert getsockopt(tcp, stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPIDLE) == 5
        assert getsockopt(tcp, stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPINTVL) == 2
        assert getsockopt(tcp, stdsocket.IPPROTO_TCP, stdsocket.TCP_KEEPCNT) == 4
        tcp.set_keep_alive(False)
        assert getsockopt(tcp, stdsocket.SOL_SOCKET, stdsocket.SO_KEEPALIVE) == 0
        tcp.set_no_delay(True)
        assert getsockopt(tcp, stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY) == 1
        tcp.set_no_delay(False)
        assert getsockopt(tcp, stdsocket.IPPROTO_TCP, stdsocket.TCP_NODELAY) == 0
        tcp.set_linger(True, 3)
        linger = getsockopt(tcp, stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, 8)
        assert struct.unpack("ii", linger) == (1, 3)
        tcp.set_ttl(17)
        assert getsockopt(tcp, stdsocket.IPPROTO_IP, stdsocket.IP_TTL) == 17
        with pytest.raises(ValueError, match="ttl"):
            tcp.set_ttl(0)
        tcp.set_reuse_addr(True)
        assert getsockopt(tcp, stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR) == 1
        tcp.set_reuse_addr(False)
        assert getsockopt(tcp, stdsocket.SOL_SOCKET, stdsocket.SO_REUSEADDR) == 0

    def test_set_ipv6_only_on_an_ipv6_socket(self, owned: Owned) -> None:
        tcp = owned(Tcp.create_by_fd(s.socket(s.AF_INET6, s.SOCK_STREAM)))
        tcp.set_ipv6_only(True)
        assert getsockopt(tcp, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY) == 1
        tcp.set_ipv6_only(False)
        assert getsockopt(tcp, stdsocket.IPPROTO_IPV6, stdsocket.IPV6_V6ONLY) == 0
        ipv4 = owned(Tcp.create_server(LOOPBACK))
        with pytest.raises(ValueError, match="IPv6"):
            ipv4.set_ipv6_only(True)

    async def test_get_state_follows_the_connection(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert conn.listener.get_state() == trionet.TcpState.LISTEN
        assert conn.client.get_state() == trionet.TcpState.ESTABLISHED
        conn.server.close()
        assert await conn.client.recv() == b""
        assert conn.client.get_state() == trionet.TcpState.CLOSE_WAIT
        fresh = owned(Tcp.create_by_fd(s.socket(s.AF_INET, s.SOCK_STREAM)))
        assert fresh.get_state() == trionet.TcpState.CLOSED

    async def test_buffer_sizes_read_and_write_the_kernel_values(self, owned: Owned) -> None:
        conn = await connection(owned)
        tcp = conn.client
        assert tcp.get_recv_buffer_size() == getsockopt(
            tcp, stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF
        )
        assert tcp.get_send_buffer_size() == getsockopt(
            tcp, stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF
        )
        tcp.set_recv_buffer_size(32768)
        tcp.set_send_buffer_size(16384)
        # Linux doubles the value it is given, for its bookkeeping.
        assert tcp.get_recv_buffer_size() == 65536
        assert tcp.get_send_buffer_size() == 32768
        assert getsockopt(tcp, stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF) == 65536
        with pytest.raises(ValueError, match="size"):
            tcp.set_recv_buffer_size(100)
        with pytest.raises(ValueError, match="size"):
            tcp.set_send_buffer_size(17 * MIB)

    async def test_error_reports_and_clears_a_reset(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert conn.client.error() == 0
        conn.server.set_linger(True, 0)
        conn.server.close()  # linger 0: the close sends a reset
        await trio.lowlevel.wait_readable(conn.client.sock_fd)
        assert conn.client.error() == errno.ECONNRESET
        assert conn.client.error() == 0

    async def test_sock_name_and_peer_name_mirror_each_other(self, owned: Owned) -> None:
        conn = await connection(owned)
        assert conn.client.sock_name() == conn.server.peer_name() == conn.remote
        assert conn.client.peer_name() == conn.server.sock_name() == conn.listener.sock_name()
        with pytest.raises(OSError, match=os.strerror(errno.ENOTCONN)) as caught:
            conn.listener.peer_name()
        assert caught.value.errno == errno.ENOTCONN

    @pytest.mark.usefixtures("bind_to_device_allowed")
    async def test_bind_to_device_and_back(self, owned: Owned) -> None:
        conn = await connection(owned)
        conn.client.bind_to_device("lo")
        assert bound_device(conn.client) == "lo"
        conn.client.bind_to_device(None)
        assert bound_device(conn.client) == ""
        conn.client.bind_to_device("lo")
        conn.client.bind_to_device()
        assert bound_device(conn.client) == ""


# --- closing, handing away, garbage collection ---------------------------------------------

SYNC_CALLS: dict[str, tuple[Any, ...]] = {
    "pending": (),
    "shutdown": (),
    "mports": (1,),
    "error": (),
    "is_eof": (),
    "sock_name": (),
    "peer_name": (),
    "bind_to_device": ("lo",),
    "set_keep_alive": (True, 5),
    "set_no_delay": (True,),
    "set_linger": (True, 1),
    "set_ttl": (64,),
    "set_reuse_addr": (True,),
    "set_ipv6_only": (True,),
    "get_state": (),
    "get_recv_buffer_size": (),
    "get_send_buffer_size": (),
    "set_recv_buffer_size": (4096,),
    "set_send_buffer_size": (4096,),
    "fly_away": (),
}

ASYNC_CALLS: dict[str, tuple[Any, ...]] = {
    "accept": (),
    "serve": (echo,),
    "send": (b"x",),
    "send_all": (b"x",),
    "sendto": (None, b"x"),
    "recv": (),
    "recv_into": (bytearray(4),),
    "recvfrom": (),
}


class TestClose:
    @pytest.mark.parametrize("name", list(SYNC_CALLS))
    def test_every_method_after_close_is_closed_resource_error(self, name: str) -> None:
        tcp = Tcp.create_server(LOOPBACK)
        tcp.close()
        with pytest.raises(trio.ClosedResourceError):
            getattr(tcp, name)(*SYNC_CALLS[name])

    @pytest.mark.parametrize("name", list(ASYNC_CALLS))
    async def test_every_async_method_after_close_is_closed_resource_error(
        self, owned: Owned, name: str
    ) -> None:
        conn = await connection(owned)
        conn.client.close()
        with pytest.raises(trio.ClosedResourceError):
            await getattr(conn.client, name)(*ASYNC_CALLS[name])

    def test_close_twice_is_a_no_op(self) -> None:
        tcp = Tcp.create_server(LOOPBACK)
        fd = tcp.sock_fd
        assert fd >= 0
        assert not tcp.closed
        tcp.close()
        assert tcp.sock_fd == -1
        assert tcp.closed
        assert not is_open(fd)
        tcp.close()
        assert tcp.sock_fd == -1
        assert "closed" in repr(tcp)

    async def test_close_from_another_task_wakes_a_blocked_recv(self, owned: Owned) -> None:
        conn = await connection(owned)
        async with trio.open_nursery() as nursery:

            async def close_soon() -> None:
                await trio.testing.wait_all_tasks_blocked()
                conn.server.close()

            nursery.start_soon(close_soon)
            with pytest.raises(trio.ClosedResourceError):
                await conn.server.recv()

    async def test_async_with_closes(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        async with await Tcp.create_client(listener.sock_name()) as client:
            fd = client.sock_fd
            assert is_open(fd)
        assert client.closed
        assert not is_open(fd)
        with pytest.raises(KeyError):
            async with Tcp.create_server(LOOPBACK) as server:
                raise KeyError("inside")
        assert server.closed


class TestFlyAway:
    async def test_fly_away_hands_over_a_working_fd(self, owned: Owned) -> None:
        conn = await connection(owned)
        fd = conn.server.fly_away()
        assert conn.server.sock_fd == -1
        assert conn.server.closed
        assert is_open(fd)
        conn.server.close()  # no-op: the object no longer owns the fd
        assert is_open(fd)
        with pytest.raises(trio.ClosedResourceError):
            conn.server.fly_away()
        adopted = owned(Tcp.create_by_fd(fd))
        await conn.client.send_all(b"ping")
        assert await recv_exactly(adopted, 4) == b"ping"
        await adopted.send_all(b"pong")
        assert await recv_exactly(conn.client, 4) == b"pong"

    async def test_fly_away_wakes_a_waiting_recv(self, owned: Owned) -> None:
        conn = await connection(owned)
        taken: list[int] = []
        async with trio.open_nursery() as nursery:

            async def hand_away() -> None:
                await trio.testing.wait_all_tasks_blocked()
                taken.append(conn.server.fly_away())

            nursery.start_soon(hand_away)
            with pytest.raises(trio.ClosedResourceError):
                await conn.server.recv()
        owned(Tcp.create_by_fd(taken[0]))

    async def test_another_trio_run_adopts_the_fd_and_echoes(self, owned: Owned) -> None:
        conn = await connection(owned)
        fd = conn.server.fly_away()

        async def adopt_and_echo(fd: int) -> int:
            echoed = 0
            async with Tcp.create_by_fd(fd) as tcp:
                while data := await tcp.recv():
                    await tcp.send_all(data)
                    echoed += len(data)
            return echoed

        results: list[int] = []

        async def in_thread() -> None:
            results.append(await trio.to_thread.run_sync(trio.run, adopt_and_echo, fd))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(in_thread)
            await conn.client.send_all(b"across runs")
            assert await recv_exactly(conn.client, 11) == b"across runs"
            conn.client.shutdown("w")
            assert await recv_all(conn.client) == b""
        assert results == [11]
        assert not is_open(fd)


class TestGarbageCollection:
    def test_an_unclosed_tcp_warns_and_closes_its_fd(self) -> None:
        tcp = Tcp.create_server(LOOPBACK)
        fd = tcp.sock_fd
        with pytest.warns(ResourceWarning, match=f"fd {fd} was never closed"):  # noqa: PT031
            del tcp
            gc.collect()
        assert not is_open(fd)

    async def test_an_unclosed_connection_inside_a_run_warns_and_closes(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        client = await Tcp.create_client(listener.sock_name())
        fd = client.sock_fd
        server = owned((await listener.accept())[0])
        with pytest.warns(ResourceWarning, match="never closed"):  # noqa: PT031
            del client
            gc.collect()
        assert not is_open(fd)
        assert await server.recv() == b""

    def test_closed_or_flown_away_objects_do_not_warn(self) -> None:
        closed = Tcp.create_server(LOOPBACK)
        closed.close()
        flown = Tcp.create_server(LOOPBACK)
        fd = flown.fly_away()
        try:
            del closed, flown
            gc.collect()  # filterwarnings = error: a warning here fails the test
            assert is_open(fd)
        finally:
            s.close(fd)


class TestSendAllFastPath:
    """A ``send_all`` of bytes with no timeout tries once before it builds any Call."""

    async def test_bytes_that_fit_go_without_a_call(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from trionet._core import _prepare

        def no_call(*args: object) -> None:
            raise AssertionError("send_all built a Call")

        client, server = await _tcp_pair()
        async with client, server:
            monkeypatch.setattr(_prepare, "send_checked", no_call)
            await client.send_all(b"whole")
            assert await recv_exactly(server, 5) == b"whole"

    async def test_bytes_that_do_not_fit_are_all_sent_after_the_first_try(self) -> None:
        client, server = await _tcp_pair()
        data = os.urandom(8 * 1024 * 1024)  # more than loopback's buffers take at once
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(client.send_all, data)
            assert await recv_exactly(server, len(data)) == data


async def _tcp_pair() -> tuple[Tcp, Tcp]:
    listener = Tcp.create_server(("127.0.0.1", 0))
    try:
        client = await Tcp.create_client(listener.sock_name())
        server, _ = await listener.accept()
    finally:
        listener.close()
    return client, server
