"""The readiness layer keeps every trio guarantee.

trionet replaces trio's per-wait ``epoll_ctl`` with one edge-triggered epoll
per run (:mod:`trionet._core._readiness`) and yields only every ``_BUDGET``
successful operations (:mod:`trionet._core._drive_trio`). These tests drive it through
``trionet.socket`` over real loopback sockets and look inside the layer only
to observe which fds it holds and which tasks wait in it.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest
import trio
import trio.testing
from _fds import Fds, listener_with_mports
from _ports import retry_on_addr_in_use
from trio.testing import wait_all_tasks_blocked

import trionet
from trionet import _net_transport
from trionet import socket as s
from trionet._core import _attempts, _drive_trio, _fdtable, _prepare, _readiness
from trionet._core._readiness import _BUDGET, READ, WRITE, Direction

T = TypeVar("T")

LOOPBACK = "127.0.0.1"
LAYER_TASK_PREFIX = "trionet readiness"


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _tcp_listener(fds: Fds, backlog: int = 5) -> int:
    listener = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))
    s.bind(listener, (LOOPBACK, 0))
    s.listen(listener, backlog)
    return listener


async def _connected(fds: Fds) -> tuple[int, int]:
    """A connected TCP loopback pair: (client, server side)."""
    listener = _tcp_listener(fds)
    pair = await _connected_to(fds, listener)
    fds.close(listener)
    return pair


async def _connected_to(fds: Fds, listener: int) -> tuple[int, int]:
    """A client connected to ``listener`` and its accepted side."""
    client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))
    await s.connect(client, s.sock_name(listener))
    server, _ = await s.accept(listener)
    return client, fds.track(server)


async def _unix_connected(fds: Fds, directory: Path) -> tuple[int, int]:
    """A connected Unix-domain stream pair: its buffers fill and stay full, deterministically."""
    path = str(directory / "pair.sock")
    listener = fds.track(s.socket(s.AF_UNIX, s.SOCK_STREAM))
    s.bind(listener, path)
    s.listen(listener)
    client = fds.track(s.socket(s.AF_UNIX, s.SOCK_STREAM))
    await s.connect(client, path)
    server, _ = await s.accept(listener)
    fds.track(server)
    fds.close(listener)
    return client, server


def _mports_listener(fds: Fds, count: int) -> tuple[int, int]:
    """A listener that also listens on the ``count`` ports after its own: (fd, port)."""
    listener = listener_with_mports(fds, "ipv4", count)
    address = s.sock_name(listener)
    assert isinstance(address, trionet.SockAddr)
    return listener, address.port


async def _fill_send_buffer(fd: int) -> int:
    """Send until the kernel takes no more; return the bytes it took."""
    chunk = bytes(65536)
    total = 0
    for _ in range(10_000):
        try:
            total += await s.send(fd, chunk, timeout=0)
        except trionet.Timeout:
            return total
    pytest.fail("the send buffer never filled")


async def _send_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[await s.send(fd, view) :]


async def _recv_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await s.recv(fd, size - len(data))
        assert chunk, "the peer closed early"
        data += chunk
    return data


def _waiter(fd: int, direction: Direction) -> object:
    """What waits on ``fd`` for ``direction``, or ``None``.

    That is the waiter in this run's layer, or for a call that waits in
    trio's own wait (every one but an accept), a string saying so.
    """
    state = _readiness.current_layer()._states.get(fd)
    if state is not None and state.waiter[direction] is not None:
        return state.waiter[direction]
    found = _fdtable.known(fd)
    io = trio.lowlevel.current_statistics().io_statistics
    waiting = io.tasks_waiting_read if direction == READ else io.tasks_waiting_write
    if found is not None and found.trio_runs and waiting:
        return "trio's own wait"
    return None


async def _layer_recv(fd: int) -> bytes:
    """``recv`` through the readiness layer, as net's reader does (``perform_tracked``)."""
    source = _fdtable.entry(fd)
    call = _prepare.Call(source, READ, None, "recv", _attempts.recv, source, 65536)
    return await _drive_trio.perform_tracked(call, _readiness.current_layer().state(fd), 65536)


async def _parked(fd: int, direction: Direction) -> None:
    """Let every task block, then check that someone waits on ``fd`` for ``direction``."""
    await wait_all_tasks_blocked()
    assert _waiter(fd, direction) is not None, f"nobody waits on fd {fd}"


async def _call_while_parked(
    call: Callable[[], Awaitable[T]],
    fd: int,
    direction: Direction,
    trigger: Callable[[], Awaitable[object]],
) -> T:
    """Run ``call`` in a task; once it waits on ``fd``, run ``trigger``; return its result."""
    results: list[T] = []

    async def run() -> None:
        results.append(await call())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await _parked(fd, direction)
        await trigger()
    return results[0]


def _layer_tasks() -> int:
    """How many readiness-layer system tasks this run has."""
    root = trio.lowlevel.current_root_task()
    tasks = [task for nursery in root.child_nurseries for task in nursery.child_tasks]
    return sum(task.name.startswith(LAYER_TASK_PREFIX) for task in tasks)


async def _append(into: list[T], call: Awaitable[T]) -> None:
    into.append(await call)


async def _get(q: queue.Queue[T]) -> T:
    """The next item from a thread queue, waiting at most 10 s (real time) for it."""
    return await trio.to_thread.run_sync(lambda: q.get(timeout=10))


async def _expect(
    q: queue.Queue[str], message: str, thread: threading.Thread, errors: list[BaseException]
) -> None:
    """Wait for ``message`` from the run in ``thread``; raise that run's error if it failed."""
    got = await _get(q)
    if got != message:
        await trio.to_thread.run_sync(thread.join, 10)
        if errors:
            raise errors[0]
    assert got == message


