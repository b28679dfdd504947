"""Libraries of the ecosystem over trionet, against real peers (SPEC 11, docs/ecosystem.md).

h11 and trio-websocket servers run over ``net.create_server`` against
``curl`` and Node's ``ws``; httpcore's pool and httpx run over
``trionet.httpcore.NetworkBackend`` against the h11 example and Python's
``http.server``. Everything is on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpcore
import httpx
import pytest
import trio
from _net_helpers import until
from _tls_pair import ca, server_tls
from test_cli import _tool
from test_examples import EXAMPLES, _run

from trionet.httpcore import NetworkBackend


def _load(name: str) -> ModuleType:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))  # as when the example runs as a program
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


h11_server = _load("h11_server")
httpx_client = _load("httpx_client")
websocket_server = _load("websocket_server")


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def node_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder where ``require('ws')`` works: Node's ``ws``, installed by npm now."""
    node, npm = _tool("node"), _tool("npm")
    del node
    folder = tmp_path_factory.mktemp("node_ws")
    done = subprocess.run(
        # From npm's cache when it holds ws: the registry is asked once per machine.
        [npm, "install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", "ws"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"npm install ws failed: {done.stderr}")
        pytest.skip(f"npm install ws failed (no registry?): {done.stderr[-200:]}")
    return folder


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca().configure_trust(context)
    return context


# -- h11 over net.create_server, against curl ----------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_curl_makes_100_keep_alive_requests_to_the_h11_server(
    tls: bool, ca_file: Path
) -> None:
    curl = _tool("curl")
    scheme = "https" if tls else "http"
    async with h11_server.serving(tls=server_tls() if tls else None) as (port, stats):
        urls = [f"{scheme}://localhost:{port}/{i}" for i in range(100)]
        done = await trio.run_process(
            [curl, "-sS", "--fail", "--cacert", str(ca_file), *urls],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines == [f"hello from trionet: /{i}" for i in range(100)]
    assert (stats.connections, stats.requests) == (1, 100)


def test_h11_server_example_runs_as_a_program() -> None:
    _tool("curl")
    out = _run("h11_server.py")
    assert out.count("hello from trionet: /hello") == 3
    assert "3 requests over 1 connection(s)" in out


# -- httpcore's pool and httpx ------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_httpcore_pool_replaces_dead_keep_alive_connections(tls: bool) -> None:
    """100 requests; the server drops each connection after its 10th response.

    Each time, the test waits until the server has closed the connection,
    which then lies idle and dead in the pool: the pool must see that
    (``is_readable``) and connect anew, never failing a request with
    ``RemoteProtocolError``.
    """
    scheme = "https" if tls else "http"
    async with (
        h11_server.serving(tls=server_tls() if tls else None, close_after=10) as (port, stats),
        httpcore.AsyncConnectionPool(
            network_backend=NetworkBackend(), ssl_context=_client_context()
        ) as pool,
    ):
        for i in range(100):
            response = await pool.request("GET", f"{scheme}://localhost:{port}/{i}")
            assert response.status == 200
            assert response.content == f"hello from trionet: /{i}\n".encode()
            if i % 10 == 9:
                await until(lambda done=(i + 1) // 10: stats.closed == done)
    assert (stats.connections, stats.requests) == (10, 100)


async def test_httpcore_pool_against_pythons_http_server() -> None:
    assert await _load("httpcore_pool").main(count=100) == [200] * 100


async def test_httpcore_network_stream_answers_what_httpcore_asks() -> None:
    async with h11_server.serving(tls=server_tls()) as (port, _stats):
        backend = NetworkBackend()
        stream = await backend.connect_tcp("localhost", port, timeout=5)
        try:
            assert stream.get_extra_info("ssl_object") is None
            tls = await stream.start_tls(_client_context(), "localhost", timeout=5)
            assert tls.get_extra_info("ssl_object") is not None
            assert tls.get_extra_info("server_addr") == ("127.0.0.1", port)
            assert tls.get_extra_info("client_addr")[0] == "127.0.0.1"
            assert tls.get_extra_info("is_readable") is False
            assert tls.get_extra_info("nothing such") is None
        finally:
            await stream.aclose()


async def test_httpcore_errors_are_httpcores() -> None:
    backend = NetworkBackend()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = int(listeners[0].socket.getsockname()[1])
    await listeners[0].aclose()
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("127.0.0.1", port)
    async with h11_server.serving() as (port, _stats):
        stream = await backend.connect_tcp("127.0.0.1", port)
        try:
            with pytest.raises(httpcore.ReadTimeout):
                await stream.read(100, timeout=0.05)
        finally:
            await stream.aclose()
        with pytest.raises(httpcore.ReadError):
            await stream.read(100)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_httpx_client_through_a_public_api_transport(tls: bool) -> None:
    scheme = "https" if tls else "http"
    async with (
        h11_server.serving(tls=server_tls() if tls else None, close_after=25) as (port, stats),
        httpx.AsyncClient(transport=httpx_client.TrionetTransport(_client_context())) as client,
    ):
        for i in range(100):
            response = await client.get(f"{scheme}://localhost:{port}/{i}")
            assert response.status_code == 200
            assert response.text == f"hello from trionet: /{i}\n"
            if i % 25 == 24:
                await until(lambda done=(i + 1) // 25: stats.closed == done)
    assert (stats.connections, stats.requests) == (4, 100)


def test_httpx_example_runs_as_a_program() -> None:
    assert "hello from trionet: /hello" in _run("httpx_client.py")


# -- trio-websocket over net.create_server, against Node's ws -------------------

_NODE_WS_CLIENT = """
const fs = require('fs');
const WebSocket = require('ws');
const [url, count, caPath] = process.argv.slice(1);
const ws = new WebSocket(url, caPath ? {ca: fs.readFileSync(caPath)} : {});
let got = 0;
ws.on('open', () => { for (let i = 0; i < +count; i++) ws.send('message ' + i); });
ws.on('message', (data) => {
  if (String(data) !== 'message ' + got) { console.error('bad', String(data)); process.exit(1); }
  if (++got === +count) ws.close();
});
ws.on('close', () => { console.log('echoed ' + got); });
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
"""


@pytest.mark.parametrize("tls", [False, True], ids=["ws", "wss"])
async def test_node_ws_client_talks_to_the_trio_websocket_server(
    tls: bool, node_ws: Path, ca_file: Path
) -> None:
    node = _tool("node")
    scheme = "wss" if tls else "ws"
    async with websocket_server.serving(tls=server_tls() if tls else None) as port:
        args = [f"{scheme}://localhost:{port}/", "1000"] + ([str(ca_file)] if tls else [])
        done = await trio.run_process(
            [node, "-e", _NODE_WS_CLIENT, *args],
            cwd=node_ws,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "echoed 1000"


async def test_websocket_example_echoes() -> None:
    assert await websocket_server.main() == ["message 0", "message 1", "message 2"]
