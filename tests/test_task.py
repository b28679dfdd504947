"""SPEC section 4 and 8.24-8.26: tasks, messages and fd handoff.

Each task is a real thread running its own ``trio.run``; sockets are real
loopback TCP. Waits that could hang if trionet were wrong are bounded by
``trio.fail_after`` on the real clock, as a guard only: no test sleeps.
Timeout tests run under ``autojump_clock`` in the root, where nothing will
ever arrive.
"""

from __future__ import annotations

import errno
import gc
import sys
import threading

import pytest
import trio
from _fds import Fds

import trionet
from trionet import socket as s
from trionet import task
from trionet.tcp import Tcp

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

GUARD = 10  # seconds on the real clock; only a failing test gets near it


class Pair:
    """A loopback TCP connection: ``client`` to ``server``, through ``listener``."""

    def __init__(self, listener: int, client: int, server: int) -> None:
        self.listener = listener
        self.client = client
        self.server = server


def tcp_listener(fds: Fds) -> int:
    listener = fds.socket(s.AF_INET, s.SOCK_STREAM)
    s.bind(listener, ("127.0.0.1", 0))
    s.listen(listener, 256)
    return listener


async def connect_to(fds: Fds, listener: int) -> tuple[int, int]:
    """A client connected to ``listener`` and the server side accepted for it."""
    client = fds.socket(s.AF_INET, s.SOCK_STREAM)
    await s.connect(client, s.sock_name(listener))
    server, _ = await s.accept(listener)
    return client, fds.track(server)


async def tcp_pair(fds: Fds) -> Pair:
    listener = tcp_listener(fds)
    client, server = await connect_to(fds, listener)
    return Pair(listener, client, server)


def hand_off(fds: Fds, fd: int) -> task.Handoff:
    """Give ``fd`` away: from now on the handoff (or its claimer) closes it."""
    fds.give_away(fd)
    return task.Handoff(fd)


async def sees_eof(fd: int) -> bool:
    """Whether the peer of ``fd`` has closed (an orderly end or a reset)."""
    try:
        return await s.recv(fd, 16) == b""
    except ConnectionResetError:
        return True


def is_open(fd: int) -> bool:
    try:
        s.domain(fd)
    except trio.ClosedResourceError:
        return False
    return True


async def echo_one_byte(handoff: task.Handoff) -> None:
    """Claim the fd, echo one byte over it, close it (the tasks' worker step)."""
    fd = handoff.claim()
    try:
        data = await s.recv(fd, 1)
        await s.send(fd, data)
    finally:
        s.close(fd)


async def echo_worker() -> int:
    """Echo one byte on each handed-off fd until ``None`` comes; return how many."""
    handled = 0
    while True:
        msg, _ = await task.recv()
        if msg is None:
            return handled
        assert isinstance(msg, dict)
        await echo_one_byte(msg["sock"])
        handled += 1


def task_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("test-task")]


def test_the_module_exports_the_spec_names() -> None:
    names = {"open_task", "current", "send", "recv", "Handoff", "Task"}
    assert names <= set(task.__all__)
    for name in names:
        # Written in a private module, reported as trionet.task (trionet._public).
        assert getattr(task, name).__module__ == "trionet.task"


