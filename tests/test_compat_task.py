"""SPEC sections 4, 5 and 8.26: ``trionet.compat.task``, tasks for sync code.

The tasks are the async API's (same ids, inboxes and handoffs), so besides
the sync calls themselves these tests cross the two APIs both ways. Sockets
are real loopback TCP. Timeouts are real and short (0.05 s); every wait that
could hang if trionet were wrong is bounded by ``GUARD``.
"""

from __future__ import annotations

import threading
import time

import pytest
import trio
from _fds import Fds
from trionet.compat import socket as c
from trionet.compat import task

import trionet
from trionet import socket as s
from trionet import task as atask

GUARD = 5.0  # seconds; only a failing test gets near it
SHORT = 0.05


class Pair:
    """A loopback TCP connection: ``client`` to ``server``, made with compat calls."""

    def __init__(self, fds: Fds) -> None:
        listener = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.bind(listener, ("127.0.0.1", 0))
        c.listen(listener, 8)
        self.client = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(self.client, c.sock_name(listener), timeout=GUARD)
        server, _ = c.accept(listener, timeout=GUARD)
        self.server = fds.track(server)
        fds.close(listener)


def hand_off(fds: Fds, fd: int) -> task.Handoff:
    fds.give_away(fd)
    return task.Handoff(fd)


def echo_back(fd: int) -> None:
    """Echo one chunk over ``fd`` with compat calls."""
    c.send(fd, c.recv(fd, 100, timeout=GUARD).upper(), timeout=GUARD)


def sees_eof(fd: int) -> bool:
    try:
        return c.recv(fd, 16, timeout=GUARD) == b""
    except ConnectionResetError:
        return True


def test_the_module_exports_the_spec_names() -> None:
    names = {"open_task", "current", "send", "recv", "Handoff", "Task"}
    assert names <= set(task.__all__)
    assert task.Handoff is atask.Handoff


class TestTargets:
    def test_a_sync_target_runs_in_a_thread_and_join_returns_its_value(self) -> None:
        def worker(a: int, b: int) -> tuple[int, str]:
            return a + b, threading.current_thread().name

        with task.open_task(worker, 2, 3, name="compat-worker") as t:
            assert t.join() == (5, "compat-worker")
        assert t.name == "compat-worker"
        assert t.id > 0

    def test_an_async_target_runs_its_own_trio_run(self) -> None:
        async def worker() -> bool:
            await trio.lowlevel.checkpoint()
            return trio.lowlevel.current_trio_token() is not None

        with task.open_task(worker) as t:
            assert t.join() is True

    def test_current_inside_is_the_tasks_handle_and_outside_the_root(self) -> None:
        with task.open_task(task.current) as t:
            assert t.join() is t
        root = task.current()
        assert (root.id, root.name) == (0, "root")
        assert task.current() is root

    def test_both_apis_see_the_same_ids(self) -> None:
        async def worker() -> tuple[int, int]:
            return atask.current().id, task.current().id

        with task.open_task(worker) as t:
            assert t.join() == (t.id, t.id)

    def test_bad_arguments_are_rejected_before_any_thread_starts(self) -> None:
        before = threading.active_count()
        with pytest.raises(TypeError, match="main"):
            task.open_task(42)  # type: ignore[call-overload]
        with pytest.raises(TypeError, match="name"):
            task.open_task(print, name=3)  # type: ignore[call-overload]
        assert threading.active_count() == before

    def test_leaving_the_block_waits_for_the_thread(self) -> None:
        def worker() -> None:
            time.sleep(SHORT)

        with task.open_task(worker) as t:
            pass
        assert t._core.thread is not None
        assert not t._core.thread.is_alive()