async def _pair_with_number(fds: Fds, listener: int, number: int) -> tuple[int, int]:
    """A connected pair whose client side has fd ``number`` (free at the call)."""
    spares: list[int] = []
    try:
        for _ in range(1000):
            fd = s.socket(s.AF_INET, s.SOCK_STREAM)
            if fd == number:
                break
            spares.append(fd)
        else:
            pytest.fail(f"fd number {number} never came back")
    finally:
        for spare in spares:
            s.close(spare)
    client = fds.track(fd)
    await s.connect(client, s.sock_name(listener))
    server, _ = await s.accept(listener)
    return client, fds.track(server)


# --------------------------------------------------------------------------
# Calls that block in a wait, for the cancellation tests
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Blocked:
    """A call that waits on ``fd`` for ``direction``, and what to check once it was interrupted.

    ``check_after`` proves the interrupted call consumed nothing and left no
    waiter behind: the same call waits again (no ``BusyResourceError``) and
    completes.
    """

    fd: int
    direction: Direction
    call: Callable[[float | None], Awaitable[object]]
    check_after: Callable[[], Awaitable[None]]


async def _blocked_recv(fds: Fds, _: Path) -> _Blocked:
    client, server = await _connected(fds)

    async def check_after() -> None:
        async def send() -> None:
            await s.send(client, b"sent after the interruption")

        got = await _call_while_parked(lambda: s.recv(server), server, READ, send)
        assert got == b"sent after the interruption"

    return _Blocked(server, READ, lambda timeout: s.recv(server, timeout=timeout), check_after)


async def _blocked_accept(fds: Fds, _: Path) -> _Blocked:
    listener = _tcp_listener(fds)

    async def check_after() -> None:
        client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))

        async def connect() -> None:
            await s.connect(client, s.sock_name(listener))

        server, peer = await _call_while_parked(lambda: s.accept(listener), listener, READ, connect)
        fds.track(server)
        assert peer == s.sock_name(client)

    return _Blocked(
        listener, READ, lambda timeout: s.accept(listener, timeout=timeout), check_after
    )


async def _blocked_send(fds: Fds, tmp_path: Path) -> _Blocked:
    sender, receiver = await _unix_connected(fds, tmp_path)
    filled = await _fill_send_buffer(sender)

    async def check_after() -> None:
        received = 0

        async def drain() -> None:
            nonlocal received
            while data := await s.recv(receiver):
                received += len(data)

        async with trio.open_nursery() as nursery:

            async def start_draining() -> None:
                nursery.start_soon(drain)

            sent = await _call_while_parked(
                lambda: s.send(sender, bytes(1000)), sender, WRITE, start_draining
            )
            s.shutdown(sender, "w")
        # Every byte the peer got was counted by a send that returned.
        assert sent > 0
        assert received == filled + sent

    return _Blocked(
        sender, WRITE, lambda timeout: s.send(sender, bytes(1000), timeout=timeout), check_after
    )


async def _blocked_connect(fds: Fds, _: Path) -> _Blocked:
    # Backlog 0 queues one connection; the next SYN is dropped, so that
    # connect stays in SYN_SENT (it would retry after a second, long after
    # the test).
    listener = _tcp_listener(fds, backlog=0)
    address = s.sock_name(listener)
    await s.connect(fds.track(s.socket(s.AF_INET, s.SOCK_STREAM)), address)
    client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))

    async def check_after() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: s.connect(client, address))
            await _parked(client, WRITE)
            nursery.cancel_scope.cancel()
        assert _waiter(client, WRITE) is None

    return _Blocked(
        client, WRITE, lambda timeout: s.connect(client, address, timeout=timeout), check_after
    )


_BLOCKED = {
    "recv": _blocked_recv,
    "accept": _blocked_accept,
    "send": _blocked_send,
    "connect": _blocked_connect,
}

# The first task to wait in a run and those that wait while it does are
# woken in different ways: "behind" runs the call while another task waits.
_BEHIND = pytest.mark.parametrize("behind", [False, True], ids=["alone", "behind"])


async def _bystander(fds: Fds, nursery: trio.Nursery) -> Callable[[], Awaitable[None]]:
    """Start a task that waits on a listener of its own, before the call under test.

    An accept waits on the readiness layer, so the bystander leads it and
    an accept under test follows. Returns a check to run once that call
    was interrupted: the bystander still waits, and wakes when its
    connection comes.
    """
    listener = _tcp_listener(fds)
    got: list[int] = []
    woken = trio.Event()

    async def wait() -> None:
        server, _ = await s.accept(listener)
        got.append(fds.track(server))
        woken.set()

    nursery.start_soon(wait)
    await _parked(listener, READ)

    async def check() -> None:
        await wait_all_tasks_blocked()
        assert got == []
        assert _waiter(listener, READ) is not None
        await s.connect(fds.track(s.socket(s.AF_INET, s.SOCK_STREAM)), s.sock_name(listener))
        await woken.wait()
        assert len(got) == 1

    return check


# --------------------------------------------------------------------------
# Cancellation at every wait
# --------------------------------------------------------------------------


@_BEHIND
@pytest.mark.parametrize("operation", list(_BLOCKED))
async def test_cancel_from_another_task_interrupts_a_waiting_call_and_leaves_no_waiter(
    operation: str, behind: bool, fds: Fds, tmp_path: Path
) -> None:
    blocked = await _BLOCKED[operation](fds, tmp_path)
    scope = trio.CancelScope()
    returned = False

    async def victim() -> None:
        nonlocal returned
        with scope:
            await blocked.call(None)
            returned = True

    async with trio.open_nursery() as nursery:
        check_bystander = await _bystander(fds, nursery) if behind else None
        nursery.start_soon(victim)
        await _parked(blocked.fd, blocked.direction)
        scope.cancel()
        if check_bystander is not None:
            await check_bystander()
    assert not returned
    assert scope.cancelled_caught  # trio.Cancelled reached the scope
    assert _waiter(blocked.fd, blocked.direction) is None
    await blocked.check_after()