class TestLifecycle:
    async def test_join_returns_what_an_async_main_returned(self) -> None:
        async def main(a: int, b: int) -> int:
            await trio.lowlevel.checkpoint()
            return a + b

        async with task.open_task(main, 2, 3) as t:
            assert await t.join() == 5
        assert await t.join() == 5

    async def test_an_async_main_runs_its_own_trio_run_in_another_thread(self) -> None:
        async def main() -> tuple[int, trio.lowlevel.TrioToken, str]:
            return (
                threading.get_ident(),
                trio.lowlevel.current_trio_token(),
                threading.current_thread().name,
            )

        async with task.open_task(main, name="test-task-own-run") as t:
            ident, token, thread_name = await t.join()
        assert ident != threading.get_ident()
        assert token is not trio.lowlevel.current_trio_token()
        assert thread_name == "test-task-own-run"

    async def test_a_sync_main_runs_in_the_thread_without_trio(self) -> None:
        def main(word: str) -> tuple[str, bool, bool]:
            thread = threading.current_thread()
            return word * 2, trio.lowlevel.in_trio_run(), thread.daemon

        async with task.open_task(main, "ab") as t:
            pass
        assert await t.join() == ("abab", False, False)

    async def test_a_callable_returning_a_coroutine_runs_as_an_async_main(self) -> None:
        async def main(x: int) -> bool:
            await trio.lowlevel.checkpoint()
            return trio.lowlevel.in_trio_run() and x == 7

        async with task.open_task(lambda: main(7)) as t:
            assert await t.join() is True

    async def test_leaving_the_block_waits_for_the_task_and_its_thread(self) -> None:
        finished: list[bool] = []

        async def main() -> None:
            for _ in range(50):
                await trio.lowlevel.checkpoint()
            finished.append(True)

        async with task.open_task(main, name="test-task-waited"):
            pass
        assert finished == [True]
        assert task_threads() == []

    async def test_the_default_name_is_task_and_its_id(self) -> None:
        def main() -> str:
            return threading.current_thread().name

        async with task.open_task(main) as t:
            assert t.name == f"task-{t.id}"
            assert await t.join() == t.name

    async def test_bad_arguments_are_rejected_before_any_thread_starts(self) -> None:
        with pytest.raises(TypeError, match="main must be callable"):
            task.open_task(42)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="name must be a str"):
            task.open_task(lambda: None, name=b"x")  # type: ignore[call-overload]


class TestExceptions:
    async def test_a_tasks_exception_leaves_the_block_bare_and_unchanged(self) -> None:
        raised = KeyError("from the task")

        async def main() -> None:
            raise raised

        with pytest.raises(KeyError) as info:
            async with task.open_task(main):
                pass
        assert info.value is raised
        assert not isinstance(info.value, BaseExceptionGroup)

    async def test_a_sync_mains_exception_leaves_the_block_bare(self) -> None:
        def main() -> None:
            raise ZeroDivisionError("sync")

        with pytest.raises(ZeroDivisionError, match="sync"):
            async with task.open_task(main):
                pass

    async def test_join_raises_the_tasks_exception_and_the_block_does_not_repeat_it(
        self,
    ) -> None:
        async def main() -> None:
            raise KeyError("once")

        async with task.open_task(main) as t:
            with pytest.raises(KeyError, match="once"):
                await t.join()
        # Leaving the block raised nothing: join() already reported it.

    async def test_a_nursery_group_raised_by_main_comes_out_unchanged(self) -> None:
        async def fail() -> None:
            raise KeyError("child")

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fail)

        with pytest.raises(BaseExceptionGroup) as info:
            async with task.open_task(main):
                pass
        assert isinstance(info.value.exceptions[0], KeyError)

    async def test_the_parents_exception_cancels_a_task_that_sleeps_forever(self) -> None:
        cancelled: list[bool] = []
        started = trio.Event()
        token = trio.lowlevel.current_trio_token()

        async def main() -> None:
            token.run_sync_soon(started.set)
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                cancelled.append(True)
                raise

        with trio.fail_after(GUARD), pytest.raises(ValueError, match="parent"):  # noqa: PT012 - leaving the block raises
            async with task.open_task(main, name="test-task-sleeper") as t:
                await started.wait()
                raise ValueError("parent")
        assert cancelled == [True]
        assert task_threads() == []
        with pytest.raises(RuntimeError, match="was cancelled"):
            await t.join()

    async def test_a_cancel_before_the_tasks_run_starts_still_cancels_it(self) -> None:
        async def main() -> None:
            await trio.sleep_forever()

        with trio.fail_after(GUARD), pytest.raises(ValueError, match="at once"):
            async with task.open_task(main):
                raise ValueError("at once")

    async def test_the_parents_exception_wins_and_notes_the_tasks(self) -> None:
        async def main() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise KeyError("cleanup failed")

        with trio.fail_after(GUARD), pytest.raises(ValueError, match="parent") as info:  # noqa: PT012 - leaving the block raises
            async with task.open_task(main) as t:
                await trio.lowlevel.checkpoint()
                raise ValueError("parent")
        notes = getattr(info.value, "__notes__", [])
        assert any(f"task {t.id}" in note and "cleanup failed" in note for note in notes)

    async def test_cancelling_the_parent_while_it_waits_cancels_the_task(self) -> None:
        cancelled: list[bool] = []

        async def main() -> None:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                cancelled.append(True)
                raise

        with trio.fail_after(GUARD), trio.CancelScope() as scope:
            async with task.open_task(main):
                scope.cancel()  # takes effect at the block's wait
        assert scope.cancelled_caught
        assert cancelled == [True]

    async def test_a_tasks_failure_beats_the_parents_cancellation(self) -> None:
        async def main() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise KeyError("real failure")

        with (
            trio.fail_after(GUARD),
            trio.CancelScope() as scope,
            pytest.raises(KeyError, match="real failure"),
        ):
            async with task.open_task(main):
                scope.cancel()

    async def test_a_sync_main_is_not_cancelled_and_the_block_waits_for_it(self) -> None:
        started = threading.Event()
        release = threading.Event()
        finished: list[bool] = []

        def main() -> None:
            started.set()
            release.wait(GUARD)
            finished.append(release.is_set())

        with pytest.raises(ValueError, match="parent"):  # noqa: PT012 - leaving the block raises
            async with task.open_task(main, name="test-task-sync-wait"):
                await trio.to_thread.run_sync(started.wait, GUARD)
                release.set()
                raise ValueError("parent")
        assert finished == [True]
        assert task_threads() == []


