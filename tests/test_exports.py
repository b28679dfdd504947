"""SPEC sections 0 and 1: the public names, signatures, constants and ``Timeout``."""

from __future__ import annotations

import errno
import importlib.metadata
import inspect
import pickle
import socket as stdsocket
from collections.abc import Callable
from typing import Any

import pytest
import trio

import trionet
from trionet import socket as s

SECTION_0_CONSTANTS: dict[str, object] = {
    "AF_INET": stdsocket.AF_INET,
    "AF_INET6": stdsocket.AF_INET6,
    "AF_UNIX": stdsocket.AF_UNIX,
    "SOCK_STREAM": stdsocket.SOCK_STREAM,
    "SOCK_DGRAM": stdsocket.SOCK_DGRAM,
    "IPPROTO_IP": stdsocket.IPPROTO_IP,
    "IPPROTO_IPV6": stdsocket.IPPROTO_IPV6,
    "IPPROTO_TCP": stdsocket.IPPROTO_TCP,
    "IPPROTO_UDP": stdsocket.IPPROTO_UDP,
    "INADDR_ANY": "0.0.0.0",
    "INADDR_LOOPBACK": "127.0.0.1",
    "INADDR_NONE": "255.255.255.255",
    "INADDR_BROADCAST": "255.255.255.255",
    "IN6ADDR_ANY": "::",
    "IN6ADDR_LOOPBACK": "::1",
    "IN6ADDR_NODELOCAL_ALLNODES": "ff01::1",
    "IN6ADDR_LINKLOCAL_ALLNODES": "ff02::1",
    "IN6ADDR_LINKLOCAL_ALLROUTERS": "ff02::2",
}

# SPEC 8.4: the seed's order, not Linux's tcpi_state numbering.
TCP_STATES = [
    "CLOSED",
    "LISTEN",
    "SYN_SENT",
    "SYN_RCVD",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
]

SECTION_0_NAMES = [
    "SockAddr",
    "sockaddr",
    "sockaddr6",
    "Timeout",
    "TcpState",
    *SECTION_0_CONSTANTS,
    *(f"TCP_{state}" for state in TCP_STATES),
]

_ = inspect.Parameter.empty
KW = inspect.Parameter.KEYWORD_ONLY

# Section 1's table: name -> the (parameter, default) pairs before `*, timeout`.
PLAIN_FUNCTIONS: dict[str, list[tuple[str, object]]] = {
    "socket": [("domain", _), ("type", _)],
    "close": [("fd", _)],
    "domain": [("fd_or_addr", _)],
    "bind": [("fd", _), ("addr", _)],
    "listen": [("fd", _), ("backlog", 5)],
    "disconnect": [("fd", _)],
    "pending": [("fd", _)],
    "shutdown": [("fd", _), ("how", "rw")],
    "error": [("fd", _)],
    "mports": [("fd", _), ("count", _)],
    "is_listen": [("fd", _)],
    "is_eof": [("fd", _)],
    "sock_name": [("fd", _)],
    "peer_name": [("fd", _)],
    "bind_to_device": [("fd", _), ("ifname", None)],
    "set_keep_alive": [
        ("fd", _),
        ("enable", _),
        ("idle", None),
        ("interval", None),
        ("count", 3),
    ],
    "set_no_delay": [("fd", _), ("enable", _)],
    "set_broadcast": [("fd", _), ("enable", _)],
    "set_reuse_addr": [("fd", _), ("enable", _)],
    "set_reuse_port": [("fd", _), ("enable", _)],
    "set_ipv6_only": [("fd", _), ("enable", _)],
    "set_linger": [("fd", _), ("enabled", _), ("seconds", 0)],
    "set_ttl": [("fd", _), ("ttl", _)],
    "get_tcp_state": [("fd", _)],
    "get_recv_buffer_size": [("fd", _)],
    "get_send_buffer_size": [("fd", _)],
    "set_recv_buffer_size": [("fd", _), ("size", _)],
    "set_send_buffer_size": [("fd", _), ("size", _)],
    "add_membership": [("fd", _), ("group", _), ("interface", None), ("source", None)],
    "drop_membership": [("fd", _), ("group", _), ("interface", None), ("source", None)],
    "set_multicast_interface": [("fd", _), ("ifname", _)],
    "set_multicast_ttl": [("fd", _), ("ttl", _)],
    "set_multicast_loop": [("fd", _), ("enable", _)],
    "sec_region": [("fd", _), ("region", None)],
    "get_udp_conn_assign_local_addr": [("fd", _)],
    "set_udp_conn_assign_local_addr": [("fd", _), ("enable", _)],
    "addr_is_ipv4": [("s", _)],
    "addr_is_ipv6": [("s", _)],
    "sockaddr": [("addr", _), ("port", _)],
    "sockaddr6": [("addr", _), ("port", _), ("scope_id", 0)],
}

