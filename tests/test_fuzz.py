"""Fuzzing every validating public function with Hypothesis (issue 15, point 7).

Each case calls one public function with valid arguments, one or two of
them replaced by junk: wrong types, huge and negative numbers, NaN, odd
strings and bytes. Only ``TypeError`` / ``ValueError`` may come out, or an
``OSError`` the function documents (its errno set, and its address named
where rule 34 says so); every fd the call opened is closed again.

Addresses are loopback or invalid only, and ports 0 or out of range, so
no example reaches beyond the machine or a port someone else uses.
Bounded for the default suite: ``TRIONET_FUZZ_EXAMPLES`` examples per case
(8 by default; ``nox -s soak`` runs more).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import ipaddress
import math
import os
import socket as stdsocket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from trionet.compat import socket as cs
from trionet.compat import tcp as ctcp
from trionet.compat import udp as cudp

from trionet import net, udp
from trionet import socket as s
from trionet.tcp import Tcp
from trionet.testing import open_fds

EXAMPLES = int(os.environ.get("TRIONET_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_ODD: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    10**400,
    -(10**400),
    0.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "x",
    "\x00",
    "127.0.0.1",
    "::1",
    "lo",
    "rw",
    b"",
    b"\x00",
    bytearray(b"ab"),
    memoryview(b"ab"),
    (),
    [],
    {},
    object(),
]
JUNK = st.one_of(
    st.sampled_from(_ODD),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
)
_SAFE_PORTS = st.sampled_from([0, -1, 65536, 2**70, 10**400, "80", None, 1.5])
_HOSTS = st.one_of(
    st.sampled_from(["127.0.0.1", "::1", "127.77.0.1", "0.0.0.0", "::", "localhost", ""]),
    JUNK,
)
# No free text: a name would be looked up.
_NAMED_HOSTS = st.sampled_from(["127.0.0.1", "::1", "localhost", "", "no such host", *_ODD])
ADDRESSES = st.one_of(
    JUNK,
    st.tuples(_HOSTS, _SAFE_PORTS),
    st.tuples(_HOSTS, _SAFE_PORTS, JUNK, JUNK),
    st.builds(lambda host, port: (host, port), _HOSTS, st.just(0)),
)
# Any open fd may be someone else's (trio's wake-up socket): never a valid number.
NOT_FDS = JUNK.filter(lambda value: not (type(value) is int and 0 <= value < 2**31))
TIMEOUTS = st.one_of(JUNK, st.sampled_from([None, 0, 0.01, 1e-9, 10**400]))


def _is_ip(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value.partition("%")[0])
    except ValueError:
        return False
    return True


def _dangerous(value: object) -> bool:
    """An IP address with a real port: someone else's, or beyond loopback."""
    if isinstance(value, (tuple, list)):
        ports = [item for item in value if type(item) is int and 0 < item < 65536]
        return (any(_is_ip(item) for item in value) and bool(ports)) or any(
            _dangerous(item) for item in value
        )
    if isinstance(value, dict):
        return any(_dangerous(item) for item in value.values())
    return False


@dataclasses.dataclass(frozen=True)
class Case:
    """``call(thing, **kwargs)``: ``thing`` from ``make`` (an fd, a socket) or ``None``."""

    name: str
    call: Callable[..., Any]
    defaults: Mapping[str, object]
    make: Callable[[contextlib.ExitStack], object] | None = None
    # Errnos of an OSError the function documents (a system call refused a
    # well-formed value: an unknown interface, a port in use...).
    errnos: frozenset[int] = frozenset()
    junk: Mapping[str, st.SearchStrategy[object]] = dataclasses.field(default_factory=dict)
    # Other exceptions its docstring promises (a platform limit).
    documented: tuple[type[Exception], ...] = ()
    # Rule 34: its OSError names the address in ``filename``.
    named: bool = False

    def __str__(self) -> str:
        return self.name


def _fd(domain: int, kind: int) -> Callable[[contextlib.ExitStack], int]:
    def make(stack: contextlib.ExitStack) -> int:
        fd = s.socket(domain, kind)
        stack.callback(s.close, fd)
        return fd

    return make


def _bound_fd(kind: int) -> Callable[[contextlib.ExitStack], int]:
    def make(stack: contextlib.ExitStack) -> int:
        fd = _fd(s.AF_INET, kind)(stack)
        s.bind(fd, ("127.0.0.1", 0))
        return fd

    return make


