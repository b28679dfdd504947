"""SPEC section 6: ``trionet.testing``, its helpers and its pytest plugin.

The plugin's tests run small test files of a user's in a nested pytest
(the ``pytester`` fixture), which loads the plugin from its entry point just
as a user's pytest does.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import socket as stdsocket
import subprocess
import sys
import warnings
from collections.abc import Iterator

import pytest
import trio
from _ports import retry_on_addr_in_use

from trionet import net
from trionet import socket as s
from trionet.testing import (
    fd_leak_check,
    fd_target,
    free_port,
    loopback_pair,
    open_fds,
    serve_echo,
)

pytest_plugins = ["pytester"]

FAMILIES = {"ipv4": (s.AF_INET, "127.0.0.1"), "ipv6": (s.AF_INET6, "::1")}


@pytest.fixture(params=list(FAMILIES))
def family(request: pytest.FixtureRequest) -> tuple[int, str]:
    """Each test runs over 127.0.0.1 and over ::1."""
    return FAMILIES[request.param]


# --- open_fds / fd_leak_check ---------------------------------------------------


def test_open_fds_lists_an_open_fd_and_forgets_a_closed_one() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert fd in open_fds()
        assert fd_target(fd) == os.devnull
    finally:
        os.close(fd)
    assert fd not in open_fds()
    assert fd_target(fd) == "?"


def test_open_fds_leaves_out_the_fd_of_its_own_listing() -> None:
    assert open_fds() == open_fds()
    assert all(os.path.lexists(f"/proc/self/fd/{fd}") for fd in open_fds())


def test_fd_leak_check_names_each_leaked_fd_with_its_target() -> None:
    leaked = -1
    try:
        with pytest.raises(AssertionError) as failed, fd_leak_check():
            leaked = os.open(os.devnull, os.O_RDONLY)
    finally:
        os.close(leaked)
    assert str(failed.value) == f"leaked fds: {{{leaked}: '{os.devnull}'}}"


def test_fd_leak_check_passes_a_block_that_closes_what_it_opened() -> None:
    with fd_leak_check():
        os.close(os.open(os.devnull, os.O_RDONLY))
        s.close(s.socket(s.AF_INET, s.SOCK_STREAM))


def test_fd_leak_check_collects_garbage_before_counting() -> None:
    with warnings.catch_warnings(), fd_leak_check():
        warnings.simplefilter("ignore", ResourceWarning)
        # A cycle: only the collector finalizes (and so closes) the socket.
        cycle: list[object] = [stdsocket.socket()]
        cycle.append(cycle)
        del cycle


def test_fd_leak_check_lets_the_block_s_exception_through_unchecked() -> None:
    opened: list[int] = []

    def leak_then_fail() -> None:
        with fd_leak_check():
            opened.append(os.open(os.devnull, os.O_RDONLY))
            raise KeyError("from the block")

    try:
        with pytest.raises(KeyError, match="from the block"):
            leak_then_fail()
    finally:
        for fd in opened:
            os.close(fd)


# --- free_port / loopback_pair / serve_echo ---------------------------------------


@pytest.mark.parametrize("kind", [s.SOCK_STREAM, s.SOCK_DGRAM])
def test_free_port_can_be_bound_on_loopback(family: tuple[int, str], kind: int) -> None:
    domain, host = family

    def take() -> None:
        port = free_port(domain, kind)
        assert 0 < port <= 65535
        with stdsocket.socket(domain, kind) as taker:
            taker.bind((host, port))

    # The port was free "a moment ago" (see its docstring): another
    # program may take it first, and then a fresh one is asked for.
    retry_on_addr_in_use(take)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((s.AF_UNIX,), ValueError, "family"),
        (("AF_INET",), TypeError, "family"),
        ((True,), TypeError, "family"),
        ((s.AF_INET, 5), ValueError, "type"),
    ],
)
def test_free_port_rejects_bad_arguments_by_name(
    args: tuple[object, ...], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        free_port(*args)  # type: ignore[arg-type]


async def test_loopback_pair_is_connected_both_ways_and_closed_after(
    family: tuple[int, str],
) -> None:
    async with loopback_pair(family[0]) as (client, server):
        assert await s.send(client, b"ping") == 4
        assert await s.recv(server, 16) == b"ping"
        assert await s.send(server, b"pong") == 4
        assert await s.recv(client, 16) == b"pong"
        assert s.sock_name(client) == s.peer_name(server)
        assert {client, server} <= open_fds()
    assert not {client, server} & open_fds()


async def test_loopback_pair_leaves_alone_a_number_reused_after_an_early_close() -> None:
    strangers: list[int] = []
    try:
        async with loopback_pair() as (client, _server):
            s.close(client)
            # The kernel hands out the lowest free numbers; the listener's is one.
            for _ in range(3):
                strangers.append(s.socket(s.AF_INET, s.SOCK_DGRAM))
            assert client in strangers
        assert set(strangers) <= open_fds()
    finally:
        for fd in strangers:
            s.close(fd)


async def test_loopback_pair_rejects_a_family_without_a_loopback_address() -> None:
    with pytest.raises(ValueError, match="family"):
        async with loopback_pair(s.AF_UNIX):
            pass


async def test_serve_echo_echoes_under_the_autojump_clock(
    family: tuple[int, str], autojump_clock: trio.testing.MockClock
) -> None:
    received = bytearray()
    async with serve_echo(family[0]) as address:
        assert address.address == family[1]
        async with net.connect(address.port, address.address) as client:
            client.on("data", received.extend)
            client.write("hello")
            await trio.sleep(3600)  # instant: the clock jumps
            client.end("world")
            await client.wait_closed()
    assert bytes(received) == b"helloworld"
    assert trio.current_time() >= 3600


async def test_serve_echo_destroys_connections_left_open_when_it_ends() -> None:
    client = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        async with serve_echo() as address:
            await s.connect(client, (address.address, address.port))
            await s.send(client, b"x")
            assert await s.recv(client, 16) == b"x"
        assert await s.recv(client, 16) == b""
    finally:
        s.close(client)


# --- the pytest plugin --------------------------------------------------------------

LEAKY_AND_CLEAN = """
import os
from pathlib import Path

