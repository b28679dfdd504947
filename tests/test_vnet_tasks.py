"""Tasks inside a ``VirtualNetwork``: the same simulated network, the same virtual clock."""

from __future__ import annotations

import contextlib
import functools
import time

import pytest
import trio
from trio.testing import MockClock

from trionet import socket as s
from trionet import task
from trionet._core._fdtable import entry
from trionet.tcp import Tcp
from trionet.testing import TraceEntry, VirtualNetwork


async def _echo_peer(port: int, answers: int) -> str:
    """A task: listen, say so, answer ``answers`` pings at once."""
    listener = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        s.bind(listener, ("0.0.0.0", port))
        s.listen(listener, 5)
        await task.send(0, "listening")
        conn, _ = await s.accept(listener)
        try:
            for _ in range(answers):
                await s.send(conn, await s.recv(conn))
        finally:
            s.close(conn)
    finally:
        s.close(listener)
    return "done"


async def _open_peer(
    stack: contextlib.AsyncExitStack, vnet: VirtualNetwork, port: int, answers: int = 1
) -> task.Task[str]:
    """Open ``_echo_peer`` as host ``peer.test`` (the task inherits the host) and wait for it."""
    with vnet.host("peer.test"):
        peer = await stack.enter_async_context(task.open_task(_echo_peer, port, answers))
    assert await peer.recv() == "listening"
    return peer


async def _ping(port: int, timeout: float) -> bool:
    """Connect to the peer and ping it once; ``False`` on a (spurious) timeout."""
    client = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        await s.connect(client, ("127.77.0.1", port), timeout=timeout)
        await s.send(client, b"ping")
        try:
            return await s.recv(client, timeout=timeout) == b"ping"
        except s.Timeout:
            return False
    finally:
        s.close(client)


async def test_a_task_peer_shares_the_network_and_the_virtual_time(
    autojump_clock: MockClock,
) -> None:
    async with VirtualNetwork(latency=0.05) as vnet:
        vnet.add_host("peer.test")
        async with contextlib.AsyncExitStack() as stack:
            peer = await _open_peer(stack, vnet, 7000)
            start = trio.current_time()
            assert await _ping(7000, timeout=1.0)
            # A round trip to connect, one for the ping: the task's run
            # waited on the block's clock, which jumped only when both were idle.
            assert trio.current_time() - start == pytest.approx(0.2)
            assert await peer.join() == "done"
        assert [e.kind for e in vnet.trace][:2] == ["syn", "synack"]


async def test_a_task_peer_answering_promptly_never_times_out_200_runs(
    autojump_clock: MockClock,
) -> None:
    # The table: a trionet.task answering promptly gave 127-162
    # spurious timeouts in 200 runs when the clock jumped while it worked.
    spurious = 0
    started = time.perf_counter()
    async with VirtualNetwork() as vnet:
        vnet.add_host("peer.test")
        for run in range(200):
            async with contextlib.AsyncExitStack() as stack:
                await _open_peer(stack, vnet, 7000 + run)
                spurious += not await _ping(7000 + run, timeout=1.0)
    assert spurious == 0
    assert time.perf_counter() - started < 20


async def _adopt_and_echo() -> None:
    """A task: adopt the fd it is handed, echo once, close it."""
    msg, _ = await task.recv()
    async with Tcp.create_by_fd(msg["sock"].claim()) as conn:
        await conn.send_all(await conn.recv())


async def test_an_fd_handed_to_a_task_stays_virtual(autojump_clock: MockClock) -> None:
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("peer.test")
        with vnet.host("peer.test"):
            server = Tcp.create_server(("0.0.0.0", 7100))
        async with server, task.open_task(_adopt_and_echo) as worker:
            client = await Tcp.create_client(("127.77.0.1", 7100))
            async with client:
                conn, _ = await server.accept()
                assert type(entry(conn.sock_fd).sock).__name__ == "VStream"
                await worker.send({"sock": task.Handoff(conn.fly_away())})
                await client.send_all(b"handed over")
                assert await client.recv(timeout=1.0) == b"handed over"
                await worker.join()
                assert await client.recv(timeout=1.0) == b""