class TestIdentity:
    async def test_ids_are_unique_and_the_root_is_0(self) -> None:
        def main() -> int:
            return task.current().id

        seen = []
        for _ in range(3):
            async with task.open_task(main) as t:
                assert await t.join() == t.id
            seen.append(t.id)
        assert len(set(seen)) == 3
        assert 0 not in seen
        assert task.current().id == 0

    async def test_current_outside_tasks_is_the_root(self) -> None:
        root = task.current()
        assert (root.id, root.name) == (0, "root")
        assert await trio.to_thread.run_sync(lambda: task.current().id) == 0

    async def test_current_inside_a_task_is_its_own_handle(self) -> None:
        async def main() -> task.Task[object]:
            return task.current()

        async with task.open_task(main, name="named") as t:
            assert await t.join() is t
        assert t.name == "named"

    async def test_current_in_a_sync_main_is_its_handle(self) -> None:
        async with task.open_task(task.current) as t:
            assert await t.join() is t

    async def test_join_is_refused_for_the_root_and_from_inside_the_task(self) -> None:
        with pytest.raises(RuntimeError, match="root"):
            await task.current().join()

        async def main() -> None:
            await task.current().join()

        with pytest.raises(RuntimeError, match="must be called from the trio run"):
            async with task.open_task(main):
                pass