def test_leaks(trionet_no_leaks):
    Path("leaked").write_text(str(os.open(os.devnull, os.O_RDONLY)))

def test_clean(trionet_no_leaks):
    os.close(os.open(os.devnull, os.O_RDONLY))
"""


@pytest.fixture
def user(pytester: pytest.Pytester) -> Iterator[pytest.Pytester]:
    """A user's project running trio tests; closes the fd its leaky test left open."""
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    yield pytester
    leaked = pytester.path / "leaked"
    if leaked.exists():
        os.close(int(leaked.read_text()))


def test_no_leaks_fixture_fails_a_leaky_test_and_passes_a_clean_one(
    user: pytest.Pytester,
) -> None:
    user.makepyfile(LEAKY_AND_CLEAN)
    result = user.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    leaked = int((user.path / "leaked").read_text())
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_leaks*", f"the test leaked fds: {{{leaked}: '/dev/null'}}"]
    )


def test_leak_check_is_off_for_tests_that_do_not_ask_for_it(user: pytest.Pytester) -> None:
    user.makepyfile(LEAKY_AND_CLEAN.replace("trionet_no_leaks", ""))
    user.runpytest().assert_outcomes(passed=2)


def test_ini_option_checks_every_test_but_those_marked_allow_leaks(
    user: pytest.Pytester,
) -> None:
    user.makeini("[pytest]\ntrio_mode = true\ntrionet_leak_check = true\n")
    user.makepyfile(
        """
        import os
        from pathlib import Path
        import pytest

        def test_leaks():
            Path("leaked").write_text(str(os.open(os.devnull, os.O_RDONLY)))

        @pytest.mark.trionet_allow_leaks
        def test_leaks_too():
            os.close(int(Path("leaked").read_text()))
            Path("leaked").write_text(str(os.open(os.devnull, os.O_RDONLY)))

        async def test_clean_async():
            pass
        """
    )
    result = user.runpytest("--strict-markers")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks *", "the test leaked fds: *"])


def test_echo_server_fixture_works_under_autojump_clock(user: pytest.Pytester) -> None:
    user.makepyfile(
        """
        import trio
        from trionet import net

        async def test_echo(trionet_echo_server, autojump_clock, trionet_no_leaks):
            echo_server = trionet_echo_server
            assert echo_server.address == "127.0.0.1"
            got = bytearray()
            async with net.connect(echo_server.port, echo_server.address) as client:
                client.on("data", got.extend)
                client.write("ping")
                await trio.sleep(60)
                client.set_timeout(5, client.end)
                await client.wait_closed()
            assert bytes(got) == b"ping"
            assert trio.current_time() >= 65
        """
    )
    user.runpytest().assert_outcomes(passed=1)


