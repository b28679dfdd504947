"""Echo servers for the benchmark, one per implementation, each run in its own process.

Usage: ``python bench/servers.py KIND PORT`` with KIND one of ``trionet``
(the fd level), ``trionet-tcp`` (``Tcp.serve``), ``trionet-handoff`` (the
root accepts, two worker tasks serve), ``net`` (``trionet.net``: a
``'data'`` listener that writes each chunk back), ``net-pull``
(``async for`` + ``send_all`` on a ``net.Socket``), ``net-pipe`` (the same
with Node's ``pipe()`` backpressure: pause when ``write()`` returns
``False``, resume on ``'drain'``), ``trio``, ``asyncio``, and the
thread-per-connection servers ``compat`` (``trionet.compat.socket``) and
``stdlib`` (blocking ``socket.socket``). Prints ``READY <port>`` once
listening and serves until killed. Every server reads up to 64 KiB and
writes back all of it.
"""

from __future__ import annotations

import asyncio
import itertools
import resource
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from functools import partial

import trio
from trionet.compat import socket as sync_fd

from trionet import net, task
from trionet import socket as fd
from trionet.tcp import Tcp

CHUNK = 65536
# Enough descriptors for the idle-memory rows (2,000 connections) with room to spare.
MIN_FDS = 8192


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MIN_FDS if hard == resource.RLIM_INFINITY else min(MIN_FDS, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def trionet_server(port: int) -> None:
    listener = fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    fd.set_reuse_addr(listener, True)
    fd.bind(listener, ("127.0.0.1", port))
    fd.listen(listener, 1024)
    print("READY", fd.sock_name(listener).port, flush=True)  # type: ignore[union-attr]

    async def echo(conn: int) -> None:
        # No buffer held per connection: an idle connection costs only its fd.
        try:
            while data := await fd.recv(conn, CHUNK):
                view = memoryview(data)
                while view:
                    view = view[await fd.send(conn, view) :]
        except OSError:
            return
        finally:
            fd.close(conn)

    async with trio.open_nursery() as nursery:
        while True:
            conn, _ = await fd.accept(listener)
            fd.set_no_delay(conn, True)
            nursery.start_soon(echo, conn)


async def tcp_server(port: int) -> None:
    server = Tcp.create_server(("127.0.0.1", port), backlog=1024)
    print("READY", server.sock_name().port, flush=True)  # type: ignore[union-attr]

    async def echo(conn: Tcp, _remote: object) -> None:
        conn.set_no_delay(True)
        try:
            while data := await conn.recv(CHUNK):
                await conn.send_all(data)
        except OSError:
            return

    async with server:
        await server.serve(echo)


async def _handoff_worker() -> None:
    async with trio.open_nursery() as nursery:
        while True:
            message, _sender = await task.recv()
            nursery.start_soon(_echo_adopted, message.claim())


async def _echo_adopted(fd_number: int) -> None:
    async with Tcp.create_by_fd(fd_number) as conn:
        try:
            while data := await conn.recv(CHUNK):
                await conn.send_all(data)
        except OSError:
            return


async def handoff_server(port: int) -> None:
    """The root accepts; two worker tasks (own trio runs) serve, round-robin."""
    server = Tcp.create_server(("127.0.0.1", port), backlog=1024)
    async with (
        server,
        task.open_task(_handoff_worker, name="worker-0") as first,
        task.open_task(_handoff_worker, name="worker-1") as second,
    ):
        workers = itertools.cycle([first, second])

        async def hand_over(conn: Tcp, _remote: object) -> None:
            conn.set_no_delay(True)
            await next(workers).send(task.Handoff(conn.fly_away()))

        print("READY", server.sock_name().port, flush=True)
        await server.serve(hand_over)


def _ignore_error(_exc: BaseException) -> None:
    """The other servers drop a connection reset silently; so do the net ones.

    One function for every connection: a lambda each would add its closure
    to the idle-memory row, which the other servers do not pay.
    """


def _write_or_pause(sock: net.Socket, chunk: bytes) -> None:
    if not sock.write(chunk):
        sock.pause()


async def net_server(
    port: int, pipe: bool = False, tls: net.TlsOptions | None = None, subs: int = 0
) -> None:
    """Node's echo server: ``c.on('data', c.write)``, or with ``pipe`` as ``c.pipe(c)`` does.

    With ``tls``, the same over TLS; with ``subs``, served by the master and ``subs`` tasks.
    """

    def on_connection(sock: net.Socket) -> None:
        sock.set_no_delay(True)
        sock.on("error", _ignore_error)
        if pipe:
            sock.on("data", partial(_write_or_pause, sock))
            sock.on("drain", sock.resume)
        else:
            sock.on("data", sock.write)

    options = {} if tls is None else {"tls": tls}
    async with net.create_server(on_connection, subs=subs, **options) as server:
        await server.listen(port, "127.0.0.1", backlog=1024)
        print("READY", server.port(), flush=True)
        await server.wait_closed()


async def net_pull_server(port: int) -> None:
    """What trio protocol libraries do over a net socket: ``async for`` + ``send_all``."""
    async with trio.open_nursery() as nursery:

        async def echo(sock: net.Socket) -> None:
            try:
                async for chunk in sock:
                    await sock.send_all(chunk)
            except (OSError, trio.BrokenResourceError):
                return

        def on_connection(sock: net.Socket) -> None:
            sock.on("error", _ignore_error)
            nursery.start_soon(echo, sock)

        async with net.create_server(on_connection) as server:
            await server.listen(port, "127.0.0.1", backlog=1024)
            print("READY", server.port(), flush=True)
            await server.wait_closed()


async def _trio_echo(stream: trio.abc.Stream) -> None:
    try:
        async for data in stream:
            await stream.send_all(data)
    except trio.BrokenResourceError:
        return


async def trio_server(port: int) -> None:
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1", backlog=1024)
    print("READY", listeners[0].socket.getsockname()[1], flush=True)
    await trio.serve_listeners(_trio_echo, listeners)


async def trio_tls_server(port: int, cert: str, key: str) -> None:
    """Raw trio over TLS: ``trio.SSLStream`` over ``serve_tcp``, the stdlib's server context."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async with trio.open_nursery() as nursery:
        serve = partial(
            trio.serve_ssl_over_tcp, _trio_echo, port, context, host="127.0.0.1", backlog=1024
        )
        listeners = await nursery.start(serve)
        print("READY", listeners[0].transport_listener.socket.getsockname()[1], flush=True)


async def asyncio_server(port: int) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
    print("READY", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def _thread_per_connection(accept: Callable[[], Callable[[], None]]) -> None:
    """Accept forever; each connection's echo loop runs in a thread of its own."""
    while True:
        threading.Thread(target=accept(), daemon=True).start()


def compat_server(port: int) -> None:
    listener = sync_fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    sync_fd.set_reuse_addr(listener, True)
    sync_fd.bind(listener, ("127.0.0.1", port))
    sync_fd.listen(listener, 1024)
    print("READY", sync_fd.sock_name(listener).port, flush=True)

    def echo(conn: int) -> None:
        try:
            while data := sync_fd.recv(conn, CHUNK):
                sent = sync_fd.send(conn, data)
                if sent < len(data):  # the rest, as the stdlib's sendall sends it
                    view = memoryview(data)
                    while sent < len(view):
                        sent += sync_fd.send(conn, view[sent:])
        except OSError:
            return
        finally:
            sync_fd.close(conn)

    def accept() -> Callable[[], None]:
        conn, _ = sync_fd.accept(listener)
        sync_fd.set_no_delay(conn, True)
        return lambda: echo(conn)

    _thread_per_connection(accept)


def stdlib_server(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=1024)
    print("READY", listener.getsockname()[1], flush=True)

    def echo(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(CHUNK):
                    conn.sendall(data)
            except OSError:
                return

    def accept() -> Callable[[], None]:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return lambda: echo(conn)

    _thread_per_connection(accept)


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    _raise_fd_limit()
    if kind == "trionet":
        trio.run(trionet_server, port)
    elif kind == "trionet-tcp":
        trio.run(tcp_server, port)
    elif kind == "trionet-handoff":
        trio.run(handoff_server, port)
    elif kind == "net":
        trio.run(net_server, port)
    elif kind == "net-pull":
        trio.run(net_pull_server, port)
    elif kind == "net-pipe":
        trio.run(net_server, port, True)
    elif kind == "net-subs2":
        trio.run(partial(net_server, port, subs=2))
    elif kind == "net-tls":
        tls = net.TlsOptions(cert=sys.argv[3], key=sys.argv[4])
        trio.run(partial(net_server, port, tls=tls))
    elif kind == "trio-tls":
        trio.run(trio_tls_server, port, sys.argv[3], sys.argv[4])
    elif kind == "trio":
        trio.run(trio_server, port)
    elif kind == "asyncio":
        asyncio.run(asyncio_server(port))
    elif kind == "compat":
        compat_server(port)
    elif kind == "stdlib":
        stdlib_server(port)
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


if __name__ == "__main__":
    main()