@_BEHIND
@pytest.mark.parametrize("operation", list(_BLOCKED))
async def test_deadline_interrupts_a_waiting_call_on_the_mock_clock(
    operation: str,
    behind: bool,
    fds: Fds,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
) -> None:
    blocked = await _BLOCKED[operation](fds, tmp_path)
    waiters: list[object] = []

    async def observe() -> None:
        # Runs before the clock jumps (wait_all_tasks_blocked takes priority).
        await wait_all_tasks_blocked()
        waiters.append(_waiter(blocked.fd, blocked.direction))

    async with trio.open_nursery() as nursery:
        check_bystander = await _bystander(fds, nursery) if behind else None
        nursery.start_soon(observe)
        start = trio.current_time()
        with trio.move_on_after(5) as scope:
            await blocked.call(None)
            pytest.fail(f"{operation} returned instead of waiting")
        elapsed = trio.current_time() - start
        if check_bystander is not None:
            await check_bystander()
    assert scope.cancelled_caught
    assert len(waiters) == 1
    assert waiters[0] is not None  # it was waiting when the deadline came
    assert elapsed == pytest.approx(5)
    assert _waiter(blocked.fd, blocked.direction) is None
    await blocked.check_after()


@_BEHIND
@pytest.mark.parametrize("operation", list(_BLOCKED))
async def test_timeout_fires_after_exactly_its_seconds_on_the_mock_clock(
    operation: str,
    behind: bool,
    fds: Fds,
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
) -> None:
    blocked = await _BLOCKED[operation](fds, tmp_path)
    async with trio.open_nursery() as nursery:
        check_bystander = await _bystander(fds, nursery) if behind else None
        start = trio.current_time()
        wall_start = time.perf_counter()
        with pytest.raises(trionet.Timeout) as caught:
            await blocked.call(5)
        elapsed = trio.current_time() - start
        wall_elapsed = time.perf_counter() - wall_start
        if check_bystander is not None:
            await check_bystander()
    assert elapsed == pytest.approx(5)
    assert wall_elapsed < 2  # the mock clock jumped: no real waiting
    assert caught.value.bytes_sent == 0
    assert _waiter(blocked.fd, blocked.direction) is None
    await blocked.check_after()


async def test_accept_cancelled_while_waiting_on_mports_listeners_leaves_no_group_behind(
    fds: Fds,
) -> None:
    listener, port = _mports_listener(fds, 2)
    before = set(_readiness.current_layer()._states)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: s.accept(listener))
        await _parked(listener, READ)
        watched = set(_readiness.current_layer()._states) - before
        assert len(watched) == 3  # the listener and its two extra ports, one wait
        nursery.cancel_scope.cancel()
    assert all(_waiter(fd, READ) is None for fd in watched)
    client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))

    async def connect() -> None:
        await s.connect(client, (LOOPBACK, port + 2))

    server, peer = await _call_while_parked(lambda: s.accept(listener), listener, READ, connect)
    fds.track(server)
    assert peer == s.sock_name(client)


# --------------------------------------------------------------------------
# A call in an already-cancelled scope makes no system call
# --------------------------------------------------------------------------


async def test_recv_in_a_cancelled_scope_raises_cancelled_and_leaves_the_data(fds: Fds) -> None:
    client, server = await _connected(fds)
    await s.send(client, b"still here")
    assert s.pending(server) == len(b"still here")
    with trio.CancelScope() as scope:
        scope.cancel()
        await s.recv(server)
        pytest.fail("recv returned in a cancelled scope")
    assert scope.cancelled_caught
    assert s.pending(server) == len(b"still here")
    assert await s.recv(server) == b"still here"


async def test_send_in_a_cancelled_scope_raises_cancelled_and_sends_nothing(fds: Fds) -> None:
    client, server = await _connected(fds)
    with trio.CancelScope() as scope:
        scope.cancel()
        await s.send(client, b"never sent")
        pytest.fail("send returned in a cancelled scope")
    assert scope.cancelled_caught
    await s.send(client, b"sent")
    s.shutdown(client, "w")
    with trio.fail_after(5):
        assert await s.recv(server) == b"sent"
        assert await s.recv(server) == b""


async def test_accept_in_a_cancelled_scope_raises_cancelled_and_leaves_the_connection(
    fds: Fds,
) -> None:
    listener = _tcp_listener(fds)
    client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))
    await s.connect(client, s.sock_name(listener))
    with trio.CancelScope() as scope:
        scope.cancel()
        await s.accept(listener)
        pytest.fail("accept returned in a cancelled scope")
    assert scope.cancelled_caught
    with trio.fail_after(5):
        server, peer = await s.accept(listener)
    fds.track(server)
    assert peer == s.sock_name(client)


async def test_connect_in_a_cancelled_scope_raises_cancelled_and_starts_no_connection(
    fds: Fds,
) -> None:
    listener = _tcp_listener(fds)
    client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))
    with trio.CancelScope() as scope:
        scope.cancel()
        await s.connect(client, s.sock_name(listener))
        pytest.fail("connect returned in a cancelled scope")
    assert scope.cancelled_caught
    assert s.get_tcp_state(client) == trionet.TcpState.CLOSED
    with pytest.raises(trionet.Timeout):
        await s.accept(listener, timeout=0)
    await s.connect(client, s.sock_name(listener), timeout=5)
    assert s.get_tcp_state(client) == trionet.TcpState.ESTABLISHED


# --------------------------------------------------------------------------
# Close wakes waiters and forgets the fd
# --------------------------------------------------------------------------


async def _outcome_of(call: Callable[[], Awaitable[object]], into: list[str]) -> None:
    try:
        await call()
    except trio.ClosedResourceError:
        into.append("closed")
    else:
        into.append("returned")


async def test_close_wakes_the_reader_and_the_writer_blocked_on_the_fd(
    fds: Fds, tmp_path: Path
) -> None:
    sock, _peer = await _unix_connected(fds, tmp_path)
    await _fill_send_buffer(sock)
    reader: list[str] = []
    writer: list[str] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_outcome_of, lambda: s.recv(sock), reader)
            nursery.start_soon(_outcome_of, lambda: s.send(sock, bytes(1000)), writer)
            await _parked(sock, READ)
            await _parked(sock, WRITE)
            fds.close(sock)
    assert reader == ["closed"]
    assert writer == ["closed"]
    assert sock not in _readiness.current_layer()._states


