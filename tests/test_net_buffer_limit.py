"""``max_buffer_size``: a bound on a socket's write queue (issue 15, point 5).

A writer that ignores ``write()`` returning ``False`` toward a peer that
never reads grew a server's queue to 1 GiB in 1.9 s (measured for the
issue). With ``max_buffer_size`` the write that passes the bound destroys
that socket with a ``net.BufferLimitError``, as a reset would (rule 30),
and the server goes on serving.
"""

from __future__ import annotations

import logging
import pickle
import socket as stdsocket
from typing import Any

import pytest
import trio
from _net_helpers import serving, until

from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True

CHUNK = b"x" * 65536
BOUND = 1024 * 1024
# What a writer that ignores backpressure offers in all: far more than the
# loopback kernel buffers (a few MiB) plus the bound.
OFFERED = 64 * 1024 * 1024


class TestValidation:
    @pytest.mark.parametrize("value", [0, -1, 2**62 + 1])
    def test_a_bad_bound_is_a_value_error_naming_it(self, value: int) -> None:
        with pytest.raises(ValueError, match="max_buffer_size"):
            net.Socket(max_buffer_size=value)
        with pytest.raises(ValueError, match="max_buffer_size"):
            net.connect(80, max_buffer_size=value)
        with pytest.raises(ValueError, match="max_buffer_size"):
            net.create_server(max_buffer_size=value)

    @pytest.mark.parametrize("value", [True, 1.5, "1024"])
    def test_a_bound_that_is_no_int_is_a_type_error_naming_it(self, value: object) -> None:
        with pytest.raises(TypeError, match="max_buffer_size"):
            net.Socket(max_buffer_size=value)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="max_buffer_size"):
            net.connect(80, max_buffer_size=value)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="max_buffer_size"):
            net.create_server(max_buffer_size=value)  # type: ignore[arg-type]

    async def test_open_socket_checks_it_before_connecting(self) -> None:
        async with trio.open_nursery() as nursery:
            with pytest.raises(ValueError, match="max_buffer_size"):
                await net.open_socket(1, nursery=nursery, max_buffer_size=0)


def test_the_error_names_the_bound_and_pickles() -> None:
    error = net.BufferLimitError(4096, 5000)
    assert isinstance(error, trio.BrokenResourceError)
    assert "max_buffer_size=4096" in str(error)
    assert "5000 bytes" in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.max_buffer_size, copy.buffer_size, str(copy)) == (4096, 5000, str(error))


async def test_a_client_past_its_bound_is_destroyed_and_its_callbacks_get_the_error() -> None:
    errors: list[BaseException] = []
    callbacks: list[BaseException | None] = []
    # pause_on_connect: the server never reads, so the client's queue grows.
    async with (
        serving(pause_on_connect=True) as served,
        net.connect(served.port, "127.0.0.1", max_buffer_size=BOUND) as sock,
    ):
        sock.on("error", errors.append)
        answers = []
        largest = 0
        for _ in range(OFFERED // len(CHUNK)):
            answers.append(sock.write(CHUNK, callback=callbacks.append))
            if sock.destroyed:
                break
            largest = max(largest, sock.buffer_size)
            await trio.lowlevel.checkpoint()
        assert sock.destroyed, "the bound was never passed"
        assert largest <= BOUND
        assert answers[-1] is False
        # Rule 30: writing on goes nowhere, the callback gets the error.
        assert sock.write(b"more", callback=callbacks.append) is False
        await sock.wait_closed()
    assert len(errors) == 1
    assert isinstance(errors[0], net.BufferLimitError)
    assert errors[0].max_buffer_size == BOUND
    assert errors[0].buffer_size > BOUND
    failed = [result for result in callbacks if result is not None]
    assert failed, "no queued write was failed"
    assert all(result is errors[0] for result in failed)


def test_exactly_the_bound_is_allowed() -> None:
    # Before it connects, a socket queues everything it is given.
    sock = net.Socket(max_buffer_size=3)
    assert sock.write(b"abc") is True
    assert not sock.destroyed
    assert sock.write(b"d") is False
    assert sock.destroyed


async def test_without_a_bound_the_queue_grows_as_in_node() -> None:
    async with (
        serving(pause_on_connect=True) as served,
        net.connect(served.port, "127.0.0.1") as sock,
    ):
        for _ in range(256):  # 16 MiB: past any loopback buffering
            sock.write(CHUNK)
            await trio.lowlevel.checkpoint()
        assert not sock.destroyed
        assert sock.buffer_size > 4 * BOUND
        sock.destroy()


async def _never_reading_client(port: int, flooded: trio.Event) -> None:
    """Connect, ask for the flood, and read nothing until the server gave up."""
    with trio.socket.socket() as sock:
        sock.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_RCVBUF, 65536)
        await sock.connect(("127.0.0.1", port))
        await sock.send(b"flood me\n")
        await flooded.wait()
        # Then take what the kernel holds, up to the server's FIN.
        while True:
            try:
                if not await sock.recv(1 << 20):
                    return
            except ConnectionError:
                return


async def test_a_server_with_a_bound_survives_a_never_reading_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    largest: list[int] = []
    finished = trio.Event()

    async def flood(sock: net.Socket, data: bytes) -> None:
        if data != b"flood me\n":
            sock.write(data)  # the echo for the well-behaved client
            return
        peak = 0
        try:
            for _ in range(OFFERED // len(CHUNK)):
                sock.write(CHUNK)  # backpressure ignored on purpose
                if sock.destroyed:
                    break
                peak = max(peak, sock.buffer_size)
                await trio.lowlevel.checkpoint()
        finally:
            largest.append(peak)
            finished.set()

    def on_connection(sock: net.Socket) -> None:
        sock.on("data", lambda data: flood(sock, data))

    caplog.set_level(logging.INFO, logger="trionet.net")
    async with serving(on_connection, max_buffer_size=BOUND) as served:
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_never_reading_client, served.port, finished)
                await finished.wait()
            first = served.accepted[0]
            await first.wait_closed()
            assert first.destroyed
            # The server goes on: a second client is echoed.
            async with net.connect(served.port, "127.0.0.1") as client:
                got: list[Any] = []
                client.on("data", got.append)
                client.write(b"hello")
                await until(lambda: b"".join(got) == b"hello")
    assert largest == [largest[0]]
    assert 0 < largest[0] <= BOUND
    logged = [record.getMessage() for record in caplog.records]
    assert any("max_buffer_size=1048576" in message for message in logged), logged