def _listening_fd(stack: contextlib.ExitStack) -> int:
    fd = _bound_fd(s.SOCK_STREAM)(stack)
    s.listen(fd)
    return fd


def _readable_fd(stack: contextlib.ExitStack) -> int:
    """A stream fd with 4 bytes to read and then EOF: receiving never waits."""
    ours, theirs = stdsocket.socketpair()
    with theirs:
        theirs.sendall(b"data")
    fd = ours.detach()
    stack.callback(s.close, fd)
    return fd


def _writable_fd(stack: contextlib.ExitStack) -> int:
    """A stream fd whose peer is open: a small send never waits."""
    ours, theirs = stdsocket.socketpair()
    stack.enter_context(theirs)
    fd = ours.detach()
    stack.callback(s.close, fd)
    return fd


def _own(result: object) -> None:
    """Close the object the call made (a ``Tcp``, a ``Udp``; ``accept``'s first item)."""
    if isinstance(result, tuple) and result:
        result = result[0]
    if isinstance(result, net.Server):
        return  # never listened: nothing to close
    close = getattr(result, "close", None)
    if callable(close):
        close()


def _closed_fd(sock: Any, **kw: Any) -> None:
    """``socket()``: the fd it made is closed at once."""
    sock.close(sock.socket(**kw))


_ENODEV = frozenset({errno.ENODEV})
# Refused (port 0 is never listened on), or a timeout of 0 that ran out.
_CONNECT_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.EINVAL, errno.EADDRNOTAVAIL, errno.ETIMEDOUT}
)
# A host name that does not resolve: junk text is a name, and the suite
# resolves none off this machine (tests/_no_dns.py).
_LOOKUP_ERRNOS = frozenset({stdsocket.EAI_NONAME, stdsocket.EAI_AGAIN})
# Timeouts a blocking (compat) call may get: invalid, or no longer than 1 ms.
_SHORT = st.one_of(
    st.sampled_from([0, 0.001, -1.0, math.nan, math.inf, 10**400, "1", b"", True, [], object()]),
    st.floats(max_value=0.001),
    st.integers(max_value=0),
)
_BAD_COUNTS = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=65536),
    JUNK.filter(lambda value: type(value) is not int),
)
_BUF = {"buffer": st.one_of(JUNK, st.builds(bytearray, st.integers(0, 8)))}
_TTL_JUNK = {"ttl": st.one_of(JUNK, st.integers(-2, 300))}


