"""``trionet.compat.tcp.Tcp`` (SPEC sections 2 and 5) over real loopback connections.

The constructors and options are the async ``Tcp``'s code (``TcpBase``),
whose effects on the kernel ``test_tcp.py`` checks; here each is called on
the sync class, and every blocking call, timeout and callback form is
exercised. Timeouts are real and short (0.05-0.2 s), with generous bounds.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import socket as stdsocket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio
from _compat import iosched_left_clean
from _compat_net import Worker
from _fds import Fds, Owned, is_open, open_fds
from _ports import hold_port, quiet_port, refusing_on_both_loopbacks, retry_on_addr_in_use
from trionet.compat import iosched
from trionet.compat import socket as csocket
from trionet.compat.tcp import Tcp

import trionet
from trionet import socket as s
from trionet import tcp as async_tcp

LOOPBACK = ("127.0.0.1", 0)
LOOPBACK6 = ("::1", 0)
MIB = 1024 * 1024
SHORT = 0.1
SLACK = 2.0  # a generous upper bound on how late a short timeout may fire


@pytest.fixture(autouse=True)
def _iosched_clean() -> Iterator[None]:
    yield from iosched_left_clean()


class Connection:
    """A listener and one connection through it: ``client`` to ``server``."""

    def __init__(self, owned: Owned, host: str = "127.0.0.1") -> None:
        self.listener = owned(Tcp.create_server((host, 0)))
        self.client = owned(Tcp.create_client(self.listener.sock_name(), timeout=5))
        server, self.remote = self.listener.accept(timeout=5)
        self.server = owned(server)


def port_of(obj: Tcp) -> int:
    return obj.sock_name().port


def recv_exactly(tcp: Tcp, count: int) -> bytes:
    received = bytearray()
    for _ in range(count + 1):
        if len(received) >= count:
            break
        chunk = tcp.recv(count - len(received), timeout=5)
        assert chunk, "end of stream before all the data arrived"
        received += chunk
    return bytes(received)


def recv_all(tcp: Tcp, limit: int = 64 * MIB) -> bytes:
    received = bytearray()
    while len(received) <= limit:
        chunk = tcp.recv(timeout=10)
        if not chunk:
            return bytes(received)
        received += chunk
    raise AssertionError("more data than expected")


def listener_with_mports(owned: Owned, host: str, count: int) -> Tcp:
    """A listener on ``host`` that also listens on the ``count`` ports after its own."""

    def attempt() -> Tcp:
        listener = owned(Tcp.create_server((host, quiet_port(count + 1))))
        try:
            listener.mports(count)
        except OSError:
            listener.close()
            raise
        return listener

    return retry_on_addr_in_use(attempt)


def full_listener(owned: Owned, fds: Fds, host: str = "127.0.0.1") -> Tcp:
    """A listener with backlog 0 whose queue is full: new SYNs are dropped."""
    listener = owned(Tcp.create_server((host, 0), backlog=0))
    for _ in range(8):
        client = fds.socket(s.domain(host), s.SOCK_STREAM)
        try:
            csocket.connect(client, listener.sock_name(), timeout=SHORT)
        except trionet.Timeout:
            if s.get_tcp_state(client) == trionet.TcpState.SYN_SENT:
                return listener
    raise AssertionError("no connect stayed in SYN_SENT with the backlog full")


class Timed:
    """Measures how long its block took, on the monotonic clock."""

    def __enter__(self) -> Timed:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.took = time.monotonic() - self.start


def fixed_getaddrinfo(name: str, addresses: list[str]) -> Callable[..., list[Any]]:
    """A stand-in for the stdlib's ``getaddrinfo`` resolving ``name`` to ``addresses``."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == name
        infos: list[Any] = []
        for address in addresses:
            family = stdsocket.AF_INET6 if ":" in address else stdsocket.AF_INET
            infos.append((family, stdsocket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    return getaddrinfo


# --- create_server / create_by_fd ----------------------------------------------------------


class TestCreate:
    def test_create_server_listens_with_reuse_addr(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        assert type(server) is Tcp
        assert s.is_listen(server.sock_fd)
        assert server.get_state() == trionet.TcpState.LISTEN
        assert port_of(server) != 0

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"addr": ("localhost", 0)}, ValueError),
            ({"addr": ("127.0.0.1", True)}, TypeError),
            ({"addr": LOOPBACK, "backlog": -1}, ValueError),
            ({"addr": LOOPBACK, "dev": 3}, TypeError),
        ],
        ids=["host-name", "bool-port", "negative-backlog", "int-dev"],
    )
    def test_bad_server_arguments_raise_before_any_fd_is_opened(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        before = open_fds()
        with pytest.raises(error):
            Tcp.create_server(**kwargs)
        assert open_fds() == before

    def test_create_by_fd_adopts_a_tcp_fd_and_rejects_a_udp_one(
        self, owned: Owned, fds: Fds
    ) -> None:
        fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
        fds.give_away(fd)
        tcp = owned(Tcp.create_by_fd(fd))
        assert type(tcp) is Tcp
        assert tcp.sock_fd == fd
        udp = fds.socket(s.AF_INET, s.SOCK_DGRAM)
        with pytest.raises(ValueError, match="not a TCP socket"):
            Tcp.create_by_fd(udp)
        assert is_open(udp)


# --- create_client, blocking ---------------------------------------------------------------


class TestCreateClient:
    def test_connects_to_a_sockaddr_and_a_numeric_tuple(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        target = trionet.sockaddr("127.0.0.1", port_of(server))
        for addr in (target, ("127.0.0.1", port_of(server))):
            client = owned(Tcp.create_client(addr))
            assert type(client) is Tcp
            assert client.peer_name() == target
            assert client.get_state() == trionet.TcpState.ESTABLISHED
            accepted, remote = server.accept(timeout=5)
            owned(accepted)
            assert remote == client.sock_name()

    def test_resolves_localhost_with_the_stdlib(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        client = owned(Tcp.create_client(("localhost", port_of(server)), timeout=10))
        assert client.peer_name() == server.sock_name()
        owned(server.accept(timeout=5)[0])

    def test_connects_over_ipv6_with_a_local_addr(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK6))
        client = owned(Tcp.create_client(("::1", port_of(server)), local_addr=("::1", 0)))
        assert client.peer_name() == trionet.sockaddr6("::1", port_of(server))
        assert client.sock_name().domain == trionet.AF_INET6

    def test_local_addr_of_another_family_is_a_value_error(self) -> None:
        before = open_fds()
        with pytest.raises(ValueError, match="local_addr"):
            Tcp.create_client(("127.0.0.1", 9), local_addr=("::1", 0))
        assert open_fds() == before

    def test_each_resolved_address_is_tried_in_turn(
        self, owned: Owned, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            stdsocket, "getaddrinfo", fixed_getaddrinfo("two.example", ["::1", "127.0.0.1"])
        )
        with contextlib.ExitStack() as held:
            server = retry_on_addr_in_use(lambda: listen_refusing_on_ipv6(owned, held))
            client = owned(Tcp.create_client(("two.example", port_of(server)), timeout=10))
            assert client.peer_name() == server.sock_name()

    def test_when_every_address_refuses_the_last_error_is_raised_and_nothing_leaks(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            stdsocket, "getaddrinfo", fixed_getaddrinfo("none.example", ["127.0.0.1", "::1"])
        )
        with refusing_on_both_loopbacks() as port:
            before = open_fds()
            with pytest.raises(ConnectionRefusedError) as caught:
                Tcp.create_client(("none.example", port), timeout=10)
            assert caught.value.errno == errno.ECONNREFUSED
            with pytest.raises(ConnectionRefusedError):
                Tcp.create_client(("127.0.0.1", port))
            assert open_fds() == before

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"addr": ("127.0.0.1", True)}, TypeError),
            ({"addr": ("localhost", -1)}, ValueError),
            ({"addr": 80}, TypeError),
            ({"addr": ("127.0.0.1", 80), "timeout": -1}, ValueError),
            ({"addr": ("127.0.0.1", 80), "timeout": "1"}, TypeError),
            ({"addr": ("127.0.0.1", 80), "dev": ""}, ValueError),
            ({"addr": ("127.0.0.1", 80), "callback": 3}, TypeError),
        ],
        ids=["bool-port", "negative-port", "int-addr", "negative-timeout", "str-timeout",
             "empty-dev", "int-callback"],
    )  # fmt: skip
    def test_bad_arguments_raise_before_any_fd_is_opened(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        before = open_fds()
        with pytest.raises(error):
            Tcp.create_client(**kwargs)
        assert open_fds() == before


class TestCreateClientTimeout:
    def test_times_out_when_the_listeners_queue_is_full(self, owned: Owned, fds: Fds) -> None:
        listener = full_listener(owned, fds)
        before = open_fds()
        with Timed() as timed, pytest.raises(trionet.Timeout) as caught:
            Tcp.create_client(listener.sock_name(), timeout=SHORT)
        assert SHORT <= timed.took < SHORT + SLACK
        assert caught.value.bytes_sent == 0
        assert isinstance(caught.value, TimeoutError)
        assert open_fds() == before

    def test_one_timeout_covers_every_resolved_address(
        self, owned: Owned, fds: Fds, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def listen_full_and_on_ipv6() -> int:
            port = port_of(full_listener(owned, fds))
            # ::1 accepts on the same port, but the hung first address uses up the time.
            owned(Tcp.create_server(("::1", port)))
            return port

        port = retry_on_addr_in_use(listen_full_and_on_ipv6)
        monkeypatch.setattr(
            stdsocket, "getaddrinfo", fixed_getaddrinfo("slow.example", ["127.0.0.1", "::1"])
        )
        before = open_fds()
        with Timed() as timed, pytest.raises(trionet.Timeout):
            Tcp.create_client(("slow.example", port), timeout=SHORT)
        assert SHORT <= timed.took < SHORT + SLACK
        assert open_fds() == before


def listen_refusing_on_ipv6(owned: Owned, held: contextlib.ExitStack) -> Tcp:
    """A listener on 127.0.0.1 whose port a bound socket holds on ::1, which refuses."""
    server = owned(Tcp.create_server(LOOPBACK))
    held.enter_context(hold_port(port_of(server), stdsocket.AF_INET6))
    return server


# --- create_client, callback form ------------------------------------------------------------


Outcome = tuple[Tcp | None, trionet.SockAddr | None]


def poll_until(done: Callable[[], bool], rounds: int = 200) -> None:
    """Run ``iosched.poll`` until ``done()``, bounded."""
    for _ in range(rounds):
        if done():
            return
        iosched.poll(1)
    raise AssertionError("not done after all those polls")


class TestCreateClientCallback:
    def test_calls_back_inside_poll_once_connected(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        outcomes: list[Outcome] = []
        client = owned(
            Tcp.create_client(
                server.sock_name(), callback=lambda tcp, remote: outcomes.append((tcp, remote))
            )
        )
        assert type(client) is Tcp
        assert outcomes == []  # only poll() runs callbacks
        poll_until(lambda: bool(outcomes))
        assert outcomes == [(client, server.sock_name())]
        assert client.get_state() == trionet.TcpState.ESTABLISHED
        owned(server.accept(timeout=5)[0])
        assert iosched.poll(0) == 0  # the connect's event is gone

    def test_refused_calls_back_with_none_and_closes(self, fds: Fds) -> None:
        bound = fds.socket(s.AF_INET, s.SOCK_STREAM)
        s.bind(bound, LOOPBACK)
        before = open_fds()
        outcomes: list[Outcome] = []
        client = Tcp.create_client(
            s.sock_name(bound), callback=lambda tcp, remote: outcomes.append((tcp, remote))
        )
        poll_until(lambda: bool(outcomes))
        assert outcomes == [(None, None)]
        assert client.closed
        assert open_fds() == before

    def test_tries_the_next_address_after_a_refusal(
        self, owned: Owned, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(
            stdsocket, "getaddrinfo", fixed_getaddrinfo("two.example", ["::1", "127.0.0.1"])
        )
        outcomes: list[Outcome] = []
        with contextlib.ExitStack() as held:
            server = retry_on_addr_in_use(lambda: listen_refusing_on_ipv6(owned, held))
            client = owned(
                Tcp.create_client(
                    ("two.example", port_of(server)),
                    timeout=10,
                    callback=lambda tcp, remote: outcomes.append((tcp, remote)),
                )
            )
            poll_until(lambda: bool(outcomes))
        assert outcomes == [(client, server.sock_name())]
        assert client.sock_name().domain == trionet.AF_INET

    def test_a_name_that_does_not_resolve_calls_back_with_none(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def fail(*args: object, **kwargs: object) -> list[Any]:
            raise stdsocket.gaierror(stdsocket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(stdsocket, "getaddrinfo", fail)
        outcomes: list[Outcome] = []
        client = Tcp.create_client(
            ("nowhere.example", 80), callback=lambda tcp, remote: outcomes.append((tcp, remote))
        )
        assert client.closed
        assert outcomes == []
        assert iosched.poll(0) == 1
        assert outcomes == [(None, None)]

    def test_timeout_calls_back_with_none(self, owned: Owned, fds: Fds) -> None:
        listener = full_listener(owned, fds)
        before = open_fds()
        outcomes: list[Outcome] = []
        with Timed() as timed:
            client = Tcp.create_client(
                listener.sock_name(),
                timeout=SHORT,
                callback=lambda tcp, remote: outcomes.append((tcp, remote)),
            )
            poll_until(lambda: bool(outcomes))
        assert SHORT <= timed.took < SHORT + SLACK
        assert outcomes == [(None, None)]
        assert client.closed
        assert open_fds() == before

    def test_closing_the_tcp_abandons_the_attempt_without_a_callback(
        self, owned: Owned, fds: Fds
    ) -> None:
        listener = full_listener(owned, fds)
        outcomes: list[Outcome] = []
        client = Tcp.create_client(
            listener.sock_name(),
            timeout=SHORT,
            callback=lambda tcp, remote: outcomes.append((tcp, remote)),
        )
        client.close()
        deadline = time.monotonic() + 2 * SHORT
        while time.monotonic() < deadline:
            iosched.poll(SHORT)
        assert outcomes == []

    def test_a_callback_that_raises_is_not_called_again(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        calls: list[Tcp | None] = []

        def explode(tcp: Tcp | None, remote: object) -> None:
            calls.append(owned(tcp) if tcp is not None else None)
            raise LookupError("from the callback")

        Tcp.create_client(server.sock_name(), callback=explode)
        with pytest.raises(LookupError):
            poll_until(lambda: False)
        assert iosched.poll(0) == 0
        assert len(calls) == 1
        owned(server.accept(timeout=5)[0])


# --- accept --------------------------------------------------------------------------------


class TestAccept:
    def test_accept_times_out_then_accepts(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        with Timed() as timed, pytest.raises(trionet.Timeout):
            server.accept(timeout=SHORT)
        assert SHORT <= timed.took < SHORT + SLACK
        with pytest.raises(trionet.Timeout, match="timeout=0"):
            server.accept(timeout=0)
        client = owned(Tcp.create_client(server.sock_name()))
        accepted, remote = server.accept(timeout=5)
        owned(accepted)
        assert type(accepted) is Tcp
        assert remote == client.sock_name()

    def test_callback_runs_for_each_connection_until_it_returns_false(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        accepted: list[tuple[Tcp, trionet.SockAddr]] = []

        def on_connection(tcp: Tcp, remote: trionet.SockAddr) -> bool:
            accepted.append((owned(tcp), remote))
            return len(accepted) < 3

        assert server.accept(callback=on_connection) is None
        clients = [owned(Tcp.create_client(server.sock_name())) for _ in range(4)]
        poll_until(lambda: len(accepted) == 3)
        assert [remote for _tcp, remote in accepted] == [c.sock_name() for c in clients[:3]]
        assert iosched.poll(0) == 0  # stopped: the fourth waits for a blocking accept
        fourth, remote = server.accept(timeout=5)
        owned(fourth)
        assert remote == clients[3].sock_name()

    def test_closing_the_listener_ends_the_callback_form(self, owned: Owned) -> None:
        server = Tcp.create_server(LOOPBACK)
        accepted: list[Tcp] = []
        server.accept(callback=lambda tcp, remote: accepted.append(owned(tcp)))
        owned(Tcp.create_client(server.sock_name()))
        server.close()
        assert iosched.poll(0) == 0
        assert accepted == []

    def test_callback_form_accepts_on_every_mports_port(self, owned: Owned) -> None:
        server = listener_with_mports(owned, "127.0.0.1", 2)
        accepted: list[Tcp] = []
        server.accept(callback=lambda tcp, remote: accepted.append(owned(tcp)))
        for offset in range(3):
            owned(Tcp.create_client(("127.0.0.1", port_of(server) + offset)))
        poll_until(lambda: len(accepted) == 3)
        server.close()
        assert iosched.poll(0) == 0

    def test_timeout_with_callback_and_a_bad_callback_are_refused(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        with pytest.raises(ValueError, match="timeout"):
            server.accept(timeout=1, callback=lambda tcp, remote: None)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="callback"):
            server.accept(callback=3)  # type: ignore[call-overload]

    def test_accept_on_a_connection_is_an_os_error(self, owned: Owned) -> None:
        conn = Connection(owned)
        with pytest.raises(OSError, match="Invalid argument") as caught:
            conn.client.accept(timeout=SHORT)
        assert caught.value.errno == errno.EINVAL


class TestServe:
    @staticmethod
    def echo(tcp: Tcp, remote: trionet.SockAddr) -> None:
        while data := tcp.recv(timeout=10):
            tcp.send_all(data, timeout=10)

    def test_echoes_twenty_clients_at_once_each_in_its_own_thread(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK, backlog=20))
        serving = Worker(lambda: server.serve(self.echo))
        clients = [owned(Tcp.create_client(server.sock_name(), timeout=5)) for _ in range(20)]
        for number, client in enumerate(clients):
            client.send_all(f"client {number}")
        for number, client in enumerate(clients):
            assert recv_exactly(client, len(f"client {number}")) == f"client {number}".encode()
        server.close()
        with pytest.raises(trio.ClosedResourceError):
            serving.outcome()
        # Closing the listener closed the connections still served.
        assert all(client.recv(timeout=5) == b"" for client in clients)

    def test_a_handler_exception_comes_out_bare_and_wakes_the_others(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        first_seen: list[Tcp] = []

        def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            if not first_seen:
                first_seen.append(tcp)
                tcp.recv(timeout=30)  # woken by serve closing it
                return
            raise LookupError("from a handler")

        serving = Worker(lambda: server.serve(handler))
        waiting = owned(Tcp.create_client(server.sock_name(), timeout=5))
        for _ in range(100):
            if first_seen:
                break
            time.sleep(0.01)
        owned(Tcp.create_client(server.sock_name(), timeout=5))
        with Timed() as timed, pytest.raises(LookupError) as caught:
            serving.outcome()
        assert type(caught.value) is LookupError
        assert timed.took < SLACK
        assert first_seen[0].closed
        assert waiting.recv(timeout=5) == b""
        assert not server.closed

    def test_a_flown_away_connection_stays_open(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(LOOPBACK))
        taken: list[int] = []

        def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
            taken.append(tcp.fly_away())

        serving = Worker(lambda: server.serve(handler))
        client = owned(Tcp.create_client(server.sock_name(), timeout=5))
        for _ in range(200):
            if taken:
                break
            time.sleep(0.01)
        adopted = owned(Tcp.create_by_fd(taken[0]))
        client.send_all(b"still here")
        assert recv_exactly(adopted, 10) == b"still here"
        server.close()
        with pytest.raises(trio.ClosedResourceError):
            serving.outcome()


# --- sending and receiving -----------------------------------------------------------------


class TestSendRecv:
    def test_send_and_sendto_return_the_bytes_taken(self, owned: Owned) -> None:
        conn = Connection(owned)
        assert conn.client.send(b"hello") == 5
        assert conn.client.send("héllo") == 6
        assert conn.client.send([b"ab", bytearray(b"cd")]) == 4
        assert conn.client.sendto(("10.9.8.7", 1), b"!") == 1
        assert recv_exactly(conn.server, 16) == "hellohéllo".encode() + b"abcd!"

    def test_send_all_of_four_mib_while_a_thread_reads(self, owned: Owned) -> None:
        conn = Connection(owned)
        payload = bytes(range(256)) * (4 * MIB // 256)
        reader = Worker(lambda: recv_all(conn.server))
        conn.client.send_all(payload, timeout=60)
        conn.client.shutdown("w")
        assert reader.outcome(60) == payload

    def test_send_all_timeout_reports_exactly_what_the_peer_receives(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        listener.set_recv_buffer_size(4096)
        client = owned(Tcp.create_by_fd(s.socket(s.AF_INET, s.SOCK_STREAM)))
        client.set_send_buffer_size(4096)
        csocket.connect(client.sock_fd, listener.sock_name(), timeout=5)
        server = owned(listener.accept(timeout=5)[0])
        payload = b"x" * (4 * MIB)
        with Timed() as timed, pytest.raises(trionet.Timeout) as caught:
            client.send_all(payload, timeout=SHORT)
        assert SHORT <= timed.took < SHORT + SLACK
        sent = caught.value.bytes_sent
        assert 0 < sent < len(payload)
        client.shutdown("w")
        assert len(recv_all(server)) == sent

    def test_send_all_of_bad_data_is_a_type_error(self, owned: Owned) -> None:
        conn = Connection(owned)
        with pytest.raises(TypeError):
            conn.client.send_all(12)
        with pytest.raises(ValueError, match="timeout"):
            conn.client.send_all(b"x", timeout=-1)

    def test_recv_recv_into_and_recvfrom(self, owned: Owned) -> None:
        conn = Connection(owned)
        conn.client.send_all(b"abcdef")
        assert recv_exactly(conn.server, 2) == b"ab"
        buffer = bytearray(8)
        count = 0
        for _ in range(3):
            count += conn.server.recv_into(buffer, 2 + count, 2 - count, timeout=5)
            if count == 2:
                break
        assert buffer == b"\0\0cd\0\0\0\0"
        data, remote = conn.server.recvfrom(2, timeout=5)
        assert remote == conn.client.sock_name()
        assert data in (b"e", b"ef")
        conn.client.close()
        assert recv_all(conn.server) == b"ef"[len(data) :]
        assert conn.server.is_eof()
        assert conn.server.recv_into(buffer, timeout=5) == 0

    def test_recv_calls_time_out_without_data(self, owned: Owned) -> None:
        conn = Connection(owned)
        calls: list[Callable[[], object]] = [
            lambda: conn.server.recv(timeout=SHORT),
            lambda: conn.server.recv_into(bytearray(4), timeout=SHORT),
            lambda: conn.server.recvfrom(timeout=SHORT),
            lambda: conn.server.recv(timeout=0),
        ]
        for call in calls:
            with Timed() as timed, pytest.raises(trionet.Timeout):
                call()
            assert timed.took < SHORT + SLACK


# --- options, close, with, hand-over -------------------------------------------------------


OPTIONS: dict[str, tuple[Any, ...]] = {
    "pending": (),
    "error": (),
    "is_eof": (),
    "sock_name": (),
    "peer_name": (),
    "set_keep_alive": (True, 5),
    "set_no_delay": (True,),
    "set_linger": (True, 1),
    "set_ttl": (64,),
    "set_reuse_addr": (True,),
    "get_state": (),
    "get_recv_buffer_size": (),
    "get_send_buffer_size": (),
    "set_recv_buffer_size": (4096,),
    "set_send_buffer_size": (4096,),
    "shutdown": ("w",),
}

BLOCKING: dict[str, tuple[Any, ...]] = {
    "accept": (),
    "send": (b"x",),
    "send_all": (b"x",),
    "sendto": (None, b"x"),
    "recv": (),
    "recv_into": (bytearray(4),),
    "recvfrom": (),
    "mports": (1,),
    "set_ipv6_only": (True,),
    "fly_away": (),
}


class TestOptionsAndClose:
    @pytest.mark.parametrize("name", list(OPTIONS))
    def test_option_works_on_a_connection(self, owned: Owned, name: str) -> None:
        conn = Connection(owned)
        getattr(conn.client, name)(*OPTIONS[name])

    def test_pending_mports_and_ipv6_only(self, owned: Owned) -> None:
        conn = Connection(owned)
        conn.client.send_all(b"12345")
        for _ in range(100):
            if conn.server.pending() == 5:
                break
            time.sleep(0.01)
        assert conn.server.pending() == 5
        unbound = owned(Tcp.create_by_fd(s.socket(s.AF_INET6, s.SOCK_STREAM)))
        unbound.set_ipv6_only(True)
        listener = listener_with_mports(owned, "::1", 1)
        client = owned(Tcp.create_client(("::1", port_of(listener) + 1), timeout=5))
        accepted, remote = listener.accept(timeout=5)
        owned(accepted)
        assert remote == client.sock_name()

    @pytest.mark.parametrize("name", [*OPTIONS, *BLOCKING])
    def test_every_method_after_close_is_closed_resource_error(self, name: str) -> None:
        tcp = Tcp.create_server(LOOPBACK)
        tcp.close()
        with pytest.raises(trio.ClosedResourceError):
            getattr(tcp, name)(*{**OPTIONS, **BLOCKING}[name])

    def test_close_from_another_thread_wakes_a_blocked_recv(self, owned: Owned) -> None:
        conn = Connection(owned)
        blocked = Worker(lambda: conn.server.recv(timeout=30))
        time.sleep(SHORT)  # let it block; it is woken, not timed out, either way
        with Timed() as timed:
            conn.server.close()
            with pytest.raises(trio.ClosedResourceError):
                blocked.outcome()
        assert timed.took < SLACK

    def test_with_closes_on_exit(self, owned: Owned) -> None:
        listener = owned(Tcp.create_server(LOOPBACK))
        with Tcp.create_client(listener.sock_name()) as client:
            fd = client.sock_fd
            assert is_open(fd)
        assert client.closed
        assert not is_open(fd)
        owned(listener.accept(timeout=5)[0])
        with pytest.raises(KeyError), Tcp.create_server(LOOPBACK) as server:
            raise KeyError("inside")
        assert server.closed

    def test_a_flown_away_fd_is_adopted_by_an_async_run_and_back(self, owned: Owned) -> None:
        conn = Connection(owned)
        fd = conn.server.fly_away()

        async def echo_once(fd: int) -> int:
            adopted = async_tcp.Tcp.create_by_fd(fd)
            data = await adopted.recv(timeout=5)
            await adopted.send_all(data.upper())
            return adopted.fly_away()

        conn.client.send_all(b"across")
        returned = trio.run(echo_once, fd)
        assert returned == fd
        back = owned(Tcp.create_by_fd(fd))
        assert recv_exactly(conn.client, 6) == b"ACROSS"
        back.send_all(b"sync again")
        assert recv_exactly(conn.client, 10) == b"sync again"

    def test_an_unclosed_tcp_warns_and_closes_its_fd(self) -> None:
        tcp = Tcp.create_server(LOOPBACK)
        fd = tcp.sock_fd
        with pytest.warns(ResourceWarning, match=f"fd {fd} was never closed"):  # noqa: PT031
            del tcp
            gc.collect()
        assert not is_open(fd)
