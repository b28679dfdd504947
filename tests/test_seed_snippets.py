"""The examples of ``nodejs-net.md``, ported line by line, run against real peers.

Each test quotes the seed's JavaScript and ports it with nothing but
Python's syntax (``async with`` / ``await`` where Python needs them, and a
free port instead of a fixed one, so that tests can run side by side). The
peers the seeds leave out (a client for a server, a server for a client)
are written around each port, plainly. Where a port needs more than syntax,
the test says so: that is a difference the closing note of issue 16 names.
"""

from __future__ import annotations

from pathlib import Path

import trio
from _net_helpers import until
from trio.testing import MockClock

from trionet import net


async def _echo_server(nursery: trio.Nursery) -> int:
    """A peer for the client examples: an echo server on a free port."""
    server = net.create_server(lambda sock: sock.on("data", sock.write))
    await nursery.start(_serve, server)
    return server.address_info().port


async def _serve(server: net.Server, *, task_status: trio.TaskStatus[None]) -> None:
    async with server:
        await server.listen(0, "127.0.0.1")
        task_status.started()
        await trio.sleep_forever()


async def test_server_address_goodbye_server(autojump_clock: MockClock) -> None:
    # const server = net.createServer((socket) => {
    #   socket.end('goodbye\n');
    # }).on('error', (err) => {
    #   // Handle errors here.
    #   throw err;
    # });
    # // Grab an arbitrary unused port.
    # server.listen(() => {
    #   console.log('opened server on', server.address());
    # });
    def on_error(err: BaseException) -> None:
        raise err

    async with net.create_server(lambda socket: socket.end("goodbye\n")).on(
        "error", on_error
    ) as server:
        await server.listen()
        print("opened server on", server.address())
        # The peer: two visitors, one that listens and one that pulls.
        port = server.address_info().port
        heard = bytearray()
        async with net.connect(port) as visitor:
            visitor.on("data", heard.extend)
            await visitor.wait_closed()
        async with net.connect(port) as puller:
            heard += b"".join([chunk async for chunk in puller])
        await until(lambda: server.get_connections() == 0)
        server.close()
    assert heard == b"goodbye\n" * 2


async def test_onread_client_reuses_one_buffer(autojump_clock: MockClock) -> None:
    # net.connect({
    #   port: 80,
    #   onread: {
    #     // Reuses a 4KiB Buffer for every read from the socket.
    #     buffer: Buffer.alloc(4 * 1024),
    #     callback: function(nread, buf) {
    #       // Received data is available in `buf` from 0 to `nread`.
    #       console.log(buf.toString('utf8', 0, nread));
    #     }
    #   }
    # });
    printed: list[str] = []
    buffers: set[int] = set()

    def callback(nread: int, buf: bytearray) -> None:
        buffers.add(id(buf))
        printed.append(buf[:nread].decode("utf8"))

    async with trio.open_nursery() as nursery:
        port = await _echo_server(nursery)
        async with net.connect(
            port, onread={"buffer": bytearray(4 * 1024), "callback": callback}
        ) as sock:
            sock.write("hello onread")
            await until(lambda: "".join(printed) == "hello onread")
        nursery.cancel_scope.cancel()
    assert len(buffers) == 1


async def test_set_timeout_ends_an_idle_socket(autojump_clock: MockClock) -> None:
    # socket.setTimeout(3000);
    # socket.on('timeout', () => {
    #   console.log('socket timeout');
    #   socket.end();
    # });
    log: list[str] = []
    async with trio.open_nursery() as nursery:
        port = await _echo_server(nursery)
        async with net.connect(port) as socket:
            socket.set_timeout(3)  # seconds (SPEC §0)

            def on_timeout() -> None:
                log.append("socket timeout")
                socket.end()

            socket.on("timeout", on_timeout)
            start = trio.current_time()
            await socket.wait_closed()
        assert trio.current_time() - start >= 3
        nursery.cancel_scope.cancel()
    assert log == ["socket timeout"]


async def test_create_connection_echo_client(autojump_clock: MockClock) -> None:
    # const client = net.createConnection({ port: 8124 }, () => {
    #   // 'connect' listener.
    #   console.log('connected to server!');
    #   client.write('world!\r\n');
    # });
    # client.on('data', (data) => {
    #   console.log(data.toString());
    #   client.end();
    # });
    # client.on('end', () => {
    #   console.log('disconnected from server');
    # });
    out: list[str] = []
    async with trio.open_nursery() as nursery:
        port = await _echo_server(nursery)
        client: net.Socket

        def on_connect() -> None:
            out.append("connected to server!")
            client.write("world!\r\n")

        async with net.Socket() as client:
            await client.connect(port, on_connect=on_connect)

            def on_data(data: bytes) -> None:
                out.append(data.decode())
                client.end()

            client.on("data", on_data)
            client.on("end", lambda: out.append("disconnected from server"))
            await client.wait_closed()
        nursery.cancel_scope.cancel()
    assert out == ["connected to server!", "world!\r\n", "disconnected from server"]


async def test_echo_server_and_unix_client(tmp_path: Path, autojump_clock: MockClock) -> None:
    # const server = net.createServer((c) => {
    #   // 'connection' listener.
    #   console.log('client connected');
    #   c.on('end', () => {
    #     console.log('client disconnected');
    #   });
    #   c.write('hello\r\n');
    #   c.pipe(c);
    # });
    # server.on('error', (err) => {
    #   throw err;
    # });
    # server.listen('/tmp/echo.sock', () => {
    #   console.log('server bound');
    # });
    # const client = net.createConnection({ path: '/tmp/echo.sock' });
    #
    # Not syntax only: trionet has no pipe(); c.on('data', c.write) is its
    # echo (docs/net.md, "No pipe, but trio streams").
    log: list[str] = []
    path = str(tmp_path / "echo.sock")

    def on_connection(c: net.Socket) -> None:
        log.append("client connected")
        c.on("end", lambda: log.append("client disconnected"))
        c.write("hello\r\n")
        c.on("data", c.write)

    def on_error(err: BaseException) -> None:
        raise err

    async with net.create_server(on_connection) as server:
        server.on("error", on_error)
        await server.listen(path=path)
        log.append("server bound")
        async with net.create_connection(path=path) as client:
            got = bytearray()
            client.on("data", got.extend)
            client.end("echo me")
            await client.wait_closed()
        assert got == b"hello\r\necho me"
        server.close()
    assert log == ["server bound", "client connected", "client disconnected"]
