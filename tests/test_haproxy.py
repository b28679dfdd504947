"""The real HAProxy (Debian's package) with ``send-proxy-v2`` in front of trionet servers.

HAProxy listens on 127.0.0.1 and forwards to the trionet server, opening
each connection with a PROXY v2 header. The client binds 127.0.0.5 (all
of 127/8 is loopback on Linux), so the server can tell the client's
address, which the header carries, from HAProxy's own (127.0.0.1).
"""

from __future__ import annotations

import contextlib
import socket as stdsocket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import trio
from test_cli import _tool

import trionet
from trionet import net
from trionet.tcp import Tcp

CLIENT = "127.0.0.5"


@contextlib.contextmanager
def haproxy(tmp_path: Path, backend_port: int, option: str = "send-proxy-v2") -> Iterator[int]:
    """Run HAProxy in the foreground in front of ``backend_port``; yield its port.

    HAProxy inherits its listener (``bind fd@N``), bound to port 0 here, so
    no other program can take the port between choosing and binding it.
    """
    listener = stdsocket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = int(listener.getsockname()[1])
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""
global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend front
    bind fd@{listener.fileno()}
    default_backend trionet
backend trionet
    server s1 127.0.0.1:{backend_port} {option}
"""
    )
    with listener:
        process = subprocess.Popen(
            [_tool("haproxy"), "-db", "-f", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
        )
    try:
        yield port
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
        assert process.returncode in (0, 143, -15), output.decode()


async def _ask(port: int, payload: bytes) -> tuple[bytes, int]:
    """Connect from ``CLIENT``, send, read to the end; return the reply and our port.

    HAProxy's listener exists before HAProxy starts, so the connect never
    waits for it: the kernel queues it until HAProxy accepts.
    """
    sock = trio.socket.socket()
    await sock.bind((CLIENT, 0))
    try:
        await sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    local_port = sock.getsockname()[1]
    async with trio.SocketStream(sock) as stream:
        await stream.send_all(payload)
        await stream.send_eof()
        got = b""
        while chunk := await stream.receive_some():
            got += chunk
    return got, local_port


async def test_the_client_address_reaches_remote_address_through_haproxy(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str | None, int | None, str | None]] = []

    async def listener(sock: net.Socket) -> None:
        seen.append((sock.remote_address, sock.remote_port, sock.remote_family))
        sock.on("data", sock.write)

    async with net.create_server(listener, proxy_protocol=True) as server:
        await server.listen(0, "127.0.0.1")
        with haproxy(tmp_path, server.address_info().port) as port:
            got, client_port = await _ask(port, b"hello through haproxy")
            again, second_port = await _ask(port, b"twice")
        server.close()
    assert (got, again) == (b"hello through haproxy", b"twice")
    assert seen == [(CLIENT, client_port, "IPv4"), (CLIENT, second_port, "IPv4")]


async def test_tcp_serve_behind_haproxy_with_v1(tmp_path: Path) -> None:
    remotes: list[trionet.SockAddr] = []

    async def handler(tcp: Tcp, remote: trionet.SockAddr) -> None:
        remotes.append(remote)
        while data := await tcp.recv():
            await tcp.send_all(data)

    async with Tcp.create_server(("127.0.0.1", 0)) as listener, trio.open_nursery() as nursery:

        async def serve(task_status: trio.TaskStatus[None]) -> None:
            await listener.serve(handler, proxy_protocol=True, task_status=task_status)

        await nursery.start(serve)
        with haproxy(tmp_path, listener.sock_name().port, "send-proxy") as port:
            got, client_port = await _ask(port, b"v1")
        nursery.cancel_scope.cancel()
    assert got == b"v1"
    assert remotes == [trionet.SockAddr(CLIENT, client_port)]