class TestMessages:
    def test_root_and_a_sync_task_talk_both_ways(self) -> None:
        def worker() -> None:
            msg, sender = task.recv(timeout=GUARD)
            task.send(sender, f"hello, {msg}")

        with task.open_task(worker) as t:
            t.send("root")
            assert t.recv(timeout=GUARD) == "hello, root"

    def test_root_and_an_async_task_talk_both_ways(self) -> None:
        async def worker() -> int:
            msg, sender = await atask.recv(timeout=GUARD)
            await atask.send(sender, ("echo", msg))
            return sender

        with task.open_task(worker) as t:
            t.send([1, 2])
            assert t.recv(timeout=GUARD) == ("echo", [1, 2])
            assert t.join() == 0

    def test_a_sync_task_and_an_async_task_talk_by_id(self) -> None:
        async def server() -> None:
            msg, sender = await atask.recv(timeout=GUARD)
            await atask.send(sender, msg * 2)

        def client(server_id: int) -> object:
            task.send(server_id, 21)
            msg, sender = task.recv(timeout=GUARD)
            assert sender == server_id
            return msg

        with task.open_task(server) as a, task.open_task(client, a.id) as b:
            assert b.join() == 42

    async def test_an_async_root_and_a_sync_task_talk_both_ways(self) -> None:
        def worker() -> int:
            msg, sender = task.recv(timeout=GUARD)
            assert isinstance(msg, int)
            task.send(sender, msg + 1)
            return sender

        with trio.fail_after(GUARD):
            async with atask.open_task(worker) as t:
                await t.send(1)
                assert await t.recv() == 2
                assert await t.join() == 0

    async def test_a_sync_thread_receives_for_a_root_whose_run_has_the_inbox(self) -> None:
        async def worker() -> None:
            await atask.send(0, "to the root")

        with trio.fail_after(GUARD):
            async with atask.open_task(worker):
                got = await trio.to_thread.run_sync(lambda: task.recv(timeout=GUARD))
        assert got[0] == "to the root"

    def test_messages_arrive_in_order_and_by_reference(self) -> None:
        shared: list[int] = []

        def worker() -> list[object]:
            return [task.recv(timeout=GUARD)[0] for _ in range(101)]

        with task.open_task(worker) as t:
            for i in range(100):
                t.send(i)
            t.send(shared)
            got = t.join()
        assert got[:100] == list(range(100))
        assert got[100] is shared

    def test_t_recv_takes_only_that_tasks_messages(self) -> None:
        def worker(tag: str) -> None:
            task.send(0, tag)

        with task.open_task(worker, "a") as a, task.open_task(worker, "b") as b:
            assert b.recv(timeout=GUARD) == "b"
            assert a.recv(timeout=GUARD) == "a"

    def test_the_root_can_send_to_itself_inside_a_block(self) -> None:
        with task.open_task(lambda: None):
            task.send(0, "me")
            assert task.recv(timeout=0) == ("me", 0)

    def test_outside_any_block_nobody_receives_for_the_sync_root(self) -> None:
        with pytest.raises(trio.ClosedResourceError, match="root"):
            task.send(0, "lost")

    def test_messages_left_for_the_root_close_their_handoffs_with_the_block(self, fds: Fds) -> None:
        pair = Pair(fds)
        with task.open_task(lambda: None):
            task.send(0, {"sock": hand_off(fds, pair.server)})
        assert sees_eof(pair.client)


class TestEndings:
    def test_t_recv_of_a_finished_task_returns_what_is_left_then_ends(self) -> None:
        def worker() -> None:
            task.send(0, "last words")

        with task.open_task(worker) as t:
            t.join()
            assert t.recv(timeout=0) == "last words"
            with pytest.raises(trio.EndOfChannel):
                t.recv(timeout=GUARD)

    def test_join_timeout_raises_timeout_and_the_task_goes_on(self) -> None:
        go = threading.Event()

        def worker() -> str:
            go.wait(GUARD)
            return "done"

        with task.open_task(worker) as t:
            with pytest.raises(trionet.Timeout, match="join"):
                t.join(timeout=0)
            start = time.monotonic()
            with pytest.raises(trionet.Timeout, match=r"join timed out after 0\.05 s"):
                t.join(timeout=SHORT)
            assert time.monotonic() - start >= SHORT
            go.set()
            assert t.join(timeout=GUARD) == "done"
            assert t.join(timeout=0) == "done"

    @pytest.mark.parametrize(
        ("bad", "error"), [(-1, ValueError), (float("nan"), ValueError), ("1", TypeError)]
    )
    def test_bad_join_timeouts_are_rejected(self, bad: object, error: type[Exception]) -> None:
        with task.open_task(lambda: None) as t, pytest.raises(error, match="timeout"):
            t.join(timeout=bad)  # type: ignore[arg-type]

    def test_t_recv_waiting_on_a_task_that_ends_wakes_up(self) -> None:
        go = threading.Event()

        def worker() -> None:
            go.wait(GUARD)

        with task.open_task(worker) as t:
            threading.Timer(SHORT, go.set).start()
            with pytest.raises(trio.EndOfChannel):
                t.recv(timeout=GUARD)

    def test_a_failed_tasks_exception_comes_from_t_recv_once(self) -> None:
        def worker() -> None:
            raise KeyError("boom")

        with task.open_task(worker) as t, pytest.raises(KeyError, match="boom"):
            t.recv(timeout=GUARD)
        # Reported once: leaving the block did not raise it again.

    def test_a_tasks_exception_leaves_the_block_bare(self) -> None:
        async def worker() -> None:
            raise ValueError("bad")

        with pytest.raises(ValueError, match="bad"), task.open_task(worker):
            pass

    def test_join_raises_it_and_the_block_does_not_repeat_it(self) -> None:
        def worker() -> None:
            raise OSError("io")

        with task.open_task(worker) as t, pytest.raises(OSError, match="io"):
            t.join()

    def test_the_blocks_exception_cancels_an_async_task(self) -> None:
        async def worker() -> None:
            await trio.sleep_forever()

        with pytest.raises(KeyError, match="parent"), task.open_task(worker) as t:
            raise KeyError("parent")
        with pytest.raises(RuntimeError, match="cancelled"):
            t.join()

    def test_the_blocks_exception_notes_the_tasks(self) -> None:
        async def worker() -> None:
            try:
                await trio.sleep_forever()
            finally:
                raise OSError("cleanup failed")

        with pytest.raises(KeyError) as caught, task.open_task(worker):
            raise KeyError("parent")
        assert "cleanup failed" in "".join(getattr(caught.value, "__notes__", []))

    def test_join_is_refused_for_the_root_and_from_inside_the_task(self) -> None:
        with pytest.raises(RuntimeError, match="root"):
            task.current().join()

        def worker() -> None:
            task.current().join()

        with pytest.raises(RuntimeError, match="itself"), task.open_task(worker):
            pass