async def test_close_wakes_a_task_in_trios_own_wait_readable(fds: Fds) -> None:
    sock, _peer = await _connected(fds)
    ours: list[str] = []
    trios: list[str] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_outcome_of, partial(trio.lowlevel.wait_readable, sock), trios)
            nursery.start_soon(_outcome_of, lambda: _layer_recv(sock), ours)
            await _parked(sock, READ)
            fds.close(sock)
    assert trios == ["closed"]
    assert ours == ["closed"]


async def test_call_on_a_closed_fd_raises_closed_resource_error(fds: Fds) -> None:
    sock, _peer = await _connected(fds)
    fds.close(sock)
    with pytest.raises(trio.ClosedResourceError):
        await s.recv(sock)
    assert sock not in _readiness.current_layer()._states


async def test_close_forgets_an_fd_the_layer_had_registered(fds: Fds) -> None:
    client, server = await _connected(fds)

    async def send() -> None:
        await s.send(client, b"x")

    assert await _call_while_parked(lambda: _layer_recv(server), server, READ, send) == b"x"
    layer = _readiness.current_layer()
    assert server in layer._states
    fds.close(server)
    assert server not in layer._states


async def test_a_call_that_succeeds_at_once_registers_nothing(fds: Fds) -> None:
    """The fast path is the system call: no readiness state, no epoll registration."""
    client, server = await _connected(fds)  # the accept found its connection queued
    layer = _readiness.current_layer()
    # Loopback TCP queues the bytes at the peer before send returns.
    await s.send(client, b"x")
    assert await s.recv(server) == b"x"
    await s.send(server, b"y")
    assert server not in layer._states


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_a_send_of_a_plain_buffer_builds_no_call(
    kind: Callable[[bytes], object], fds: Fds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An echo loop sends memoryview slices: they take the fast path as bytes do."""
    client, server = await _connected(fds)

    def no_call(*args: object) -> None:
        raise AssertionError("the send built a Call")

    monkeypatch.setattr(_prepare, "send", no_call)
    assert await s.send(client, kind(b"abc")) == 3
    assert await s.recv(server) == b"abc"


async def test_an_fd_level_call_that_waits_waits_in_trios_own_wait(fds: Fds) -> None:
    """Not on the layer: its hand-offs cost the fd level more than trio's epoll_ctl."""
    client, server = await _connected(fds)

    async def send() -> None:
        await s.send(client, b"x")

    assert await _call_while_parked(lambda: s.recv(server), server, READ, send) == b"x"
    assert server not in _readiness.current_layer()._states


async def test_the_call_after_a_wait_leaves_the_fd_marked_ready(fds: Fds) -> None:
    """The wait took the edge: a bit left clear would make net's next inline call sleep."""
    client, server = await _connected(fds)

    async def send() -> None:
        await s.send(client, b"x")

    assert await _call_while_parked(lambda: s.recv(server), server, READ, send) == b"x"
    assert _readiness.current_layer().state(server).ready[READ]


async def test_an_error_after_a_wait_leaves_the_fd_marked_ready(fds: Fds) -> None:
    """Only an EAGAIN proves an fd not ready: a virtual socket shows no hang-up to wake a read."""
    client, server = await _connected(fds)

    async def reset() -> None:
        s.set_linger(client, True, 0)
        fds.close(client)

    async def recv() -> str:
        try:
            await s.recv(server)
        except ConnectionResetError:
            return "reset"
        return "data"

    assert await _call_while_parked(recv, server, READ, reset) == "reset"
    assert _readiness.current_layer().state(server).ready[READ]


async def test_a_tracked_call_with_timeout_0_tries_once_whatever_the_bit_says(fds: Fds) -> None:
    """As ``perform`` does: ``Timeout`` only when that one attempt would block."""
    client, server = await _connected(fds)
    source = _fdtable.entry(server)
    state = _readiness.current_layer().state(server)
    call = _prepare.Call(source, READ, 0, "read", _attempts.recv, source, 8)
    state.blocked(READ)
    with pytest.raises(trionet.Timeout):
        await _drive_trio.perform_tracked(call, state, 8)
    await s.send(client, b"x")
    state.blocked(READ)  # clear, though the data is there: only the attempt can tell
    assert await _drive_trio.perform_tracked(call, state, 8) == b"x"


async def test_close_forgets_the_extra_listeners_of_mports(fds: Fds) -> None:
    listener, _port = _mports_listener(fds, 2)
    layer = _readiness.current_layer()
    before = set(layer._states)
    outcome: list[str] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_outcome_of, lambda: s.accept(listener), outcome)
        await _parked(listener, READ)
        watched = set(layer._states) - before
        assert len(watched) == 3
        fds.close(listener)
    assert outcome == ["closed"]
    assert not watched & set(layer._states)


# --------------------------------------------------------------------------
# Scheduling: fairness and schedule points
# --------------------------------------------------------------------------


async def test_a_streaming_connection_does_not_starve_a_ping_pong_connection(
    fds: Fds,
) -> None:
    round_trips = 200
    chunk = bytes(65536)
    with trio.fail_after(30):  # a guard against a hang, not a timing assertion
        stream_out, stream_in = await _connected(fds)
        ping, pong = await _connected(fds)
        s.set_no_delay(ping, True)
        s.set_no_delay(pong, True)
        streaming = trio.Event()
        ping_pong_done = trio.Event()
        sent = drained = 0
        sent_during_ping_pong = 0

        async def stream() -> None:
            nonlocal sent
            while not ping_pong_done.is_set():
                sent += await s.send(stream_out, chunk)
                streaming.set()
            s.shutdown(stream_out, "w")

        async def drain() -> None:
            nonlocal drained
            while data := await s.recv(stream_in):
                drained += len(data)

        async def echo() -> None:
            while data := await s.recv(pong, 64):
                await _send_all(pong, data)

        async def ping_pong() -> None:
            nonlocal sent_during_ping_pong
            await streaming.wait()
            sent_before = sent
            for number in range(round_trips):
                message = number.to_bytes(4, "big")
                await _send_all(ping, message)
                assert await _recv_exactly(ping, 4) == message
            sent_during_ping_pong = sent - sent_before
            ping_pong_done.set()
            s.shutdown(ping, "w")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream)
            nursery.start_soon(drain)
            nursery.start_soon(echo)
            nursery.start_soon(ping_pong)
    assert sent_during_ping_pong >= len(chunk)
    assert drained == sent


