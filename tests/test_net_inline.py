"""Reading inline: the readiness layer's leader runs a socket's ``'data'`` listeners.

``trionet._net_read`` (rules 1-6): while a socket's reader waits as a
follower, the task dispatching the layer's events reads for it and calls
its listeners, in the reader's context. Each test here first starts a
*leader*, a task waiting on an fd of its own, so that the socket under test
waits behind it; the listeners then record which task ran them.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from _net_helpers import Serving, serving, until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock, wait_all_tasks_blocked

from trionet import net
from trionet import socket as fdlevel

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True

pytestmark = pytest.mark.usefixtures("autojump_clock")

_REQUEST = contextvars.ContextVar[str]("_REQUEST", default="unset")


class _Boom(Exception):
    pass


@asynccontextmanager
async def _leader() -> AsyncIterator[trio.lowlevel.Task]:
    """A task that waits first on the readiness layer, and so leads it; yields that task.

    It accepts, as a server's accept task does: accepts wait on the layer.
    """
    fd = fdlevel.socket(fdlevel.AF_INET, fdlevel.SOCK_STREAM)
    try:
        fdlevel.bind(fd, ("127.0.0.1", 0))
        fdlevel.listen(fd)
        async with trio.open_nursery() as nursery:

            async def wait(task_status: trio.TaskStatus[trio.lowlevel.Task]) -> None:
                task_status.started(trio.lowlevel.current_task())
                await fdlevel.accept(fd)  # nobody ever connects

            task = await nursery.start(wait)
            await wait_all_tasks_blocked()
            yield task
            nursery.cancel_scope.cancel()
    finally:
        fdlevel.close(fd)


class _Setup:
    """A client waiting to read behind a leader, and the server's end of its connection."""

    def __init__(self, leader: trio.lowlevel.Task, client: net.Socket, peer: net.Socket) -> None:
        self.leader = leader
        self.client = client
        self.peer = peer

    def inline(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        """``listener``, checking that the leader, not the client's reader, runs it."""

        def checked(*args: Any) -> Any:
            assert trio.lowlevel.current_task() is self.leader, "not read inline"
            return listener(*args)

        return checked

    async def send(self, data: bytes) -> None:
        self.peer.write(data)
        await wait_all_tasks_blocked()


@asynccontextmanager
async def _inline_client(
    listen: Callable[[_Setup], object], **options: Any
) -> AsyncIterator[_Setup]:
    """Connect a client, let ``listen`` add its listeners, and wait until its reader waits."""
    async with (
        _leader() as leader,
        serving() as served,
        net.connect(served.port, "127.0.0.1", **options) as client,
    ):
        setup = _Setup(leader, client, await served.next_socket())
        listen(setup)
        await wait_all_tasks_blocked()
        yield setup


async def test_listeners_run_in_the_leader_with_the_readers_context() -> None:
    seen: list[tuple[bytes, trio.lowlevel.Task, str]] = []

    def record(chunk: bytes) -> None:
        seen.append((chunk, trio.lowlevel.current_task(), _REQUEST.get()))

    # Set after the leader started: the leader's context has no value.
    async with _leader() as leader, serving() as served:
        _REQUEST.set("client 1")
        async with net.connect(served.port, "127.0.0.1") as client:
            client.on("data", record)
            peer = await served.next_socket()
            await wait_all_tasks_blocked()
            peer.write(b"one")
            await until(lambda: len(seen) == 1)
            peer.write(b"two")
            await until(lambda: len(seen) == 2)
            assert client.bytes_read == 6
    assert seen == [(b"one", leader, "client 1"), (b"two", leader, "client 1")]


def _raiser(exc: BaseException) -> Callable[[bytes], None]:
    def listener(_chunk: bytes) -> None:
        raise exc

    return listener


async def _raise_from_listener(exc: BaseException) -> list[object]:
    """Send a chunk to a client whose first ``'data'`` listener raises ``exc``; return its log.

    ``exc`` must leave the client's ``async with`` block unchanged.
    """
    log: list[object] = []
    sockets: list[net.Socket] = []

    async def run_client(leader: trio.lowlevel.Task, port: int, served: Serving) -> None:
        async with net.connect(port, "127.0.0.1") as client:
            sockets.append(client)
            setup = _Setup(leader, client, await served.next_socket())
            client.on("error", log.append)
            client.on("data", setup.inline(_raiser(exc)))
            client.on("data", lambda _chunk: log.append("next listener"))
            await wait_all_tasks_blocked()
            await setup.send(b"x")
            await trio.sleep_forever()

    async with _leader() as leader, serving() as served:
        with pytest.raises(type(exc)) as raised:
            await run_client(leader, served.port, served)
    assert raised.value is exc
    assert sockets[0].destroyed
    return log


async def test_a_listener_that_raises_leaves_through_the_readers_block() -> None:
    # The listeners after it are not called, as in an emit.
    assert await _raise_from_listener(_Boom("from a listener run inline")) == []


async def test_an_oserror_from_a_listener_is_raised_not_taken_for_a_read_error() -> None:
    # No 'error' event either: it is not the socket's error.
    assert await _raise_from_listener(ConnectionResetError("the listener's own")) == []


async def test_an_awaitable_result_is_awaited_by_the_reader_before_the_next_listener() -> None:
    log: list[str] = []
    tasks: list[trio.lowlevel.Task] = []

    async def slow(chunk: bytes) -> None:
        tasks.append(trio.lowlevel.current_task())
        await trio.sleep(1)
        log.append(f"awaited {chunk!r}")

    def returns_awaitable(chunk: bytes) -> Any:
        log.append("first")
        return slow(chunk)

    def listen(setup: _Setup) -> None:
        setup.client.on("data", setup.inline(returns_awaitable))
        setup.client.on("data", lambda chunk: log.append(f"second {chunk!r}"))

    async with _inline_client(listen) as setup:
        await setup.send(b"a")
        await until(lambda: len(log) == 3)
        await setup.send(b"b")
        await until(lambda: len(log) == 6)
    assert log == ["first", "awaited b'a'", "second b'a'", "first", "awaited b'b'", "second b'b'"]
    assert setup.leader not in tasks  # the reader awaited it


async def test_pause_in_a_listener_stops_reading_until_resume() -> None:
    got: list[tuple[bytes, trio.lowlevel.Task]] = []

    def listen(setup: _Setup) -> None:
        def pause(chunk: bytes) -> None:
            got.append((chunk, trio.lowlevel.current_task()))
            setup.client.pause()

        setup.client.on("data", pause)

    async with _inline_client(listen) as setup:
        await setup.send(b"first")
        await setup.send(b"second")
        await trio.sleep(1)
        assert got == [(b"first", setup.leader)]
        assert setup.client.is_paused()
        setup.client.resume()
        await until(lambda: len(got) == 2)
    # The reader itself reads what waited in the kernel while paused.
    assert got[1][0] == b"second"
    assert got[1][1] is not setup.leader


async def test_destroy_in_a_listener_still_calls_the_rest_then_closes_once() -> None:
    log: list[Any] = []

    def listen(setup: _Setup) -> None:
        client = setup.client
        client.on("data", setup.inline(lambda _chunk: client.destroy()))
        client.on("data", lambda chunk: log.append(("data", chunk)))
        client.on("close", lambda had_error: log.append(("close", had_error)))

    async with _inline_client(listen) as setup:
        await setup.send(b"last")
        await setup.client.wait_closed()
    assert log == [("data", b"last"), ("close", False)]


async def test_once_listener_and_split_characters_inline() -> None:
    chunks: list[str] = []
    once: list[str] = []

    def listen(setup: _Setup) -> None:
        setup.client.set_encoding("utf-8")
        setup.client.once("data", setup.inline(once.append))
        setup.client.on("data", chunks.append)

    snowman = "\N{SNOWMAN}".encode()
    async with _inline_client(listen) as setup:
        for part in (b"a" + snowman[:1], snowman[1:], b"z"):
            await setup.send(part)
        await until(lambda: len(chunks) == 3)
    assert once == ["a"]
    assert chunks == ["a", "\N{SNOWMAN}", "z"]


async def test_a_full_buffer_read_inline_wakes_the_reader_for_the_rest() -> None:
    received = bytearray()
    readers: set[trio.lowlevel.Task] = set()

    def take(chunk: bytes) -> None:
        readers.add(trio.lowlevel.current_task())
        received.extend(chunk)

    payload = bytes(range(256)) * 4096  # 1 MiB: many full 64 KiB reads
    async with _inline_client(lambda setup: setup.client.on("data", take)) as setup:
        await setup.send(payload)
        await until(lambda: len(received) == len(payload))
        assert setup.client.bytes_read == len(payload)
    assert received == payload
    assert len(readers) == 2  # the leader, then the reader it woke


async def test_end_after_inline_data_is_emitted_by_the_reader() -> None:
    log: list[Any] = []

    def listen(setup: _Setup) -> None:
        setup.client.on("data", setup.inline(lambda chunk: log.append(("data", chunk))))
        setup.client.on("end", lambda: log.append(("end",)))

    async with _inline_client(listen, allow_half_open=True) as setup:
        await setup.send(b"bye")
        setup.peer.end()
        await until(lambda: len(log) == 2)
    assert log == [("data", b"bye"), ("end",)]


async def test_a_ping_pong_read_inline_still_lets_other_tasks_run() -> None:
    # Both ends in this run, each echoing at once: the leader could go on
    # reading for them forever without a checkpoint; the layer's budget
    # makes it yield.
    rounds = 2_000
    ticks = 0
    count = 0
    runners: set[trio.lowlevel.Task] = set()
    done = trio.Event()

    def bounce(sock: net.Socket) -> Callable[[bytes], None]:
        def listener(chunk: bytes) -> None:
            nonlocal count
            count += 1
            runners.add(trio.lowlevel.current_task())
            if count < rounds:
                sock.write(chunk)
            else:
                done.set()

        return listener

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with (
        _leader() as leader,
        serving(lambda sock: sock.on("data", bounce(sock))) as served,
        net.connect(served.port, "127.0.0.1") as client,
        trio.open_nursery() as nursery,
    ):
        client.on("data", bounce(client))
        await wait_all_tasks_blocked()
        nursery.start_soon(tick)
        client.write(b"ping")
        await done.wait()
    assert count == rounds
    assert runners == {leader}  # every round was read inline
    assert ticks >= rounds // 100  # about one per 32 rounds (the budget)


async def test_a_socket_with_an_async_listener_is_read_by_its_reader_until_it_is_removed() -> None:
    runners: list[tuple[str, trio.lowlevel.Task]] = []

    async def awaiting(_chunk: bytes) -> None:
        runners.append(("async", trio.lowlevel.current_task()))
        await trio.lowlevel.checkpoint()

    def plain(_chunk: bytes) -> None:
        runners.append(("plain", trio.lowlevel.current_task()))

    def listen(setup: _Setup) -> None:
        setup.client.on("data", plain)
        setup.client.on("data", awaiting)

    async with _inline_client(listen) as setup:
        await setup.send(b"1")
        await until(lambda: len(runners) == 2)
        setup.client.off("data", awaiting)
        await setup.send(b"2")
        await until(lambda: len(runners) == 3)
    reader = runners[0][1]
    assert runners == [("plain", reader), ("async", reader), ("plain", setup.leader)]
    assert reader is not setup.leader


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(1, 150_000), min_size=1, max_size=6),
    pauses=st.sets(st.integers(0, 6), max_size=4),
)
def test_bytes_arrive_whole_and_in_order_whatever_the_chunks_and_pauses(
    sizes: list[int], pauses: set[int]
) -> None:
    # Chunks read inline, by the woken reader, and kept across pauses must
    # add up to exactly what the peer wrote.
    payload = b"".join(bytes([index % 251]) * size for index, size in enumerate(sizes))
    received = bytearray()
    inline = 0

    async def main() -> None:
        def listen(setup: _Setup) -> None:
            client = setup.client
            deliveries = 0

            def take(chunk: bytes) -> None:
                nonlocal deliveries, inline
                received.extend(chunk)
                inline += trio.lowlevel.current_task() is setup.leader
                if deliveries in pauses:
                    client.pause()
                deliveries += 1

            client.on("data", take)

        async with _inline_client(listen) as setup:
            start = 0
            for size in sizes:  # one write each, arriving as separate events
                setup.peer.write(payload[start : start + size])
                start += size
                await trio.sleep(0.001)
            for _ in range(10_000):
                if len(received) == len(payload):
                    break
                if setup.client.is_paused():
                    await trio.sleep(0.5)
                    setup.client.resume()
                await trio.sleep(0.001)
            assert setup.client.bytes_read == len(payload)

    trio.run(main, clock=MockClock(autojump_threshold=0))
    assert received == payload
    assert inline >= 1  # the first chunk at least arrives while the reader waits
