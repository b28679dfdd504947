"""Deployment features (SPEC 10): socket activation, graceful shutdown, reuse_port.

Socket activation is tested with Debian's ``systemd-socket-activate``,
which binds the sockets, then runs the service with them as fds 3, 4, ...
and ``LISTEN_FDS`` / ``LISTEN_PID`` / ``LISTEN_FDNAMES`` set.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket as stdsocket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from _ports import quiet_port, retry_on_addr_in_use
from test_cli import _tool
from trio.testing import MockClock

from trionet import net


def _echo_once(port: int, payload: bytes) -> bytes:
    with stdsocket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(payload)
        client.shutdown(stdsocket.SHUT_WR)
        got = b""
        while chunk := client.recv(1024):
            got += chunk
    return got


def _activate(*command: str, names: str | None = None) -> tuple[int, subprocess.Popen[bytes]]:
    """``systemd-socket-activate -l 127.0.0.1:PORT command...``, bound once this returns.

    It takes no port 0, so PORT is a quiet one (``tests/_ports.py``), and
    another while the one tried is in use.
    """
    options = [f"--fdname={names}"] if names else []

    def attempt() -> tuple[int, subprocess.Popen[bytes]]:
        port = quiet_port()
        process = subprocess.Popen(
            [_tool("systemd-socket-activate"), "-l", f"127.0.0.1:{port}", *options, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # It reports on stderr once it listens ("Listening on 127.0.0.1:port as 3.").
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        if "Listening on" in line:
            return port, process
        process.communicate(timeout=20)
        if "Address already in use" in line:
            raise OSError(errno.EADDRINUSE, line)
        raise AssertionError(line)

    return retry_on_addr_in_use(attempt)


def test_trionet_serve_systemd_under_systemd_socket_activate() -> None:
    port, process = _activate(sys.executable, "-m", "trionet", "serve", "--systemd")
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
    code = (
        "from trionet import net; import os; "
        "print(net.listen_fds('web'), net.listen_fds(), 'LISTEN_FDS' in os.environ)"
    )
    port, process = _activate(sys.executable, "-c", code, names="web")
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


# -- a restart that refuses nobody (examples/graceful_restart.py) -------------

RESTART = Path(__file__).resolve().parents[1] / "examples" / "graceful_restart.py"


def _start_copy(name: str, port: int, activated: stdsocket.socket | None = None) -> Any:
    """A copy of the example; with ``activated``, that socket is its fd 3, as from systemd.

    With port 0 it listens on a port of the kernel's choice: ``process.port``.
    """
    command = [sys.executable, str(RESTART), str(port), name]
    if activated is not None:
        # The socket comes in as stdin; the shell moves it to fd 3 and sets
        # LISTEN_PID to its own pid, which exec keeps for Python.
        script = 'exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" "$@"'
        command = ["sh", "-c", script, *command]
    process = subprocess.Popen(command, stdin=activated, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith(f"{name} listening on port "), line
    process.port = int(line.split()[-1])
    assert port in (0, process.port), line
    return process


def _ask(client: stdsocket.socket, payload: bytes) -> bytes:
    client.sendall(payload)
    return client.recv(1024)


class _Clients(threading.Thread):
    """Fresh connections one after another, each asking once, until told to stop."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.replies: list[bytes] = []
        self.errors: list[OSError] = []
        self.stopping = threading.Event()
        self.turn = threading.Lock()  # held by the test: no connection is under way

    def run(self) -> None:
        for number in range(100_000):  # bounded; stopped long before
            if self.stopping.is_set():
                return
            with self.turn:
                try:
                    with stdsocket.create_connection(("127.0.0.1", self.port), timeout=20) as c:
                        self.replies.append(_ask(c, str(number).encode()))
                except OSError as error:
                    self.errors.append(error)

    def served_by(self, name: str) -> int:
        return sum(reply.startswith(name.encode() + b" ") for reply in self.replies)

    def wait_for(self, name: str, count: int) -> None:
        for _ in range(2000):  # up to 20 s
            if self.served_by(name) >= count:
                return
            time.sleep(0.01)
        raise AssertionError(f"{name} served {self.served_by(name)} of {count}")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def _listeners(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (state 0A in /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(row.split()[1] == local and row.split()[3] == "0A" for row in rows)


def _stop(process: Any, name: str) -> None:
    """SIGTERM, then the copy must drain and exit cleanly."""
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert (process.returncode, out) == (0, f"{name} drained\n")


@contextlib.contextmanager
def _old_copy_serving(
    port: int, activated: stdsocket.socket | None = None
) -> Iterator[tuple[Any, stdsocket.socket, _Clients, list[Any]]]:
    """The old copy serving a held connection and a client connecting in a loop.

    Yields the old copy (listening on ``old.port``: ``port``, or the kernel's
    choice for 0), the held connection, the clients and a list to put the
    new copy in; at the end no client may have met an error, and the new
    copy must stop cleanly.
    """
    old = _start_copy("old", port, activated)
    held = stdsocket.create_connection(("127.0.0.1", old.port), timeout=20)
    clients = _Clients(old.port)
    copies = [old]
    try:
        assert _ask(held, b"1") == b"old 1"
        clients.start()
        clients.wait_for("old", 5)
        yield old, held, clients, copies
        clients.stop()
        assert clients.errors == []
        for new in copies[1:]:
            _stop(new, "new")
    finally:
        if clients.ident is not None:
            clients.stop()
        held.close()
        for process in copies:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=20)


def _drained(old: Any, held: stdsocket.socket) -> None:
    """The old copy no longer accepts, still serves what it holds, and exits once that closes."""
    assert _ask(held, b"2") == b"old 2"
    assert old.poll() is None
    held.close()
    out, _ = old.communicate(timeout=30)
    assert (old.returncode, out) == (0, "old drained\n")


def test_a_reuse_port_restart_drains_the_old_copy_and_refuses_nobody() -> None:
    with _old_copy_serving(0) as (old, held, clients, copies):
        port = old.port
        new = _start_copy("new", port)  # both listen: the kernel spreads connections
        copies.append(new)
        clients.wait_for("new", 5)
        # Linux resets what waits in a reuse_port listener's accept queue when
        # it closes (unless net.ipv4.tcp_migrate_req=1): no client is
        # connecting at that moment here; docs/deploy.md says so.
        with clients.turn:
            old.send_signal(signal.SIGTERM)
            for _ in range(2000):  # up to 20 s
                if _listeners(port) == 1:
                    break
                time.sleep(0.01)
            assert _listeners(port) == 1
        clients.wait_for("new", clients.served_by("new") + 20)
        _drained(old, held)


def test_a_socket_activated_restart_keeps_every_connection() -> None:
    # The test plays systemd: it owns the listening socket and passes it to
    # each copy in turn; connections that come while no copy accepts wait
    # in its backlog.
    with stdsocket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        with _old_copy_serving(port, listener) as (old, held, clients, copies):
            old.send_signal(signal.SIGTERM)  # systemctl restart: stop, then start
            _drained(old, held)
            new = _start_copy("new", port, activated=listener)
            copies.append(new)
            clients.wait_for("new", 20)
        assert all(reply.startswith((b"old ", b"new ")) for reply in clients.replies)