async def _calls_seen_by_a_ticker(call: Callable[[], Awaitable[None]], calls: int) -> list[int]:
    """Make ``calls`` calls beside a task that checkpoints in a loop; how many each tick saw.

    Asserts that the calls yielded once per budget: the ticker runs once in
    the scheduler's next batch, before or after the busy task's next
    ``_BUDGET`` calls, so at most ``2 * _BUDGET`` calls between two ticks.
    """
    done = 0
    seen_at_tick: list[int] = []

    async def ticker() -> None:
        while True:
            seen_at_tick.append(done)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for _ in range(calls):
            await call()
            done += 1
        nursery.cancel_scope.cancel()
    points = [0, *seen_at_tick, calls]
    assert max(b - a for a, b in itertools.pairwise(points)) <= 2 * _BUDGET
    return seen_at_tick


@pytest.mark.parametrize("direction", ["send", "recv"])
async def test_successful_calls_that_never_wait_still_yield_every_budget_operations(
    direction: str, fds: Fds
) -> None:
    client, server = await _connected(fds)
    calls = 8 * _BUDGET
    if direction == "recv":
        # Everything is queued before the loop: no recv(fd, 1) has to wait.
        await _send_all(client, bytes(calls))
        assert s.pending(server) == calls

    async def call() -> None:
        if direction == "send":
            # 64 bytes a call: the whole loop fits in the socket buffers.
            assert await s.send(client, bytes(64)) == 64
        else:
            assert await s.recv(server, 1) == b"\0"

    seen_at_tick = await _calls_seen_by_a_ticker(call, calls)
    assert len(seen_at_tick) >= calls // _BUDGET - 1
    if direction == "send":
        assert await _recv_exactly(server, 64 * calls) == bytes(64 * calls)