class TestErrors:
    def test_send_to_a_finished_task_is_closed(self) -> None:
        with task.open_task(lambda: None) as t:
            t.join()
            with pytest.raises(trio.ClosedResourceError, match="finished"):
                t.send("late")
            with pytest.raises(trio.ClosedResourceError):
                task.send(t.id, "late")

    def test_send_to_an_unknown_or_non_int_id(self) -> None:
        with pytest.raises(ValueError, match="no task"):
            task.send(10**9, "x")
        with pytest.raises(TypeError, match="to_id"):
            task.send(True, "x")

    def test_recv_timeout_raises_timeout_after_about_that_long(self) -> None:
        with task.open_task(lambda: None):
            started = time.monotonic()
            with pytest.raises(trionet.Timeout) as caught:
                task.recv(timeout=SHORT)
            elapsed = time.monotonic() - started
        assert isinstance(caught.value, TimeoutError)
        assert SHORT <= elapsed < GUARD

    def test_t_recv_timeout_while_the_task_runs(self) -> None:
        go = threading.Event()
        with task.open_task(go.wait, GUARD) as t:
            with pytest.raises(TimeoutError):
                t.recv(timeout=SHORT)
            go.set()

    def test_recv_timeout_zero_takes_only_a_queued_message(self) -> None:
        def worker() -> object:
            with pytest.raises(trionet.Timeout):
                task.recv(timeout=0)
            task.send(task.current().id, "queued")
            return task.recv(timeout=0)

        with task.open_task(worker) as t:
            assert t.join() == ("queued", t.id)

    @pytest.mark.parametrize(
        ("bad", "error"), [("1", TypeError), (-1, ValueError), (float("nan"), ValueError)]
    )
    def test_bad_timeouts_are_rejected(self, bad: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="timeout"):
            task.recv(timeout=bad)  # type: ignore[arg-type]


class TestHandoff:
    def test_a_compat_fd_goes_to_an_async_task_and_back(self, fds: Fds) -> None:
        pair = Pair(fds)

        async def worker() -> None:
            msg, sender = await atask.recv(timeout=GUARD)
            assert isinstance(msg, dict)
            fd = msg["sock"].claim()
            data = await s.recv(fd, 100, timeout=GUARD)
            await s.send(fd, data.upper(), timeout=GUARD)
            await atask.send(sender, {"sock": atask.Handoff(fd)})

        with task.open_task(worker) as t:
            t.send({"sock": hand_off(fds, pair.server)})
            c.send(pair.client, b"there", timeout=GUARD)
            assert c.recv(pair.client, 100, timeout=GUARD) == b"THERE"
            back = t.recv(timeout=GUARD)
        assert isinstance(back, dict)
        fd = fds.track(back["sock"].claim())
        c.send(pair.client, b"and back", timeout=GUARD)
        echo_back(fd)
        assert c.recv(pair.client, 100, timeout=GUARD) == b"AND BACK"

    def test_a_sync_task_claims_a_socket_and_echoes_over_it(self, fds: Fds) -> None:
        pair = Pair(fds)

        def worker() -> None:
            msg, _ = task.recv(timeout=GUARD)
            assert isinstance(msg, task.Handoff)
            fd = msg.claim()
            try:
                echo_back(fd)
            finally:
                c.close(fd)

        with task.open_task(worker) as t:
            t.send(hand_off(fds, pair.server))
            c.send(pair.client, b"hi", timeout=GUARD)
            assert c.recv(pair.client, 100, timeout=GUARD) == b"HI"
        assert sees_eof(pair.client)

    def test_a_sync_task_that_ends_closes_unclaimed_handoffs(self, fds: Fds) -> None:
        pair = Pair(fds)
        go = threading.Event()
        with task.open_task(go.wait, GUARD) as t:
            t.send([hand_off(fds, pair.server)])
            go.set()
        assert sees_eof(pair.client)

    def test_an_undeliverable_handoff_is_closed(self, fds: Fds) -> None:
        pair = Pair(fds)
        with task.open_task(lambda: None) as t:
            t.join()
            handoff = hand_off(fds, pair.server)
            with pytest.raises(trio.ClosedResourceError):
                t.send(handoff)
        assert handoff.closed
        assert sees_eof(pair.client)
