"""The command line, driven as a user drives it: in a subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from _ports import refusing_port


def _trionet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trionet", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_runs_every_scene_and_exits_zero() -> None:
    done = _trionet("demo")
    assert done.returncode == 0, done.stderr
    assert "fd level" in done.stdout
    assert "raised Timeout" in done.stdout
    assert "is_eof = True" in done.stdout
    assert "client got b'echo me' back" in done.stdout
    assert "it got b'pong' back" in done.stdout
    assert "client got b'HANDED OVER'" in done.stdout
    assert "sync client got b'from a sync client' back" in done.stdout
    assert "sync client recv(timeout=0.2) raised Timeout" in done.stdout
    events = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("client: ")]
    assert events == ["'connect'", "'data'", "'finish'", "'end'", "'close'"]
    assert "client: 'data' b'hello, net'" in done.stdout
    assert "client: 'close' False" in done.stdout
    assert "server: 'connection' from 127.0.0.1:" in done.stdout
    for name in ("alpha.test", "beta.test"):
        line = f"asking for {name}: got the {name} certificate (verified), encrypted=True"
        assert line in done.stdout
    assert "certificate is not valid for 'gamma.test'" in done.stdout
    assert "distribution: root 2, server/sub1 2, server/sub2 2" in done.stdout
    assert done.stderr == ""


def test_help_lists_the_commands() -> None:
    done = _trionet("--help")
    assert done.returncode == 0
    assert "demo" in done.stdout


def test_an_unknown_command_is_one_clear_error() -> None:
    done = _trionet("nonsense")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


class _Server:
    """``trionet serve`` in a subprocess, stopped with SIGINT when the test ends."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "trionet", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        assert first.startswith("listening on "), first + self._stderr()
        self.where = first.removeprefix("listening on ").strip()

    @property
    def port(self) -> str:
        return self.where.rpartition(":")[2]

    def _stderr(self) -> str:
        self.process.kill()
        return self.process.communicate(timeout=10)[1]

    def stop(self) -> subprocess.CompletedProcess[str]:
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=20)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)


@pytest.fixture
def echo_server() -> Iterator[_Server]:
    server = _Server("--host", "127.0.0.1")
    try:
        yield server
    finally:
        if server.process.returncode is None:
            server.stop()


def _connect(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trionet", "connect", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_connect_pipes_stdin_through_an_echo_server_and_back(echo_server: _Server) -> None:
    done = _connect("127.0.0.1", echo_server.port, stdin="hello\nworld\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello\nworld\n", "")


def test_serve_exits_cleanly_on_sigint(echo_server: _Server) -> None:
    stopped = echo_server.stop()
    assert stopped.returncode == 0
    assert "Traceback" not in stopped.stderr


def test_serve_exits_cleanly_on_sigterm() -> None:
    server = _Server("--host", "127.0.0.1")
    server.process.send_signal(signal.SIGTERM)
    _out, err = server.process.communicate(timeout=20)
    assert server.process.returncode == 0
    assert "Traceback" not in err


def test_print_mode_prints_what_comes() -> None:
    server = _Server("--host", "127.0.0.1", "--mode", "print")
    try:
        done = _connect("127.0.0.1", server.port, stdin="to be printed\n")
        assert done.returncode == 0
        assert done.stdout == ""
    finally:
        stopped = server.stop()
    assert stopped.stdout == "to be printed\n"


def test_a_unix_socket_serves_and_is_removed_afterwards(tmp_path: Path) -> None:
    path = tmp_path / "echo.sock"
    server = _Server("--unix", str(path))
    try:
        assert server.where == str(path)
        done = _connect("--unix", str(path), stdin="over unix\n")
        assert (done.returncode, done.stdout) == (0, "over unix\n")
    finally:
        server.stop()
    assert not path.exists()


def test_node_net_client_talks_to_serve(echo_server: _Server) -> None:
    node = _tool("node")
    script = (
        "const net = require('net');"
        f"const c = net.connect({echo_server.port}, '127.0.0.1', () => c.end('from node'));"
        "let got = ''; c.on('data', d => got += d);"
        "c.on('close', () => process.stdout.write(got));"
    )
    done = subprocess.run(
        [node, "-e", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stdout) == (0, "from node"), done.stderr


def test_curl_telnet_client_talks_to_serve(echo_server: _Server) -> None:
    curl = _tool("curl")
    # curl's telnet client sends stdin and prints what comes back; it never
    # half-closes, so it ends on its own timer (exit 28) after the echo.
    done = subprocess.run(
        [curl, "-s", "-m", "1", f"telnet://127.0.0.1:{echo_server.port}"],
        input="from curl\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.stdout == "from curl\n"


def test_connect_refused_is_one_line_and_exit_status_1() -> None:
    with refusing_port() as port:
        done = _connect("127.0.0.1", str(port), stdin="")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "refused" in done.stderr


def test_bench_against_serve_reports_rates_and_percentiles(echo_server: _Server) -> None:
    done = _trionet(
        "bench", echo_server.where, "--connections", "4", "--messages", "200", "--size", "32"
    )
    assert done.returncode == 0, done.stderr
    assert "round trips/s" in done.stdout
    assert "p50" in done.stdout
    assert "p99" in done.stdout


def test_bench_stream_mode_reports_mib_per_second(echo_server: _Server) -> None:
    done = _trionet("bench", echo_server.where, "--connections", "2", "--stream", "4")
    assert done.returncode == 0, done.stderr
    assert "MiB/s" in done.stdout


@pytest.mark.parametrize("command", ["demo", "serve", "connect", "bench"])
def test_every_command_has_help(command: str) -> None:
    done = _trionet(command, "--help")
    assert done.returncode == 0
    assert "usage: trionet " + command in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "70000"], "port must be 0..65535"),
        (["serve", "--tls-cert", "x.pem"], "--tls-cert and --tls-key go together"),
        (["connect", "127.0.0.1"], "give HOST PORT, or --unix PATH"),
        (["connect", "--timeout", "-1", "h", "1"], "must be a number of seconds"),
        (["bench", "localhost"], "TARGET must be a numeric HOST:PORT"),
        (["bench", "127.0.0.1:1", "--connections", "0"], "must be at least 1"),
        (["bench", "127.0.0.1:1", "--stream", "-1"], "must be a positive number of MiB"),
        (["serve", "--subs", "-1"], "must be 0 or more"),
        (["serve", "--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"], "no such file"),
    ],
)
def test_argument_errors_are_one_clear_line(args: list[str], message: str) -> None:
    done = _trionet(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def _tool(name: str) -> str:
    """A client program; CI installs it (.ci/run), so there its absence fails."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed, yet .ci/run installs it")
        pytest.skip(f"{name} is not installed")
    return path


def test_tls_serve_and_connect_verify_with_the_given_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    pem = str(tmp_path / "server.pem")
    server = _Server("--host", "127.0.0.1", "--tls-cert", pem, "--tls-key", pem)
    try:
        done = _connect(
            "--tls", "--ca", str(tmp_path / "ca.pem"), "localhost", server.port, stdin="secret\n"
        )
        assert (done.returncode, done.stdout) == (0, "secret\n"), done.stderr
        untrusted = _connect("--tls", "localhost", server.port, stdin="x")
        assert untrusted.returncode == 1
        assert untrusted.stderr.count("\n") == 1
        assert "certificate verify failed" in untrusted.stderr
    finally:
        server.stop()