@pytest.mark.parametrize("driver", ["perform", "perform_untimed", "perform_tracked"])
async def test_calls_whose_wait_finds_the_edge_already_there_still_yield_every_budget_operations(
    driver: str, fds: Fds, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peer answers between the EAGAIN and the wait: the wait returns without sleeping."""
    client, server = await _connected(fds)
    peer = _fdtable.entry(client).sock
    tries = itertools.count()
    real_recv = _attempts.recv

    def answered_meanwhile(source: _fdtable.Entry, max_bytes: int) -> bytes:
        if next(tries) % 2 == 0:
            peer.send(b"\0")
            raise BlockingIOError
        return real_recv(source, max_bytes)

    if driver == "perform":
        # With a timeout, fd.recv builds its Call (_prepare) for perform.
        monkeypatch.setattr(_prepare, "_recv", answered_meanwhile)
        receive = partial(s.recv, server, 1, timeout=60)
    elif driver == "perform_untimed":
        # With none, it calls the attempt itself.
        monkeypatch.setattr(_attempts, "recv", answered_meanwhile)
        receive = partial(s.recv, server, 1)
    else:
        monkeypatch.setattr(_net_transport, "_recv", answered_meanwhile)
        receive = partial(_net_transport.FdTransport(server).read, 1)
    calls = 8 * _BUDGET

    async def call() -> None:
        assert await receive() == b"\0"

    await _calls_seen_by_a_ticker(call, calls)
    assert next(tries) == 2 * calls, "a call did not take the slow path"


@pytest.mark.parametrize("cancelled", [None, 0, 1], ids=["none", "first", "second"])
async def test_each_of_several_waiting_tasks_wakes_for_its_own_fd(
    cancelled: int | None, fds: Fds
) -> None:
    pairs = [await _connected(fds) for _ in range(3)]
    scopes = [trio.CancelScope() for _ in pairs]
    received: dict[int, bytes] = {}
    done = [trio.Event() for _ in pairs]

    async def reader(index: int) -> None:
        with scopes[index]:
            received[index] = await s.recv(pairs[index][1])
            done[index].set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            # One at a time, so the first to wait is the first in line.
            for index, (_client, server) in enumerate(pairs):
                nursery.start_soon(reader, index)
                await _parked(server, READ)
            if cancelled is not None:
                scopes[cancelled].cancel()
                await wait_all_tasks_blocked()
            # Data for the last to wait first, so the others keep waiting meanwhile.
            for index in reversed(range(len(pairs))):
                if index != cancelled:
                    await s.send(pairs[index][0], b"for %d" % index)
                    await done[index].wait()
                    assert received.keys() == {index, *range(index + 1, len(pairs))} - {cancelled}
    expected = {index: b"for %d" % index for index in range(len(pairs)) if index != cancelled}
    assert received == expected


# --------------------------------------------------------------------------
# BusyResourceError: one waiter per fd and direction
# --------------------------------------------------------------------------


async def test_second_task_reading_the_same_fd_gets_busy_resource_error(fds: Fds) -> None:
    client, server = await _connected(fds)

    async def second_reader_then_send() -> None:
        with pytest.raises(trio.BusyResourceError):
            await s.recv(server)
        await s.send(client, b"for the first reader")

    got = await _call_while_parked(lambda: s.recv(server), server, READ, second_reader_then_send)
    assert got == b"for the first reader"


async def test_second_task_accepting_on_an_mports_listener_gets_busy_resource_error(
    fds: Fds,
) -> None:
    listener, port = _mports_listener(fds, 1)
    client = fds.track(s.socket(s.AF_INET, s.SOCK_STREAM))

    async def second_acceptor_then_connect() -> None:
        with pytest.raises(trio.BusyResourceError):
            await s.accept(listener)
        await s.connect(client, (LOOPBACK, port + 1))

    server, peer = await _call_while_parked(
        lambda: s.accept(listener), listener, READ, second_acceptor_then_connect
    )
    fds.track(server)
    assert peer == s.sock_name(client)


async def test_a_reader_and_a_writer_may_wait_on_the_same_fd_at_once(
    fds: Fds, tmp_path: Path
) -> None:
    sock, peer = await _unix_connected(fds, tmp_path)
    filled = await _fill_send_buffer(sock)
    received = 0

    async def drain_then_answer() -> None:
        nonlocal received
        while received < filled:
            received += len(await s.recv(peer))
        await s.send(peer, b"answer")

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: s.recv(sock))
            sent = await _call_while_parked(
                lambda: s.send(sock, b"more"), sock, WRITE, drain_then_answer
            )
    assert sent == 4


# --------------------------------------------------------------------------
# Edge-triggered: no edge is ever lost
# --------------------------------------------------------------------------


async def test_a_burst_of_small_messages_read_one_byte_at_a_time_arrives_whole(
    fds: Fds,
) -> None:
    client, server = await _connected(fds)
    payload = b"".join(b"%05d" % number for number in range(400))
    received = bytearray()

    async def read_bytewise() -> None:
        while len(received) < len(payload):
            received.extend(await s.recv(server, 1))

    async def burst() -> None:
        for start in range(0, len(payload), 5):
            await s.send(client, payload[start : start + 5])

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_bytewise)
            await _parked(server, READ)  # the reader waits before the burst starts
            nursery.start_soon(burst)
    assert bytes(received) == payload


async def test_a_waiting_reader_gets_data_that_arrives_in_separate_sends(fds: Fds) -> None:
    client, server = await _connected(fds)
    pieces = [b"first ", b"second ", b"third ", b"fourth"]
    received = b""

    async def read_all() -> None:
        nonlocal received
        while len(received) < len(b"".join(pieces)):
            received += await s.recv(server)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            for piece in pieces:
                await _parked(server, READ)
                await s.send(client, piece)
    assert received == b"".join(pieces)


async def test_data_taken_without_waiting_does_not_hide_the_next_edge(fds: Fds) -> None:
    client, server = await _connected(fds)

    async def send_one() -> None:
        await s.send(client, b"1")

    # A wait registers the fd with the layer.
    assert await _call_while_parked(lambda: s.recv(server), server, READ, send_one) == b"1"
    # Data arrives while nobody waits: its edge is left in the layer.
    await s.send(client, b"2")
    await wait_all_tasks_blocked()
    assert await s.recv(server) == b"2"
    # Whatever the layer remembers of that edge is now stale: the next recv
    # must still sleep, and wake for the next edge.

    async def send_three() -> None:
        await s.send(client, b"3")

    with trio.fail_after(5):
        assert await _call_while_parked(lambda: s.recv(server), server, READ, send_three) == b"3"


async def test_a_large_transfer_read_in_small_pieces_completes(fds: Fds) -> None:
    client, server = await _connected(fds)
    payload = bytes(range(256)) * 4096  # 1 MiB: the writer waits for room many times
    received = bytearray()

    async def read_small() -> None:
        while data := await s.recv(server, 4096):
            received.extend(data)

    async def write() -> None:
        await _send_all(client, payload)
        s.shutdown(client, "w")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_small)
            nursery.start_soon(write)
    assert received == payload


async def test_a_waiting_reader_sees_the_peers_end_of_stream(fds: Fds) -> None:
    client, server = await _connected(fds)

    async def shutdown() -> None:
        s.shutdown(client, "w")

    with trio.fail_after(5):
        assert await _call_while_parked(lambda: s.recv(server), server, READ, shutdown) == b""
    assert s.is_eof(server)


async def test_data_and_end_of_stream_arriving_together_are_both_seen(fds: Fds) -> None:
    client, server = await _connected(fds)

    async def last_words() -> None:
        await s.send(client, b"last words")
        s.shutdown(client, "w")

    with trio.fail_after(5):
        # One edge announces both; the recv that takes the data leaves the
        # end of stream for the next recv, which must not wait for another edge.
        got = await _call_while_parked(lambda: s.recv(server), server, READ, last_words)
        assert got == b"last words"
        assert await s.recv(server) == b""
    assert s.is_eof(server)


async def test_connections_on_every_mports_listener_are_all_accepted(fds: Fds) -> None:
    listener, port = _mports_listener(fds, 1)
    clients = [fds.track(s.socket(s.AF_INET, s.SOCK_STREAM)) for _ in range(6)]
    accepted: list[int] = []

    async def accept_all() -> None:
        while len(accepted) < len(clients):
            accepted.append(fds.track((await s.accept(listener))[0]))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_all)
            await _parked(listener, READ)
            async with trio.open_nursery() as connecting:
                for number, client in enumerate(clients):
                    address = (LOOPBACK, port + number % 2)
                    connecting.start_soon(lambda c=client, a=address: s.connect(c, a))
    assert len(accepted) == len(clients)


async def test_a_burst_of_datagrams_is_all_received(fds: Fds) -> None:
    receiver = fds.track(s.socket(s.AF_INET, s.SOCK_DGRAM))
    s.bind(receiver, (LOOPBACK, 0))
    sender = fds.track(s.socket(s.AF_INET, s.SOCK_DGRAM))
    received: list[bytes] = []

    async def receive_all() -> None:
        while len(received) < 100:
            data, _ = await s.recvfrom(receiver)
            received.append(data)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive_all)
            await _parked(receiver, READ)
            for number in range(100):
                await s.sendto(sender, s.sock_name(receiver), b"%03d" % number)
    assert received == [b"%03d" % number for number in range(100)]


# --------------------------------------------------------------------------
# An error or hang-up the layer saw once does not make it spin
# --------------------------------------------------------------------------


def _run_or_fail_if_frozen(main: Callable[[], Awaitable[object]]) -> None:
    """``trio.run(main)`` on an autojump clock, watched from outside the run.

    A loop that never reaches a checkpoint freezes its run beyond the reach
    of any timeout or cancel scope, so only another thread can notice.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        pytest.fail("the trio run froze: a call looped without reaching a checkpoint")
    if errors:
        raise errors[0]


def _dead_address(type: int) -> trionet.SockAddr:
    """A loopback address nothing listens on (bound a moment ago, then closed)."""
    probe = s.socket(s.AF_INET, type)
    try:
        s.bind(probe, (LOOPBACK, 0))
        address = s.sock_name(probe)
    finally:
        s.close(probe)
    assert isinstance(address, trionet.SockAddr)
    return address


def test_recv_after_a_udp_error_the_layer_saw_still_waits_for_the_next_datagram() -> None:
    async def main() -> None:
        fds = Fds()
        try:
            dead = _dead_address(s.SOCK_DGRAM)
            sock = fds.track(s.socket(s.AF_INET, s.SOCK_DGRAM))
            await s.connect(sock, dead)
            refused: list[str] = []

            async def wait_for_reply() -> None:
                with pytest.raises(ConnectionRefusedError):
                    await s.recv(sock)
                refused.append("refused")

            async def ask() -> None:
                await s.send(sock, b"anyone?")

            # The ICMP "port unreachable" comes as an EPOLLERR edge while
            # the reader waits: the layer sees the error before recv takes it.
            await _call_while_parked(wait_for_reply, sock, READ, ask)
            assert refused == ["refused"]
            responder = fds.track(s.socket(s.AF_INET, s.SOCK_DGRAM))
            # EADDRINUSE if someone took the freed port: the test runs again.
            s.bind(responder, dead)
            await s.sendto(responder, s.sock_name(sock), b"here now")
            assert await s.recv(sock) == b"here now"
            # Nothing more comes: recv must sleep until its timeout, not spin.
            with pytest.raises(trionet.Timeout):
                await s.recv(sock, timeout=5)

            async def reply() -> None:
                await s.sendto(responder, s.sock_name(sock), b"later")

            assert await _call_while_parked(lambda: s.recv(sock), sock, READ, reply) == b"later"
        finally:
            fds.close_all()

    retry_on_addr_in_use(lambda: _run_or_fail_if_frozen(main))


# --------------------------------------------------------------------------
# One layer per trio run, across threads
# --------------------------------------------------------------------------


def _run_in_thread(
    main: Callable[[], Awaitable[object]], errors: list[BaseException]
) -> threading.Thread:
    def target() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_each_trio_run_has_its_own_layer_and_closes_it_when_it_ends() -> None:
    barrier = threading.Barrier(2, timeout=10)
    layers: dict[str, _readiness.Layer] = {}
    listed_while_both_ran: dict[str, tuple[_readiness.Layer, ...]] = {}
    layer_tasks: dict[str, int] = {}
    errors: list[BaseException] = []

    async def main(name: str) -> None:
        fds = Fds()
        try:
            with trio.fail_after(10):
                client, server = await _connected(fds)

                async def send() -> None:
                    await s.send(client, name.encode())

                got = await _call_while_parked(lambda: s.recv(server), server, READ, send)
                assert got == name.encode()
                layers[name] = _readiness.current_layer()
                layer_tasks[name] = _layer_tasks()
                await trio.to_thread.run_sync(barrier.wait)
                listed_while_both_ran[name] = _readiness._layers
                await trio.to_thread.run_sync(barrier.wait)
        finally:
            fds.close_all()

    threads = [_run_in_thread(lambda n=name: main(n), errors) for name in ("one", "two")]
    for thread in threads:
        thread.join(20)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    one, two = layers["one"], layers["two"]
    assert one is not two
    assert one._epoll is not two._epoll
    assert layer_tasks == {"one": 1, "two": 1}
    for listed in listed_while_both_ran.values():
        assert one in listed
        assert two in listed
    assert one not in _readiness._layers
    assert two not in _readiness._layers
    assert one._epoll.closed
    assert two._epoll.closed


async def test_a_run_has_one_layer_however_many_fds_it_waits_on(fds: Fds) -> None:
    pairs = [await _connected(fds) for _ in range(3)]
    async with trio.open_nursery() as nursery:
        for _client, server in pairs:
            nursery.start_soon(lambda fd=server: s.recv(fd))
        for _client, server in pairs:
            await _parked(server, READ)
        assert _layer_tasks() == 1
        for client, _server in pairs:
            await s.send(client, b"x")
    assert _layer_tasks() == 1


# --------------------------------------------------------------------------
# An fd handed between runs, and its number reused
# --------------------------------------------------------------------------


async def test_fd_closed_by_another_run_is_forgotten_and_its_number_waits_afresh(
    fds: Fds,
) -> None:
    listener = _tcp_listener(fds)
    client, handed = await _connected_to(fds, listener)

    async def send_here() -> None:
        await s.send(client, b"in A")

    got_here = await _call_while_parked(lambda: _layer_recv(handed), handed, READ, send_here)
    assert got_here == b"in A"
    layer = _readiness.current_layer()
    assert handed in layer._states
    to_b: queue.Queue[int] = queue.Queue()
    to_a: queue.Queue[str] = queue.Queue()
    errors: list[BaseException] = []

    async def run_b() -> None:
        b_fds = Fds()
        try:
            fd = b_fds.track(await _get(to_b))
            received: list[bytes] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: _append(received, _layer_recv(fd)))
                await _parked(fd, READ)  # B's own layer registered the fd
                to_a.put("waiting")
            assert received == [b"in B"]
            b_fds.close(fd)
            assert fd not in _readiness.current_layer()._states
            to_a.put("closed")
        except BaseException:
            to_a.put("failed")
            raise
        finally:
            b_fds.close_all()

    fds.give_away(handed)
    thread = _run_in_thread(run_b, errors)
    try:
        to_b.put(handed)
        await _expect(to_a, "waiting", thread, errors)
        await s.send(client, b"in B")
        await _expect(to_a, "closed", thread, errors)
        # B's close reached this run's layer too.
        assert handed not in layer._states
        reused, peer = await _pair_with_number(fds, listener, handed)

        async def send_to_reused() -> None:
            await s.send(peer, b"reused")

        with trio.fail_after(10):
            got = await _call_while_parked(
                lambda: _layer_recv(reused), reused, READ, send_to_reused
            )
        assert got == b"reused"
    finally:
        await trio.to_thread.run_sync(thread.join, 10)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


