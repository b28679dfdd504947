"""``net.connect``: lookup, happy eyeballs, local binding, Unix paths, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from _net_helpers import names, record, serving
from _ports import refusing_port
from trio.testing import MockClock

import trionet
from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True


async def test_host_name_is_looked_up_once_with_the_lookup_event(autojump_clock: MockClock) -> None:
    log: list[Any] = []
    async with serving() as served, net.Socket() as sock:
        record(sock, log)
        await sock.connect(served.port, "localhost", family=4)
    assert log[0] == ("lookup", None, "127.0.0.1", 4, "localhost")
    assert names(log)[:3] == ["lookup", "connect", "ready"]


async def test_numeric_host_emits_no_lookup(autojump_clock: MockClock) -> None:
    log: list[Any] = []
    async with serving() as served, net.Socket() as sock:
        record(sock, log)
        await sock.connect(served.port, "127.0.0.1")
    assert "lookup" not in names(log)


async def test_happy_eyeballs_falls_back_to_the_address_that_answers(
    autojump_clock: MockClock,
) -> None:
    asked: list[tuple[str, int]] = []

    async def lookup(host: str, family: int) -> list[str]:
        asked.append((host, family))
        return ["::1", "127.0.0.1"]  # nothing listens on ::1 at this port

    async with (
        serving() as served,
        net.connect(served.port, "example.test", lookup=lookup) as sock,
    ):
        assert sock.remote_address == "127.0.0.1"
        assert sock.remote_family == "IPv4"
    assert asked == [("example.test", 0)]


async def test_sync_lookup_and_family_six(autojump_clock: MockClock) -> None:
    async with (
        serving(host="::1") as served,
        net.connect(served.port, "name.test", family=6, lookup=lambda host, family: "::1") as sock,
    ):
        assert (sock.remote_address, sock.remote_family) == ("::1", "IPv6")


async def test_failed_lookup_is_reported_by_the_event_and_raised(autojump_clock: MockClock) -> None:
    log: list[Any] = []

    def lookup(host: str, family: int) -> str:
        raise OSError("no such host")

    async with net.Socket() as sock:
        record(sock, log)
        with pytest.raises(OSError, match="no such host"):
            await sock.connect(80, "nowhere.test", lookup=lookup)
    assert names(log) == ["lookup", "error", "close"]
    assert log[0][2:] == (None, None, "nowhere.test")


async def test_refused_connection_emits_error_and_close_and_raises(
    autojump_clock: MockClock,
) -> None:
    log: list[Any] = []
    with refusing_port() as port:
        with pytest.raises(ConnectionRefusedError):
            async with net.connect(port, "127.0.0.1", on_connect=lambda: log.append("never")):
                pass
        async with net.Socket() as sock:
            record(sock, log)
            with pytest.raises(ConnectionRefusedError):
                await sock.connect(port, "127.0.0.1")
    assert names(log) == ["error", "close"]
    assert log[1] == ("close", True)


async def test_connect_timeout_bounds_lookup_and_connect(autojump_clock: MockClock) -> None:
    async def slow_lookup(host: str, family: int) -> str:
        await trio.sleep_forever()
        raise AssertionError

    with pytest.raises(trionet.Timeout):
        async with net.connect(80, "slow.test", lookup=slow_lookup, connect_timeout=3):
            pass


async def test_destroy_during_connect_interrupts_it(autojump_clock: MockClock) -> None:
    async def slow_lookup(host: str, family: int) -> str:
        await trio.sleep_forever()
        raise AssertionError

    log: list[Any] = []
    async with net.Socket() as sock, trio.open_nursery() as nursery:
        record(sock, log)

        async def connect() -> None:
            with pytest.raises(trio.ClosedResourceError):
                await sock.connect(80, "slow.test", lookup=slow_lookup)

        nursery.start_soon(connect)
        await trio.sleep(1)
        assert sock.connecting
        sock.destroy()
    assert log == [("close", False)]


async def test_local_address_and_port(autojump_clock: MockClock) -> None:
    async with serving() as served:
        async with net.connect(served.port, "127.0.0.1", local_address="127.0.0.1") as sock:
            assert sock.local_address == "127.0.0.1"
            local_port = sock.local_port
        assert local_port is not None
        async with net.connect(served.port, "127.0.0.1", local_port=0) as sock:
            assert sock.local_port


async def test_unix_path(tmp_path: Path, autojump_clock: MockClock) -> None:
    path = str(tmp_path / "s.sock")
    async with net.create_server(lambda sock: sock.resume().end(b"hi")) as server:
        await server.listen(path=path)
        got = bytearray()
        async with net.create_connection(path=path) as sock:
            sock.on("data", got.extend)
            sock.set_no_delay()  # a no-op on Unix sockets
            await sock.wait_closed()
        assert got == b"hi"
        assert sock.remote_address is None
        server.close()


async def test_timeout_option_sets_the_idle_timeout(autojump_clock: MockClock) -> None:
    async with serving() as served, net.connect(served.port, "127.0.0.1", timeout=2) as sock:
        fired = trio.Event()
        sock.on("timeout", fired.set)
        assert sock.timeout == 2
        await fired.wait()


def test_arguments_are_checked_when_connect_is_called() -> None:
    with pytest.raises(TypeError, match="port"):
        net.connect()
    with pytest.raises(TypeError, match="port"):
        net.connect("80")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="family"):
        net.connect(80, family=5)
    with pytest.raises(ValueError, match="local_address"):
        net.connect(80, local_address="name")
    with pytest.raises(TypeError, match="lookup"):
        net.connect(80, lookup="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="connect_timeout"):
        net.connect(80, connect_timeout=-1)
    with pytest.raises(TypeError, match="allow_half_open"):
        net.connect(80, allow_half_open=None)  # type: ignore[arg-type]
    assert net.create_connection is net.connect