class TestMessages:
    async def test_send_and_recv_both_ways(self) -> None:
        async def main() -> None:
            msg, sender = await task.recv()
            await task.send(sender, ("echo", msg))

        async with task.open_task(main) as t:
            await t.send({"hello": 1})
            assert await t.recv() == ("echo", {"hello": 1})

    async def test_task_recv_reports_the_sender_id(self) -> None:
        async def main() -> tuple[object, int]:
            return await task.recv()

        async with task.open_task(main) as t:
            await task.send(t.id, "by id")
            assert await t.join() == ("by id", 0)

    async def test_messages_are_passed_by_reference(self) -> None:
        shared: list[int] = []

        async def main() -> None:
            msg, _ = await task.recv()
            assert isinstance(msg, list)
            msg.append(1)
            await task.send(0, msg)

        async with task.open_task(main) as t:
            await t.send(shared)
            assert await t.recv() is shared
        assert shared == [1]

    async def test_messages_from_one_sender_arrive_in_order(self) -> None:
        async def main() -> None:
            for i in range(200):
                await task.send(0, i)

        async with task.open_task(main) as t:
            assert [await t.recv() for _ in range(200)] == list(range(200))

    async def test_t_recv_takes_only_that_tasks_messages(self) -> None:
        async def first(second_id: int) -> None:
            await task.send(0, "from first")
            await task.send(second_id, "go")  # ours is queued at the root before theirs

        async def second() -> None:
            await task.recv()
            await task.send(0, "from second")

        async with task.open_task(second) as t2, task.open_task(first, t2.id) as t1:
            assert await t2.recv() == "from second"
            assert await t1.recv() == "from first"

    async def test_task_recv_takes_from_anyone_in_arrival_order(self) -> None:
        async def main(word: str) -> None:
            await task.send(0, word)

        async with task.open_task(main, "one") as t1:
            assert await task.recv() == ("one", t1.id)
            async with task.open_task(main, "two") as t2:
                assert await task.recv() == ("two", t2.id)

    async def test_tasks_send_to_each_other_by_id(self) -> None:
        async def ping(peer: int) -> object:
            await task.send(peer, "ping")
            msg, sender = await task.recv()
            assert sender == peer
            return msg

        async def pong() -> None:
            msg, sender = await task.recv()
            await task.send(sender, f"{msg} pong")

        async with task.open_task(pong) as t2, task.open_task(ping, t2.id) as t1:
            assert await t1.join() == "ping pong"

    async def test_a_task_can_send_to_itself(self) -> None:
        async def main() -> tuple[object, int]:
            await task.send(task.current().id, "note to self")
            return await task.recv()

        async with task.open_task(main) as t:
            assert await t.join() == ("note to self", t.id)

    async def test_a_sync_main_receives_in_a_trio_run_of_its_own(self) -> None:
        def main() -> None:
            msg, sender = trio.run(task.recv)
            trio.run(task.send, sender, f"got {msg}")

        async with task.open_task(main) as t:
            await t.send("early")  # before the task has any run: kept
            with trio.fail_after(GUARD):
                assert await t.recv() == "got early"

    async def test_t_recv_of_a_finished_task_ends_after_its_messages(self) -> None:
        async def main() -> None:
            await task.send(0, "last words")

        async with task.open_task(main) as t:
            await t.join()
            assert await t.recv() == "last words"
            with pytest.raises(trio.EndOfChannel):
                await t.recv()

    async def test_t_recv_waiting_on_a_task_that_ends_wakes_up(self) -> None:
        async def main() -> None:
            await task.recv()

        async with task.open_task(main) as t, trio.open_nursery() as nursery:
            nursery.start_soon(t.send, "finish")
            with trio.fail_after(GUARD), pytest.raises(trio.EndOfChannel):
                await t.recv()

    async def test_t_recv_of_a_failed_task_raises_its_exception_once(self) -> None:
        async def main() -> None:
            raise KeyError("died")

        async with task.open_task(main) as t:
            with trio.fail_after(GUARD), pytest.raises(KeyError, match="died"):
                await t.recv()
        # Leaving the block raised nothing more: t.recv() reported it.

    async def test_send_to_a_finished_task_is_a_closed_resource_error(self) -> None:
        async with task.open_task(lambda: None) as t:
            pass
        with pytest.raises(trio.ClosedResourceError, match="finished"):
            await t.send("too late")
        with pytest.raises(trio.ClosedResourceError, match="finished"):
            await task.send(t.id, "too late")

    async def test_send_to_an_unknown_id_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="no task has id"):
            await task.send(10**9, "nobody")
        with pytest.raises(ValueError, match="to_id"):
            await task.send(-1, "nobody")

    @pytest.mark.parametrize("bad", [True, "1", 1.0, None])
    async def test_send_to_a_non_int_id_is_a_type_error(self, bad: object) -> None:
        with pytest.raises(TypeError, match="to_id"):
            await task.send(bad, "x")  # type: ignore[arg-type]

    async def test_the_root_can_send_to_itself(self) -> None:
        await task.send(0, "self")
        assert await task.recv(timeout=0) == ("self", 0)
        await task.current().send("again")
        assert await task.current().recv(timeout=0) == "again"