async def test_close_in_one_run_wakes_a_waiter_in_another_run(fds: Fds) -> None:
    _client, handed = await _connected(fds)
    to_b: queue.Queue[int] = queue.Queue()
    to_a: queue.Queue[str] = queue.Queue()
    errors: list[BaseException] = []

    async def run_b() -> None:
        b_fds = Fds()
        try:
            listener = _tcp_listener(b_fds)
            fd = await _get(to_b)
            outcome: list[str] = []
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_outcome_of, lambda: s.recv(fd), outcome)
                    await _parked(fd, READ)
                    to_a.put("waiting")
            assert outcome == ["closed"]
            assert fd not in _readiness.current_layer()._states
            # A new socket with the same number is waited on afresh here.
            reused, peer = await _pair_with_number(b_fds, listener, fd)

            async def send() -> None:
                await s.send(peer, b"reused in B")

            with trio.fail_after(10):
                got = await _call_while_parked(lambda: s.recv(reused), reused, READ, send)
            assert got == b"reused in B"
            to_a.put("done")
        except BaseException:
            to_a.put("failed")
            raise
        finally:
            b_fds.close_all()

    thread = _run_in_thread(run_b, errors)
    try:
        to_b.put(handed)
        await _expect(to_a, "waiting", thread, errors)
        fds.close(handed)
        await _expect(to_a, "done", thread, errors)
    finally:
        await trio.to_thread.run_sync(thread.join, 10)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_a_close_from_another_thread_keeps_the_number_until_the_waiting_run_is_told(
    fds: Fds,
) -> None:
    """A task of another run waits in trio's own wait: that run must drop the fd first.

    Closed at once, the number could go to a new socket while the run's
    trio still has the old file registered under it, and would refuse or
    never wake a wait on the new one. So the run is told, and closes it.
    """
    _client, server = trio.run(_connected, fds)
    fds.give_away(server)
    to_a: queue.Queue[str] = queue.Queue()
    hold = threading.Event()
    errors: list[BaseException] = []

    async def run_b() -> None:
        outcome: list[str] = []
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_outcome_of, lambda: s.recv(server), outcome)
                await _parked(server, READ)
                to_a.put("waiting")
                hold.wait(10)  # the run's thread is busy: it hears nothing yet
        to_a.put(outcome[0])

    thread = _run_in_thread(run_b, errors)
    try:
        assert to_a.get(timeout=10) == "waiting"
        s.close(server)
        os.fstat(server)  # still open: the number is not free yet
        hold.set()
        assert to_a.get(timeout=10) == "closed"
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(server)
    finally:
        hold.set()
        thread.join(10)
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------
# Read hooks (rule 7): reading for a follower
# --------------------------------------------------------------------------