def test_free_port_fixtures_give_bindable_loopback_ports(user: pytest.Pytester) -> None:
    user.makepyfile(
        """
        import socket

        def test_ports(trionet_free_tcp_port, trionet_free_udp_port):
            for kind, port in ((socket.SOCK_STREAM, trionet_free_tcp_port),
                               (socket.SOCK_DGRAM, trionet_free_udp_port)):
                with socket.socket(socket.AF_INET, kind) as taker:
                    taker.bind(("127.0.0.1", port))
        """
    )
    # The ports were free a moment ago; another program may take one first
    # (that run fails with EADDRINUSE), so a few runs are allowed.
    for _ in range(5):
        result = user.runpytest()
        if result.ret == 0:
            break
        result.stdout.fnmatch_lines(["*Address already in use*"])
    result.assert_outcomes(passed=1)


def test_the_pytest11_entry_point_is_the_plugin_module() -> None:
    # pyproject names the plugin by its module path: a move must carry it along.
    (plugin,) = importlib.metadata.entry_points(group="pytest11", name="trionet")
    assert plugin.load() is importlib.import_module("trionet.testing._plugin")


def test_importing_trionet_testing_does_not_import_pytest() -> None:
    code = "import sys, trionet.testing; sys.exit('pytest' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], timeout=60, check=False)
    assert done.returncode == 0


def test_plugin_fixtures_are_all_named_trionet(user: pytest.Pytester) -> None:
    result = user.runpytest("--fixtures", "-v")
    ours = [
        line.split()[0]
        for line in result.stdout.lines
        if "testing/_plugin.py" in line and not line.startswith(" ")
    ]
    assert set(ours) >= {
        "trionet_no_leaks",
        "trionet_echo_server",
        "trionet_socket_pair",
        "trionet_tls",
        "trionet_free_tcp_port",
        "trionet_free_udp_port",
    }
    # -v lists the private autouse fixture too: it keeps the prefix.
    assert all(name.lstrip("_").startswith("trionet_") for name in ours), ours


def test_no_fixture_clash_with_anyio_and_httpx_installed(user: pytest.Pytester) -> None:
    pytest.importorskip("httpx")
    pytest.importorskip("anyio")
    user.makepyfile(
        """
        import socket

        import anyio
        import httpx
        import pytest

        def test_anyio_keeps_its_free_tcp_port(free_tcp_port, trionet_free_tcp_port):
            assert isinstance(free_tcp_port, int)
            assert isinstance(trionet_free_tcp_port, int)

        @pytest.mark.anyio
        async def test_an_anyio_test_runs_beside_trio_mode(anyio_backend):
            await anyio.sleep(0)

        async def test_a_trio_test_uses_trionet_fixtures(trionet_echo_server):
            assert trionet_echo_server.address == "127.0.0.1"
        """
    )
    user.makeconftest(
        """
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "trio"
        """
    )
    result = user.runpytest("-p", "anyio")
    result.assert_outcomes(passed=3)
    listed = user.runpytest("-p", "anyio", "--fixtures").stdout.lines
    for name in ("free_tcp_port", "free_udp_port"):
        defined = [line for line in listed if line.split(" ", 1)[0] == name]
        assert len(defined) == 1, defined
        assert f"{os.sep}anyio{os.sep}" in defined[0]


COMPAT_UNDER_LEAK_CHECK = """
    import os
    import threading
    from pathlib import Path

    import pytest
    from trionet import Timeout
    from trionet.compat import socket


    def _wait_once():
        fd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            socket.bind(fd, ("127.0.0.1", 0))
            with pytest.raises(Timeout):
                socket.recv(fd, timeout=0.01)  # waits: opens the thread's wake-up fd
        finally:
            socket.close(fd)


    def test_compat_in_the_main_thread():
        _wait_once()


    def test_compat_in_a_thread_of_the_test():
        thread = threading.Thread(target=_wait_once)
        thread.start()
        thread.join()


    def test_a_real_leak_is_still_reported():
        Path("leaked").write_text(str(os.open(os.devnull, os.O_RDONLY)))
"""


def test_compat_wake_fds_are_never_counted_as_leaks(user: pytest.Pytester) -> None:
    user.makeini("[pytest]\ntrio_mode = true\ntrionet_leak_check = true\n")
    user.makepyfile(COMPAT_UNDER_LEAK_CHECK)
    result = user.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_a_real_leak_is_still_reported*", "the test leaked fds: *"]
    )
    assert "eventfd" not in result.stdout.str()