class TestTimeouts:
    async def test_recv_timeout_in_the_root_raises_timeout(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        start = trio.current_time()
        with pytest.raises(trionet.Timeout) as info:
            await task.recv(timeout=5)
        assert trio.current_time() - start == pytest.approx(5)
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, trio.TooSlowError)
        assert info.value.errno == errno.ETIMEDOUT

    async def test_t_recv_timeout_raises_timeout_while_the_task_runs(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        async def main() -> None:
            await task.recv()

        async with task.open_task(main) as t:
            with pytest.raises(trionet.Timeout):
                await t.recv(timeout=3)
            await t.send("done")

    async def test_recv_timeout_zero_takes_a_queued_message_without_waiting(self) -> None:
        await task.send(0, "queued")
        assert await task.recv(timeout=0) == ("queued", 0)
        with pytest.raises(trionet.Timeout):
            await task.recv(timeout=0)

    async def test_recv_timeout_zero_inside_a_task(self) -> None:
        async def main() -> bool:
            try:
                await task.recv(timeout=0)
            except trionet.Timeout:
                return True
            return False

        async with task.open_task(main) as t:
            assert await t.join() is True

    @pytest.mark.parametrize(
        ("bad", "error"), [(-1, ValueError), (float("inf"), ValueError), ("1", TypeError)]
    )
    async def test_bad_timeouts_are_rejected(self, bad: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="timeout"):
            await task.recv(timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="timeout"):
            await task.current().recv(timeout=bad)  # type: ignore[arg-type]

    async def test_join_timeout_raises_timeout_and_the_task_goes_on(
        self, autojump_clock: trio.testing.MockClock
    ) -> None:
        async def main() -> str:
            msg, _ = await task.recv()
            return str(msg)

        async with task.open_task(main) as t:
            with pytest.raises(trionet.Timeout, match="join"):
                await t.join(timeout=0)
            start = trio.current_time()
            with pytest.raises(trionet.Timeout, match="join timed out after 3 s"):
                await t.join(timeout=3)
            assert trio.current_time() - start == pytest.approx(3)
            await t.send("finish")
            assert await t.join(timeout=None) == "finish"
            # Finished: timeout=0 joins without waiting.
            assert await t.join(timeout=0) == "finish"

    @pytest.mark.parametrize(
        ("bad", "error"), [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)]
    )
    async def test_bad_join_timeouts_are_rejected(
        self, bad: object, error: type[Exception]
    ) -> None:
        async with task.open_task(trio.lowlevel.checkpoint) as t:
            with pytest.raises(error, match="timeout"):
                await t.join(timeout=bad)  # type: ignore[arg-type]

    async def test_a_cancelled_recv_consumes_nothing(self) -> None:
        await task.send(0, "kept")
        with trio.CancelScope() as scope:
            scope.cancel()
            await task.recv()
        assert scope.cancelled_caught
        assert await task.recv(timeout=0) == ("kept", 0)

    async def test_a_cancelled_send_sends_nothing(self) -> None:
        with trio.CancelScope() as scope:
            scope.cancel()
            await task.send(0, "dropped")
        assert scope.cancelled_caught
        with pytest.raises(trionet.Timeout):
            await task.recv(timeout=0)


class TestRootInbox:
    async def test_the_root_inbox_belongs_to_one_run_at_a_time(self) -> None:
        await task.send(0, "bind")
        assert await task.recv() == ("bind", 0)

        async def other_root_run() -> None:
            with pytest.raises(RuntimeError, match="another trio run"):
                await task.recv(timeout=0)
            with pytest.raises(RuntimeError, match="another trio run"):
                async with task.open_task(lambda: None):
                    pass
            await task.send(0, "sent from another run")

        await trio.to_thread.run_sync(trio.run, other_root_run)
        assert await task.recv(timeout=0) == ("sent from another run", 0)

    def test_messages_left_in_the_root_inbox_close_with_its_run(self, fds: Fds) -> None:
        async def first_run() -> int:
            pair = await tcp_pair(fds)
            await task.send(0, [hand_off(fds, pair.server)])
            return pair.client

        client = trio.run(first_run)

        async def second_run() -> None:
            with trio.fail_after(GUARD):
                assert await sees_eof(client)
            with pytest.raises(trionet.Timeout):
                await task.recv(timeout=0)  # a new, empty inbox

        trio.run(second_run)