class _Hook:
    """A read hook that takes each message itself, or declines (``take=False``)."""

    def __init__(self, fd: int, take: bool) -> None:
        self.fd = fd
        self.take = take
        self.taken: list[tuple[bytes, trio.lowlevel.Task]] = []

    def read_ready(self, task: trio.lowlevel.Task) -> bool:
        if not self.take:
            return False
        state = _readiness.current_layer().state(self.fd)
        self.taken.append((trionet._core._fdtable.entry(self.fd).sock.recv(1024), task))
        state.clear(READ)
        return True


async def _read_behind_a_leader(
    fds: Fds, take: bool, trigger: Callable[[int, _Hook, object], Awaitable[None]]
) -> tuple[list[bytes], _Hook]:
    """A task ``recv``s on a socket with a read hook while another task leads the layer.

    Once it waits (as a follower), ``trigger(peer, hook, waiter)`` runs.
    Returns what the ``recv`` returned, and the hook.
    """
    client, server = await _connected(fds)
    hook = _Hook(server, take)
    _readiness.current_layer().state(server).hook = hook
    idle = fds.track(s.socket(s.AF_INET, s.SOCK_DGRAM))
    s.bind(idle, (LOOPBACK, 0))
    got: list[bytes] = []
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_layer_recv, idle)  # the leader: nothing ever comes
            await _parked(idle, READ)
            async with trio.open_nursery() as readers:
                readers.start_soon(_append, got, _layer_recv(server))
                await _parked(server, READ)
                await trigger(client, hook, _waiter(server, READ))
            nursery.cancel_scope.cancel()
    return got, hook


@pytest.mark.parametrize("take", [True, False], ids=["reads", "declines"])
async def test_a_read_hook_reads_for_a_follower_or_lets_it_wake(take: bool, fds: Fds) -> None:
    async def send(peer: int, hook: _Hook, reader: object) -> None:
        await s.send(peer, b"first")
        await wait_all_tasks_blocked()
        if take:
            # Taken for the follower, which sleeps on, and then gets the next one.
            assert hook.taken == [(b"first", reader.task)]  # type: ignore[attr-defined]
            assert _waiter(hook.fd, READ) is reader
            hook.take = False
            await s.send(peer, b"second")

    got, _hook = await _read_behind_a_leader(fds, take, send)
    assert got == ([b"second"] if take else [b"first"])


async def test_a_read_hook_is_not_offered_the_end_of_the_stream(fds: Fds) -> None:
    async def shutdown(peer: int, _hook: _Hook, _reader: object) -> None:
        s.shutdown(peer, "w")

    got, hook = await _read_behind_a_leader(fds, True, shutdown)
    assert got == [b""]
    assert hook.taken == []