BLOCKING_FUNCTIONS: dict[str, list[tuple[str, object]]] = {
    "accept": [("fd", _)],
    "connect": [("fd", _), ("addr", _)],
    "send": [("fd", _), ("data", _)],
    "sendto": [("fd", _), ("addr", _), ("data", _)],
    "recv": [("fd", _), ("max_bytes", 65536)],
    "recv_into": [("fd", _), ("buffer", _), ("offset", 0), ("length", None)],
    "recvfrom": [("fd", _), ("max_bytes", 65536)],
    "recvfrom_into": [("fd", _), ("buffer", _), ("offset", 0), ("length", None)],
}


def _positional(function: Callable[..., Any]) -> list[tuple[str, object]]:
    return [
        (parameter.name, parameter.default)
        for parameter in inspect.signature(function).parameters.values()
        if parameter.kind is not KW
    ]


def _public_functions() -> list[tuple[str, Callable[..., Any]]]:
    return [
        (name, value)
        for name, value in vars(s).items()
        if not name.startswith("_") and inspect.isfunction(value)
    ]


class TestNamesAreExported:
    @pytest.mark.parametrize("name", SECTION_0_NAMES)
    def test_section_0_name_is_importable_from_trionet_and_trionet_socket(self, name: str) -> None:
        assert getattr(trionet, name) is getattr(s, name)

    @pytest.mark.parametrize("name", [*PLAIN_FUNCTIONS, *BLOCKING_FUNCTIONS])
    def test_section_1_function_exists_in_trionet_socket(self, name: str) -> None:
        assert callable(getattr(s, name))

    def test_star_import_of_trionet_socket_gives_every_section_1_function(self) -> None:
        namespace: dict[str, object] = {}
        exec("from trionet.socket import *", namespace)
        missing = {*PLAIN_FUNCTIONS, *BLOCKING_FUNCTIONS, *SECTION_0_NAMES} - set(namespace)
        assert not missing


class TestSignatures:
    @pytest.mark.parametrize(("name", "expected"), PLAIN_FUNCTIONS.items())
    def test_plain_function_is_synchronous_with_spec_parameters(
        self, name: str, expected: list[tuple[str, object]]
    ) -> None:
        function = getattr(s, name)
        assert not inspect.iscoroutinefunction(function)
        assert _positional(function) == expected
        assert "timeout" not in inspect.signature(function).parameters

    @pytest.mark.parametrize(("name", "expected"), BLOCKING_FUNCTIONS.items())
    def test_blocking_function_is_async_with_spec_parameters_and_keyword_timeout(
        self, name: str, expected: list[tuple[str, object]]
    ) -> None:
        function = getattr(s, name)
        assert inspect.iscoroutinefunction(function)
        assert _positional(function) == expected
        parameters = inspect.signature(function).parameters
        keyword_only = [p for p in parameters.values() if p.kind is KW]
        assert [(p.name, p.default) for p in keyword_only] == [("timeout", None)]


class TestDocstrings:
    @pytest.mark.parametrize(("name", "function"), _public_functions())
    def test_public_function_docstring_names_its_jsre_equivalent(
        self, name: str, function: Callable[..., Any]
    ) -> None:
        assert function.__doc__, f"{name} has no docstring"
        assert "JSRE" in function.__doc__

    def test_every_section_1_function_is_covered_by_the_docstring_check(self) -> None:
        checked = {name for name, _function in _public_functions()}
        assert {*PLAIN_FUNCTIONS, *BLOCKING_FUNCTIONS} <= checked


class TestConstants:
    @pytest.mark.parametrize(("name", "value"), SECTION_0_CONSTANTS.items())
    def test_constant_has_spec_value(self, name: str, value: object) -> None:
        assert getattr(trionet, name) == value
        assert type(getattr(trionet, name)) is type(value)

    def test_inaddr_none_equals_inaddr_broadcast(self) -> None:
        assert trionet.INADDR_NONE == trionet.INADDR_BROADCAST == "255.255.255.255"

    def test_linklocal_allrouters_is_the_rfc_4291_address_not_the_seeds_typo(self) -> None:
        assert trionet.IN6ADDR_LINKLOCAL_ALLROUTERS == "ff02::2"

    def test_tcp_state_is_an_int_enum_numbered_in_the_seeds_order(self) -> None:
        assert [(state.name, state.value) for state in trionet.TcpState] == [
            (name, value) for value, name in enumerate(TCP_STATES)
        ]
        assert trionet.TcpState.ESTABLISHED == 4
        assert isinstance(trionet.TcpState.LISTEN, int)

    @pytest.mark.parametrize("name", TCP_STATES)
    def test_tcp_alias_is_the_enum_member(self, name: str) -> None:
        assert getattr(trionet, f"TCP_{name}") is trionet.TcpState[name]
        assert getattr(s, f"TCP_{name}") is trionet.TcpState[name]