def _fd_cases(sock: Any, prefix: str) -> list[Case]:
    """The fd-level calls; ``sock`` is ``trionet.socket`` or ``trionet.compat.socket``."""
    tcp, udp_ = _fd(s.AF_INET, s.SOCK_STREAM), _fd(s.AF_INET, s.SOCK_DGRAM)
    tcp6 = _fd(s.AF_INET6, s.SOCK_STREAM)
    cases = [
        Case("socket", lambda _, **kw: _closed_fd(sock, **kw), {"domain": s.AF_INET, "type": 1}),
        Case(
            "bind",
            sock.bind,
            {"addr": ("127.0.0.1", 0)},
            tcp,
            frozenset({errno.EADDRNOTAVAIL}),
            junk={"addr": ADDRESSES},
            named=True,
        ),
        Case("listen", sock.listen, {"backlog": 5}, _bound_fd(s.SOCK_STREAM)),
        Case("set_broadcast", sock.set_broadcast, {"enable": True}, udp_),
        Case("set_ipv6_only", sock.set_ipv6_only, {"enable": True}, tcp6),
        Case(
            "set_keep_alive",
            sock.set_keep_alive,
            {"enable": True, "idle": 1.0, "interval": 1.0, "count": 3},
            tcp,
        ),
        Case("set_linger", sock.set_linger, {"enabled": True, "seconds": 1.0}, tcp),
        Case("set_multicast_loop", sock.set_multicast_loop, {"enable": True}, udp_),
        Case("set_multicast_ttl", sock.set_multicast_ttl, {"ttl": 1}, udp_, junk=_TTL_JUNK),
        Case(
            "set_multicast_interface",
            sock.set_multicast_interface,
            {"ifname": "lo"},
            udp_,
            _ENODEV,
        ),
        Case("set_no_delay", sock.set_no_delay, {"enable": True}, tcp),
        Case("set_recv_buffer_size", sock.set_recv_buffer_size, {"size": 4096}, tcp),
        Case("set_send_buffer_size", sock.set_send_buffer_size, {"size": 4096}, tcp),
        Case("set_reuse_addr", sock.set_reuse_addr, {"enable": True}, tcp),
        Case("set_reuse_port", sock.set_reuse_port, {"enable": True}, tcp),
        Case("set_ttl", sock.set_ttl, {"ttl": 64}, tcp, junk=_TTL_JUNK),
        Case(
            "set_udp_conn_assign_local_addr",
            sock.set_udp_conn_assign_local_addr,
            {"enable": True},
            udp_,
            documented=(NotImplementedError,),  # False: Linux cannot
        ),
        Case("shutdown", sock.shutdown, {"how": "rw"}, _writable_fd),
        Case("bind_to_device", sock.bind_to_device, {"ifname": "lo"}, tcp, _ENODEV),
        # Not listening: a valid count would listen on the ports after its own.
        Case("mports", sock.mports, {"count": 1}, tcp),
        Case("sec_region", sock.sec_region, {"region": None}, tcp),
        Case(
            "add_membership",
            sock.add_membership,
            {"group": "239.1.2.3", "interface": None, "source": None},
            _bound_fd(s.SOCK_DGRAM),
            # No such interface; a group the interface cannot join, or joined.
            frozenset({errno.ENODEV, errno.EADDRNOTAVAIL, errno.EADDRINUSE, errno.EINVAL}),
        ),
        Case(
            "drop_membership",
            sock.drop_membership,
            {"group": "239.1.2.3", "interface": None, "source": None},
            _bound_fd(s.SOCK_DGRAM),
            frozenset({errno.ENODEV, errno.EADDRNOTAVAIL}),
        ),
        Case(
            "domain",
            lambda _, **kw: sock.domain(**kw),
            {"fd_or_addr": "127.0.0.1"},
            junk={"fd_or_addr": NOT_FDS},
        ),
        Case("sockaddr", lambda _, **kw: sock.sockaddr(**kw), {"addr": "127.0.0.1", "port": 1}),
        Case(
            "sockaddr6",
            lambda _, **kw: sock.sockaddr6(**kw),
            {"addr": "::1", "port": 1, "scope_id": 0},
        ),
        Case("SockAddr", lambda _, **kw: sock.SockAddr(**kw), {"addr": "::1", "port": 1}),
        Case("addr_is_ipv4", lambda _, **kw: sock.addr_is_ipv4(**kw), {"s": "127.0.0.1"}),
        Case("addr_is_ipv6", lambda _, **kw: sock.addr_is_ipv6(**kw), {"s": "::1"}),
        # The calls that may block, each given an fd on which it does not.
        Case(
            "connect",
            sock.connect,
            {"addr": ("127.0.0.1", 0), "timeout": 5},
            tcp,
            _CONNECT_ERRNOS,
            junk={"addr": ADDRESSES, "timeout": TIMEOUTS},
            named=True,
        ),
        Case(
            "send",
            sock.send,
            {"data": b"x", "timeout": 5},
            _writable_fd,
            junk={"timeout": TIMEOUTS},
        ),
        Case(
            "sendto",
            sock.sendto,
            {"addr": ("127.0.0.1", 0), "data": b"x", "timeout": 5},
            udp_,
            frozenset({errno.EINVAL, errno.ECONNREFUSED}),
            junk={"addr": ADDRESSES, "timeout": TIMEOUTS},
        ),
        Case(
            "recv",
            sock.recv,
            {"max_bytes": 10, "timeout": 5},
            _readable_fd,
            junk={"timeout": TIMEOUTS},
        ),
        Case(
            "recvfrom",
            sock.recvfrom,
            {"max_bytes": 10, "timeout": 5},
            _readable_fd,
            junk={"timeout": TIMEOUTS},
        ),
        Case(
            "recv_into",
            sock.recv_into,
            {"buffer": bytearray(8), "offset": 0, "length": None, "timeout": 5},
            _readable_fd,
            junk={**_BUF, "timeout": TIMEOUTS},
        ),
        Case(
            "recvfrom_into",
            sock.recvfrom_into,
            {"buffer": bytearray(8), "offset": 0, "length": None, "timeout": 5},
            _readable_fd,
            junk={**_BUF, "timeout": TIMEOUTS},
        ),
    ]
    return [dataclasses.replace(case, name=f"{prefix}.{case.name}") for case in cases]


