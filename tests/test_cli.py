"""The command line, driven as a user drives it: in a subprocess."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from _ports import refusing_port

from trionet._cli import main


def _trionet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trionet", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_console_script_is_the_same_command_line() -> None:
    # pyproject names the function by its module path: a move must carry it along.
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="trionet")
    assert script.load() is main
    path = shutil.which("trionet", path=str(Path(sys.executable).parent))
    assert path is not None, "the install put no trionet script beside its python"
    done = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: trionet")


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
        (["bench", "localhost"], "TARGET must be HOST:PORT"),
        # A name the resolver rejects by itself: no DNS query leaves the machine.
        (["bench", "no such host:1"], "TARGET: cannot resolve 'no such host'"),
        (["bench", "127.0.0.1:1", "--connections", "0"], "must be at least 1"),
        (["bench", "127.0.0.1:1", "--stream", "-1"], "must be 0 (ping-pong) or a number of MiB"),
        (["serve", "--subs", "-1"], "must be 0 or more"),
        (["serve", "--port", "abc"], "argument --port: expected a port number 0..65535, got 'abc'"),
        (["bench", "h:1", "--size", "x"], "argument --size: expected a whole number >= 1"),
        (
            ["serve", "--tls-cert", "/no/cert.pem", "--tls-key", "/no/key.pem"],
            "--tls-cert: no such file: '/no/cert.pem'",
        ),
        (["connect", "--tls", "--ca", "/no/ca.pem", "h", "1"], "--ca: no such file: '/no/ca.pem'"),
        (["connect", "--ca", "/no/ca.pem", "h", "1"], "--ca is for TLS: add --tls"),
    ],
)
def test_argument_errors_are_one_clear_line(args: list[str], message: str) -> None:
    done = _trionet(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "invalid _" not in done.stderr  # no internal function name
    # The command's own usage, not the top-level one.
    assert done.stderr.startswith(f"usage: trionet {args[0]} ")


def test_top_level_help_has_no_rest_markup() -> None:
    done = _trionet("--help")
    assert done.returncode == 0
    assert "``" not in done.stdout
    assert "python -m trionet" in done.stdout


def test_serve_help_explains_mode() -> None:
    done = _trionet("serve", "--help")
    assert "--mode {echo,discard,print}\n" in done.stdout
    assert "discard it" in done.stdout


def test_connect_errors_name_the_address_and_the_path(tmp_path: Path) -> None:
    with refusing_port() as port:
        refused = _connect("127.0.0.1", str(port), stdin="")
    assert f"'127.0.0.1:{port}'" in refused.stderr
    missing = str(tmp_path / "nobody.sock")
    absent = _connect("--unix", missing, stdin="")
    assert absent.returncode == 1
    assert repr(missing) in absent.stderr


def test_connect_in_plain_text_to_a_python_tls_server_says_to_use_tls() -> None:
    # Python's TLS server answers plain text with no alert: its handshake
    # fails, and it closes with the rest of our line unread, so the kernel
    # resets the connection. Both sides say what happened.
    leaf = trustme.CA().issue_cert("127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(context)
    failures: list[ssl.SSLError] = []

    def serve_tls(conn: socket.socket) -> None:
        try:
            context.wrap_socket(conn, server_side=True).close()
        except ssl.SSLError as exc:
            failures.append(exc)

    done = _connect_to_one_peer(serve_tls, stdin="hello\n")
    assert len(failures) == 1  # the server's side: its handshake failed
    assert done.returncode == 1
    assert "if it speaks TLS, connect with --tls" in done.stderr


def _connect_to_one_peer(
    peer: Callable[[socket.socket], None], stdin: str
) -> subprocess.CompletedProcess[str]:
    """Run ``connect`` against a loopback listener whose one connection ``peer`` handles."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept_one() -> None:
            conn, _ = listener.accept()
            with conn:
                peer(conn)

        thread = threading.Thread(target=accept_one)
        thread.start()
        try:
            return _connect("127.0.0.1", str(listener.getsockname()[1]), stdin=stdin)
        finally:
            thread.join(30)


def test_connect_in_plain_text_to_a_server_answering_tls_says_so() -> None:
    def answer_with_an_alert(conn: socket.socket) -> None:
        conn.recv(100)
        conn.sendall(b"\x15\x03\x03\x00\x02\x02\x46")  # protocol_version alert

    done = _connect_to_one_peer(answer_with_an_alert, stdin="hello\n")
    assert done.returncode == 1
    assert "the server speaks TLS: connect with --tls" in done.stderr
    assert done.stdout == ""


def test_bench_against_a_discard_server_gives_up_naming_it() -> None:
    server = _Server("--host", "127.0.0.1", "--mode", "discard")
    try:
        target = f"localhost:{server.port}"  # a host name, as connect takes
        done = _trionet("bench", target, "--connections", "1", "--timeout", "0.5")
    finally:
        server.stop()
    assert done.returncode == 1
    assert "nothing echoed in 0.5 s" in done.stderr
    assert repr(target) in done.stderr


def test_bench_takes_a_host_name_and_stream_0_is_ping_pong(echo_server: _Server) -> None:
    done = _trionet(
        "bench", f"localhost:{echo_server.port}", "--connections", "2", "--messages", "50",
        "--stream", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "round trips/s" in done.stdout


def test_plain_progress_rewrites_one_line_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trionet._cli._bench import Report, plain_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    plain_progress(Report(), 0.25)
    plain_progress(Report(), 0.5)
    plain_progress(Report(), 1.0)
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line, ended at 100 %
    assert err.count("\r") == 3
    assert err.endswith("\n")


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
        # Plain text to a TLS server: the server says so.
        _connect("localhost", server.port, stdin="hello\n")
    finally:
        stopped = server.stop()
    assert "trionet serve: connection closed by an error" in stopped.stderr