class TestTimeout:
    def test_timeout_is_caught_by_builtin_and_trio_handlers(self) -> None:
        assert issubclass(trionet.Timeout, TimeoutError)
        assert issubclass(trionet.Timeout, trio.TooSlowError)
        assert issubclass(trionet.Timeout, OSError)

    def test_timeout_has_errno_etimedout_and_no_bytes_sent_by_default(self) -> None:
        error = trionet.Timeout()
        assert error.errno == errno.ETIMEDOUT
        assert error.bytes_sent == 0

    def test_timeout_carries_bytes_sent(self) -> None:
        error = trionet.Timeout("send timed out", bytes_sent=42)
        assert error.bytes_sent == 42
        assert error.errno == errno.ETIMEDOUT
        assert "send timed out" in str(error)

    @pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
    def test_timeout_pickles_with_message_errno_and_bytes_sent(self, protocol: int) -> None:
        error = trionet.Timeout("recv timed out", bytes_sent=7)
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(copy) is trionet.Timeout
        assert copy.bytes_sent == 7
        assert copy.errno == errno.ETIMEDOUT
        assert copy.strerror == "recv timed out"
        assert str(copy) == str(error)


# SPEC section 3: the public names of trionet.net.
NET_NAMES = [
    "Socket",
    "Server",
    "connect",
    "create_connection",
    "create_server",
    "AddressInfo",
    "WriteAfterEndError",
    "ServerAlreadyListeningError",
    "ServerNotRunningError",
    "is_ip",
    "is_ipv4",
    "is_ipv6",
]


class TestNetNames:
    @pytest.mark.parametrize("name", NET_NAMES)
    def test_section_3_name_is_importable_from_trionet_net(self, name: str) -> None:
        from trionet import net

        assert getattr(net, name).__doc__


# SPEC section 11: lifetimes, STARTTLS, TLS objects, bridges.
class TestSection11Names:
    def test_open_stream_has_the_spec_signature(self) -> None:
        from trionet import net

        parameters = inspect.signature(net.open_stream).parameters
        assert [(p.name, p.kind, p.default) for p in parameters.values()] == [
            ("port", inspect.Parameter.POSITIONAL_OR_KEYWORD, None),
            ("host", inspect.Parameter.POSITIONAL_OR_KEYWORD, "localhost"),
            *(
                (name, inspect.Parameter.KEYWORD_ONLY, default)
                for name, default in [
                    ("path", None),
                    ("family", 0),
                    ("local_address", None),
                    ("local_port", None),
                    ("connect_timeout", None),
                    ("tls", None),
                ]
            ),
        ]

    def test_open_socket_takes_connects_options_and_a_nursery(self) -> None:
        from trionet import net

        connect = set(inspect.signature(net.connect).parameters)
        opened = inspect.signature(net.open_socket).parameters
        assert set(opened) == connect | {"nursery"}
        assert opened["nursery"].kind is inspect.Parameter.KEYWORD_ONLY

    @pytest.mark.parametrize("owner", ["Socket", "Stream"])
    def test_start_tls_and_what_libraries_ask(self, owner: str) -> None:
        from trionet import net

        cls = getattr(net, owner)
        parameters = inspect.signature(cls.start_tls).parameters
        assert list(parameters) == ["self", "tls", "server_side", "server_name"]
        assert parameters["server_side"].default is False
        for name in ("ssl_object", "alpn_protocol", "encrypted", "is_readable"):
            assert getattr(cls, name).__doc__

    def test_tcp_takes_tls_async_and_sync(self) -> None:
        from trionet.compat import tcp as sync_tcp

        from trionet.tcp import Tcp

        for cls in (Tcp, sync_tcp.Tcp):
            for constructor in (cls.create_client, cls.create_server):
                tls = inspect.signature(constructor).parameters["tls"]
                assert (tls.kind, tls.default) == (inspect.Parameter.KEYWORD_ONLY, None)
            assert cls.encrypted.__doc__

    def test_bridges(self) -> None:
        import httpcore

        from trionet import net
        from trionet.httpcore import NetworkBackend

        assert isinstance(NetworkBackend(), httpcore.AsyncNetworkBackend)
        assert net.as_anyio_stream.__doc__


def test_the_installed_version_is_trionet_version() -> None:
    # pyproject.toml reads it from trionet.__version__: one place to write it.
    assert importlib.metadata.version("trionet") == trionet.__version__