def _tcp_cases(cls: Any, prefix: str, short: st.SearchStrategy[object]) -> list[Case]:
    """``Tcp`` constructors and options (``trionet.tcp`` or ``trionet.compat.tcp``)."""

    def server(stack: contextlib.ExitStack) -> Any:
        made = cls.create_server(("127.0.0.1", 0))
        stack.callback(made.close)
        return made

    cases = [
        Case(
            "create_server",
            lambda _, **kw: cls.create_server(**kw),
            {"addr": ("127.0.0.1", 0), "backlog": 5, "dev": None, "tls": None},
            errnos=_ENODEV,
            junk={"addr": ADDRESSES},
        ),
        Case(
            "create_client",
            lambda _, **kw: cls.create_client(**kw),
            {"addr": ("127.0.0.1", 0), "timeout": 5, "local_addr": None, "dev": None},
            errnos=_CONNECT_ERRNOS | _ENODEV | _LOOKUP_ERRNOS,
            junk={"addr": ADDRESSES, "local_addr": ADDRESSES, "timeout": TIMEOUTS},
            named=True,
        ),
        Case(
            "create_by_fd",
            lambda _, **kw: cls.create_by_fd(**kw),
            {"fd": -1},
            junk={"fd": NOT_FDS},
        ),
        Case("set_keep_alive", lambda t, **kw: t.set_keep_alive(**kw), {"enable": True}, server),
        Case("set_linger", lambda t, **kw: t.set_linger(**kw), {"enabled": True}, server),
        Case("set_ttl", lambda t, **kw: t.set_ttl(**kw), {"ttl": 64}, server, junk=_TTL_JUNK),
        Case("set_no_delay", lambda t, **kw: t.set_no_delay(**kw), {"enable": True}, server),
        Case(
            "mports",
            lambda t, **kw: t.mports(**kw),
            {"count": 0},
            server,
            junk={"count": _BAD_COUNTS},
        ),
        Case(
            "set_recv_buffer_size",
            lambda t, **kw: t.set_recv_buffer_size(**kw),
            {"size": 4096},
            server,
        ),
        Case(
            "accept",
            lambda t, **kw: t.accept(**kw),
            {"timeout": 0.001},
            server,
            frozenset({errno.ETIMEDOUT}),
            junk={"timeout": short},
        ),
    ]
    return [dataclasses.replace(case, name=f"{prefix}.{case.name}") for case in cases]


def _udp_cases(cls: Any, prefix: str, short: st.SearchStrategy[object]) -> list[Case]:
    def made(stack: contextlib.ExitStack) -> Any:
        udp_ = cls.create(("127.0.0.1", 0))
        stack.callback(udp_.close)
        return udp_

    cases = [
        Case(
            "create",
            lambda _, **kw: cls.create(**kw),
            {"addr": ("127.0.0.1", 0), "domain": s.AF_INET, "reuse_addr": False, "dev": None},
            errnos=_ENODEV,
            junk={"addr": ADDRESSES},
        ),
        Case(
            "create_by_fd",
            lambda _, **kw: cls.create_by_fd(**kw),
            {"fd": -1},
            junk={"fd": NOT_FDS},
        ),
        Case(
            "connect",
            lambda u, **kw: u.connect(**kw),
            {"addr": ("127.0.0.1", 0)},
            made,
            junk={"addr": ADDRESSES},
        ),
        Case(
            "sendto",
            lambda u, **kw: u.sendto(**kw),
            {"addr": ("127.0.0.1", 0), "data": b"x", "timeout": 5},
            made,
            frozenset({errno.EINVAL}),
            junk={"addr": ADDRESSES, "timeout": TIMEOUTS},
        ),
        Case(
            "set_multicast_ttl",
            lambda u, **kw: u.set_multicast_ttl(**kw),
            {"ttl": 1},
            made,
            junk=_TTL_JUNK,
        ),
        Case(
            "recv",
            lambda u, **kw: u.recv(**kw),
            {"max_bytes": 10, "timeout": 0.001},
            made,
            frozenset({errno.ETIMEDOUT}),
            junk={"timeout": short},
        ),
    ]
    return [dataclasses.replace(case, name=f"{prefix}.{case.name}") for case in cases]


async def _listen(_: object, **kw: Any) -> None:
    async with net.create_server() as server:
        await server.listen(**kw)
        server.close()