class TestHandoff:
    @pytest.mark.parametrize(("bad", "error"), [("3", TypeError), (True, TypeError)])
    def test_a_bad_fd_is_rejected(self, bad: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="fd"):
            task.Handoff(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="fd"):
            task.Handoff(-1)

    async def test_a_task_claims_a_socket_and_echoes_over_it(self, fds: Fds) -> None:
        pair = await tcp_pair(fds)

        async def main() -> object:
            msg, _ = await task.recv()
            assert isinstance(msg, dict)
            fd = msg["sock"].claim()
            try:
                data = await s.recv(fd, 100)
                await s.send(fd, data.upper())
                return s.peer_name(fd)
            finally:
                s.close(fd)

        with trio.fail_after(GUARD):
            async with task.open_task(main) as t:
                await t.send({"sock": hand_off(fds, pair.server)})
                await s.send(pair.client, b"hello")
                assert await s.recv(pair.client, 100) == b"HELLO"
                assert await t.join() == s.sock_name(pair.client)
            assert await sees_eof(pair.client)

    async def test_a_reused_fd_number_works_in_the_root_after_the_task_closed_it(
        self, fds: Fds
    ) -> None:
        pair = await tcp_pair(fds)
        old = pair.server
        # The root's readiness layer now watches `old` and knows it is not readable.
        with pytest.raises(trionet.Timeout):
            await s.recv(old, 1, timeout=0)

        async def main() -> None:
            msg, _ = await task.recv()
            assert isinstance(msg, task.Handoff)
            await echo_one_byte(msg)

        with trio.fail_after(GUARD):
            async with task.open_task(main) as t:
                await t.send(hand_off(fds, old))
                await s.send(pair.client, b"x")
                assert await s.recv(pair.client, 1) == b"x"
            assert not is_open(old)
            spare = []
            for _ in range(8):  # the task's epoll fd may have taken a lower number
                fd = fds.socket(s.AF_INET, s.SOCK_STREAM)
                if fd == old:
                    break
                spare.append(fd)
            assert fd == old
            for extra in spare:
                fds.close(extra)
            await s.connect(fd, s.sock_name(pair.listener))
            server, _ = await s.accept(pair.listener)
            await s.send(fds.track(server), b"reused")
            assert await s.recv(fd, 100) == b"reused"

    async def test_200_handoffs_across_two_tasks_lose_none(self, fds: Fds) -> None:
        listener = tcp_listener(fds)
        with trio.fail_after(GUARD * 3):
            async with (
                task.open_task(echo_worker, name="test-task-a") as a,
                task.open_task(echo_worker, name="test-task-b") as b,
            ):
                clients = []
                for i in range(200):
                    client, server = await connect_to(fds, listener)
                    await s.send(client, bytes([i]))
                    await (a, b)[i % 2].send({"sock": hand_off(fds, server)})
                    clients.append(client)
                for i, client in enumerate(clients):
                    assert await s.recv(client, 1) == bytes([i])
                    assert await sees_eof(client)
                    fds.close(client)
                await a.send(None)
                await b.send(None)
                assert await a.join() == 100
                assert await b.join() == 100

    async def test_a_task_that_raises_closes_the_unclaimed_handoffs_in_its_inbox(
        self, fds: Fds
    ) -> None:
        go = threading.Event()
        pairs = [await tcp_pair(fds) for _ in range(3)]

        def main() -> None:
            go.wait(GUARD)
            raise KeyError("gave up")

        with trio.fail_after(GUARD):
            with pytest.raises(KeyError, match="gave up"):  # noqa: PT012 - leaving the block raises
                async with task.open_task(main) as t:
                    for pair in pairs:
                        await t.send(hand_off(fds, pair.server))
                    go.set()
            for pair in pairs:
                assert await sees_eof(pair.client)
                assert not is_open(pair.server)

    async def test_a_task_that_returns_closes_unclaimed_handoffs_in_any_message_shape(
        self, fds: Fds
    ) -> None:
        pairs = [await tcp_pair(fds) for _ in range(4)]
        handoffs = [hand_off(fds, pair.server) for pair in pairs]
        go = threading.Event()

        async def main() -> None:
            await trio.to_thread.run_sync(go.wait, GUARD)

        with trio.fail_after(GUARD):
            async with task.open_task(main) as t:
                await t.send(handoffs[0])
                await t.send([handoffs[1], "other"])
                await t.send(("tuple", handoffs[2]))
                await t.send({"sock": handoffs[3], "n": 1})
                go.set()
            for pair, handoff in zip(pairs, handoffs, strict=True):
                assert handoff.closed
                assert await sees_eof(pair.client)

    async def test_an_undeliverable_handoff_is_closed(self, fds: Fds) -> None:
        pair = await tcp_pair(fds)
        async with task.open_task(lambda: None) as t:
            pass
        handoff = hand_off(fds, pair.server)
        with pytest.raises(trio.ClosedResourceError):
            await t.send({"sock": handoff})
        assert handoff.closed
        with pytest.raises(trio.ClosedResourceError, match="closed"):
            handoff.claim()
        with trio.fail_after(GUARD):
            assert await sees_eof(pair.client)

    async def test_a_handoff_sent_to_an_unknown_id_stays_the_callers(self, fds: Fds) -> None:
        pair = await tcp_pair(fds)
        handoff = hand_off(fds, pair.server)
        with pytest.raises(ValueError, match="no task"):
            await task.send(10**9, handoff)
        fds.track(handoff.claim())

    async def test_a_second_claim_is_a_runtime_error(self, fds: Fds) -> None:
        pair = await tcp_pair(fds)
        handoff = hand_off(fds, pair.server)
        fds.track(handoff.claim())
        assert handoff.claimed
        with pytest.raises(RuntimeError, match="already claimed"):
            handoff.claim()
        handoff.close()  # a no-op after a claim
        assert is_open(pair.server)

    async def test_an_unclaimed_handoff_collected_warns_and_closes_the_fd(self, fds: Fds) -> None:
        pair = await tcp_pair(fds)
        handoff = hand_off(fds, pair.server)
        with pytest.warns(ResourceWarning, match="never claimed"):  # noqa: PT031
            del handoff
            gc.collect()
        assert not is_open(pair.server)
        with trio.fail_after(GUARD):
            assert await sees_eof(pair.client)

    async def test_making_a_handoff_wakes_a_root_task_blocked_on_the_fd(self, fds: Fds) -> None:
        pair = await tcp_pair(fds)
        woke: list[type[BaseException]] = []

        async def reader(task_status: trio.TaskStatus[None]) -> None:
            task_status.started()
            try:
                await s.recv(pair.server, 1)
            except trio.ClosedResourceError as exc:
                woke.append(type(exc))

        with trio.fail_after(GUARD):
            async with trio.open_nursery() as nursery:
                await nursery.start(reader)
                await trio.testing.wait_all_tasks_blocked()
                handoff = hand_off(fds, pair.server)
        assert woke == [trio.ClosedResourceError]
        fds.track(handoff.claim())

    async def test_the_jsre_multi_task_server_with_fly_away_and_create_by_fd(self) -> None:
        async def worker() -> int:
            served = 0
            while True:
                msg, _ = await task.recv()
                if msg is None:
                    return served
                assert isinstance(msg, dict)
                async with Tcp.create_by_fd(msg["sock_fd"].claim()) as client:
                    await client.send_all(await client.recv(100))
                served += 1

        with trio.fail_after(GUARD):
            async with (
                Tcp.create_server(("127.0.0.1", 0)) as server,
                task.open_task(worker) as w0,
                task.open_task(worker) as w1,
            ):
                workers = [w0, w1]
                for i in range(4):
                    async with await Tcp.create_client(server.sock_name()) as peer:
                        connection, _ = await server.accept()
                        await workers[i % 2].send({"sock_fd": task.Handoff(connection.fly_away())})
                        await peer.send_all(f"hi {i}")
                        assert await peer.recv(100) == f"hi {i}".encode()
                for w in workers:
                    await w.send(None)
                assert [await w.join() for w in workers] == [2, 2]
