"""Deployment features (SPEC 10): socket activation, graceful shutdown, reuse_port.

Socket activation is tested with Debian's ``systemd-socket-activate``,
which binds the sockets, then runs the service with them as fds 3, 4, ...
and ``LISTEN_FDS`` / ``LISTEN_PID`` / ``LISTEN_FDNAMES`` set.
"""

from __future__ import annotations

import os
import signal
import socket as stdsocket
import subprocess
import sys
from typing import Any

import pytest
import trio
from test_cli import _tool
from trio.testing import MockClock

from trionet import net


def _free_port() -> int:
    with stdsocket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _echo_once(port: int, payload: bytes) -> bytes:
    with stdsocket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(payload)
        client.shutdown(stdsocket.SHUT_WR)
        got = b""
        while chunk := client.recv(1024):
            got += chunk
    return got


def _activate(port: int, *command: str, names: str | None = None) -> subprocess.Popen[bytes]:
    """``systemd-socket-activate -l 127.0.0.1:port command...``, bound once this returns."""
    options = [f"--fdname={names}"] if names else []
    process = subprocess.Popen(
        [_tool("systemd-socket-activate"), "-l", f"127.0.0.1:{port}", *options, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # It reports on stderr once it listens ("Listening on 127.0.0.1:port as 3.").
    assert process.stderr is not None
    line = process.stderr.readline().decode()
    assert "Listening on" in line, line
    return process


def test_trionet_serve_systemd_under_systemd_socket_activate() -> None:
    port = _free_port()
    process = _activate(port, sys.executable, "-m", "trionet", "serve", "--systemd")
    try:
        # The first connection makes it start the service, which then accepts it.
        assert _echo_once(port, b"activated") == b"activated"
        assert _echo_once(port, b"again") == b"again"
        assert process.stdout is not None
        assert process.stdout.readline().decode() == f"listening on 127.0.0.1:{port}\n"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()


def test_listen_fds_by_name_under_systemd_socket_activate() -> None:
    port = _free_port()
    code = (
        "from trionet import net; import os; "
        "print(net.listen_fds('web'), net.listen_fds(), 'LISTEN_FDS' in os.environ)"
    )
    process = _activate(port, sys.executable, "-c", code, names="web")
    with stdsocket.create_connection(("127.0.0.1", port), timeout=20):
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()
    # The variables are gone after the first call, as with sd_listen_fds(1).
    assert out.decode() == "[3] [] False\n"


def test_serve_systemd_without_sockets_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    done = subprocess.run(
        [sys.executable, "-m", "trionet", "serve", "--systemd"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "--systemd: no sockets were passed" in done.stderr


def test_listen_fds_ignores_another_pids_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISTEN_FDS", "2")
    monkeypatch.setenv("LISTEN_PID", str(os.getpid() + 1))
    assert net.listen_fds() == []
    assert "LISTEN_FDS" not in os.environ
    assert net.listen_fds() == []  # nothing set at all


@pytest.mark.parametrize(
    ("count", "names", "message"),
    [("two", None, "LISTEN_FDS must be a number"), ("1", "a:b", "names 2 fds")],
)
def test_listen_fds_rejects_malformed_variables(
    monkeypatch: pytest.MonkeyPatch, count: str, names: str | None, message: str
) -> None:
    monkeypatch.setenv("LISTEN_FDS", count)
    monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
    if names is not None:
        monkeypatch.setenv("LISTEN_FDNAMES", names)
    with pytest.raises(ValueError, match=message):
        net.listen_fds()


def test_listen_fds_name_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="name"):
        net.listen_fds(3)  # type: ignore[arg-type]


# -- shutdown(timeout) --------------------------------------------------------


async def _hold_open(server: net.Server, log: list[Any]) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", server.address_info().port)
    await stream.send_all(b"?")
    assert await stream.receive_some() == b"?"  # served: the server holds it open
    log.append("connected")
    return stream


async def _ended(stream: trio.SocketStream) -> bool:
    """Whether the server ended the connection (a FIN or a reset) before sending more."""
    try:
        return await stream.receive_some() == b""
    except trio.BrokenResourceError:
        return True


@pytest.mark.parametrize("subs", [0, 2])
async def test_shutdown_cuts_what_is_left_when_time_runs_out(
    autojump_clock: MockClock, subs: int
) -> None:
    log: list[Any] = []
    async with net.create_server(lambda sock: sock.on("data", sock.write), subs=subs) as server:
        server.on("close", lambda: log.append("close"))
        await server.listen(0, "127.0.0.1")
        streams = [await _hold_open(server, log) for _ in range(3)]
        start = trio.current_time()
        await server.shutdown(5)
        assert trio.current_time() - start == pytest.approx(5.0)
        assert log[-1] == "close"
        assert not server.listening
        for stream in streams:
            async with stream:
                assert await _ended(stream)


async def test_shutdown_returns_as_soon_as_connections_finish(autojump_clock: MockClock) -> None:
    log: list[Any] = []

    def listener(sock: net.Socket) -> None:
        sock.on("data", sock.write)

    async with net.create_server(listener) as server:
        await server.listen(0, "127.0.0.1")
        stream = await _hold_open(server, log)

        async def finish_later() -> None:
            await trio.sleep(1)
            await stream.send_all(b"last words")
            await stream.send_eof()
            assert await stream.receive_some() == b"last words"

        async with trio.open_nursery() as nursery:
            nursery.start_soon(finish_later)
            start = trio.current_time()
            await server.shutdown(30)
            assert 1 <= trio.current_time() - start < 2
        await stream.aclose()


async def test_shutdown_of_a_closed_server_returns_and_a_sub_refuses() -> None:
    async with net.create_server() as server:
        await server.shutdown(1)  # never listened: nothing to wait for
        await server.listen(0, "127.0.0.1")
        await server.shutdown(0)
        await server.shutdown()
    with pytest.raises(ValueError, match="timeout"):
        await net.create_server().shutdown(-1)


# -- reuse_port ---------------------------------------------------------------


async def test_reuse_port_lets_two_servers_share_a_port() -> None:
    served = {"a": 0, "b": 0}

    def counting(name: str) -> Any:
        def listener(sock: net.Socket) -> None:
            served[name] += 1
            sock.end(name)
            sock.resume()  # read on, to see the client close

        return listener

    async with (
        net.create_server(counting("a"), reuse_port=True) as first,
        net.create_server(counting("b"), reuse_port=True) as second,
    ):
        await first.listen(0, "127.0.0.1")
        port = first.address_info().port
        await second.listen(port, "127.0.0.1")
        for _ in range(40):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                while await stream.receive_some():
                    pass
        first.close()
        second.close()
    # The kernel hashes each connection's addresses: both get some of 40
    # (the chance that one gets none is 2**-39).
    assert served["a"] + served["b"] == 40
    assert served["a"] > 0
    assert served["b"] > 0


async def test_without_reuse_port_the_second_listen_is_address_in_use() -> None:
    async with net.create_server() as first, net.create_server() as second:
        await first.listen(0, "127.0.0.1")
        with pytest.raises(OSError, match="in use"):
            await second.listen(first.address_info().port, "127.0.0.1")
        first.close()