NET_CASES = [
    Case(
        "net.connect",
        lambda _, **kw: net.connect(**kw),
        {
            "port": 80,
            "host": "127.0.0.1",
            "family": 0,
            "local_address": None,
            "local_port": None,
            "timeout": None,
            "connect_timeout": None,
            "tls": None,
            "allow_half_open": False,
            "max_buffer_size": None,
            "on_connect": None,
            "onread": None,
        },
        junk={"path": JUNK},
    ),
    Case(
        "net.create_server",
        lambda _, **kw: net.create_server(**kw),
        {
            "connection_listener": None,
            "allow_half_open": False,
            "pause_on_connect": False,
            "tls": None,
            "max_connections": None,
            "high_water_mark": 16,
            "max_buffer_size": None,
            "group": None,
            "subs": 0,
            "proxy_protocol": False,
            "reuse_port": False,
        },
    ),
    Case(
        "net.Server.listen",
        _listen,
        {"port": 0, "host": "127.0.0.1", "backlog": 5, "ipv6_only": False, "exclusive": False},
        errnos=frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}) | _LOOKUP_ERRNOS,
        junk={"port": _SAFE_PORTS, "host": _NAMED_HOSTS},
        named=True,
    ),
    Case(
        "net.Socket",
        lambda _, **kw: net.Socket(**kw),
        {"allow_half_open": False, "high_water_mark": 16, "max_buffer_size": None},
    ),
    Case("net.is_ip", lambda _, **kw: net.is_ip(**kw), {"s": "::1"}),
    Case("net.is_ipv4", lambda _, **kw: net.is_ipv4(**kw), {"s": "127.0.0.1"}),
    Case("net.is_ipv6", lambda _, **kw: net.is_ipv6(**kw), {"s": "::1"}),
    Case(
        "net.TlsOptions",
        lambda _, **kw: net.TlsOptions(**kw),
        {"server_name": "localhost", "verify": True, "alpn": None, "passwd": None},
        junk={"ca": JUNK, "cert": JUNK, "key": JUNK},
    ),
]

CASES = [
    *_fd_cases(s, "socket"),
    *_fd_cases(cs, "compat.socket"),
    *_tcp_cases(Tcp, "Tcp", TIMEOUTS),
    *_tcp_cases(ctcp.Tcp, "compat.Tcp", _SHORT),
    *_udp_cases(udp.Udp, "Udp", TIMEOUTS),
    *_udp_cases(cudp.Udp, "compat.Udp", _SHORT),
    *NET_CASES,
]


async def _run(case: Case, kwargs: dict[str, Any]) -> None:
    with contextlib.ExitStack() as stack:
        thing = case.make(stack) if case.make is not None else None
        result = case.call(thing, **kwargs)
        if isinstance(result, Awaitable):
            with trio.move_on_after(60):  # the mock clock's: a blocked call times out at once
                result = await result
        _own(result)


@pytest.fixture(autouse=True, scope="module")
def _compat_warmed_up() -> None:
    """compat's first blocking call makes the process's wake-up eventfd: not a leak."""
    fd = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        with contextlib.suppress(OSError):
            cs.connect(fd, ("127.0.0.1", 0), timeout=1)
    finally:
        s.close(fd)


@contextlib.contextmanager
def _fds_unchanged() -> Iterator[None]:
    before = open_fds()
    yield
    assert open_fds() == before, "the call leaked an fd"


@pytest.mark.parametrize("case", CASES, ids=str)
@FUZZ
@given(data=st.data())
def test_only_clear_errors_come_out(case: Case, data: st.DataObject) -> None:
    names = sorted({*case.defaults, *case.junk})
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
    kwargs = dict(case.defaults)
    for name in chosen:
        kwargs[name] = data.draw(case.junk.get(name, JUNK), label=name)
    assume(not _dangerous(kwargs))
    with _fds_unchanged():
        try:
            trio.run(_run, case, kwargs, clock=trio.testing.MockClock(autojump_threshold=0))
        except (TypeError, ValueError, *case.documented):
            pass
        except OSError as exc:
            _check_os_error(case, exc)


def _check_os_error(case: Case, exc: OSError) -> None:
    assert exc.errno in case.errnos, f"{case}: undocumented {exc!r}"
    if case.named and exc.errno not in (errno.ETIMEDOUT, errno.ENODEV):
        assert exc.filename is not None, f"{case}: {exc!r} does not name its address"