async def test_no_real_socket_is_opened_in_a_task_inside_the_block(
    real_sockets: list[object], autojump_clock: MockClock
) -> None:
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("peer.test")
        async with contextlib.AsyncExitStack() as stack:
            await _open_peer(stack, vnet, 7200)
            assert await _ping(7200, timeout=1.0)
    assert real_sockets == []


async def test_a_task_peer_on_the_real_clock() -> None:
    # No MockClock: every run reads the block's clock, and latency is real time.
    async with VirtualNetwork(latency=0.005) as vnet:
        vnet.add_host("peer.test")
        async with contextlib.AsyncExitStack() as stack:
            await _open_peer(stack, vnet, 7300)
            start = trio.current_time()
            assert await _ping(7300, timeout=5.0)
            assert trio.current_time() - start >= 0.02


async def _sleep_and_say(seconds: float) -> float:
    start = trio.current_time()
    await trio.sleep(seconds)
    return trio.current_time() - start


async def _sleep_until(deadline: float) -> float:
    await trio.sleep_until(deadline)
    return trio.current_time()


async def test_a_task_sees_the_blocks_manual_clock_jumps(mock_clock: MockClock) -> None:
    deadline = trio.current_time() + 60
    async with VirtualNetwork(), task.open_task(_sleep_until, deadline) as sleeper:
        with pytest.raises(s.Timeout):
            await sleeper.join(timeout=0)
        mock_clock.jump(60)
        assert await sleeper.join() == deadline


async def test_tasks_opened_by_tasks_share_the_clock_too(autojump_clock: MockClock) -> None:
    async def parent() -> float:
        async with task.open_task(_sleep_and_say, 5.0) as child:
            return await child.join()

    async with VirtualNetwork(), task.open_task(parent) as opener:
        start = trio.current_time()
        assert await opener.join() == 5.0
        assert trio.current_time() - start == 5.0


async def _sleep_then_tell(seconds: float) -> str:
    await trio.sleep(seconds)
    await task.send(0, "slept")
    return "done"


async def test_a_partial_of_an_async_main_holds_the_clock_from_the_start_50_runs(
    autojump_clock: MockClock,
) -> None:
    # Known async before the thread starts: its run joins the clock in the
    # opening thread, so the parent's own deadline never jumps past it.
    async with VirtualNetwork():
        for _ in range(50):
            start = trio.current_time()
            async with task.open_task(functools.partial(_sleep_then_tell, 1.0)) as sleeper:
                with trio.move_on_after(5):
                    assert await sleeper.recv() == "slept"
                assert trio.current_time() - start == 1.0
                assert await sleeper.join() == "done"


async def test_a_lambdas_coroutine_runs_on_the_blocks_clock(autojump_clock: MockClock) -> None:
    # A plain callable is a plain-function task until it returns its
    # coroutine (docs/tasks.md); from then on its run holds the clock.
    async with VirtualNetwork():
        start = trio.current_time()
        async with task.open_task(lambda: _sleep_then_tell(1.0)) as sleeper:
            assert await sleeper.recv() == "slept"
            assert trio.current_time() - start == 1.0
            assert await sleeper.join() == "done"


async def _traced_ping(seed: int) -> tuple[TraceEntry, ...]:
    async with VirtualNetwork(seed=seed, latency=0.05, jitter=0.02) as vnet:
        vnet.add_host("peer.test")
        async with contextlib.AsyncExitStack() as stack:
            peer = await _open_peer(stack, vnet, 7000)
            assert await _ping(7000, timeout=1.0)
            assert await peer.join() == "done"
        return tuple(vnet.trace)


def test_one_seed_gives_one_trace_with_a_task_peer() -> None:
    # The peer's thread is scheduled by the OS, not by the seed: the trace
    # must not depend on it.
    def trace(seed: int) -> tuple[TraceEntry, ...]:
        return trio.run(_traced_ping, seed, clock=MockClock(autojump_threshold=0))

    first = trace(1)
    assert {trace(1) for _ in range(9)} == {first}
    assert trace(2) != first
