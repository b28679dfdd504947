"""``trionet.compat.iosched`` (SPEC sections 5 and 8.27): JSRE's callback mode.

Events on pipes and loopback sockets; an echo server in callback mode with
fifty clients in callback mode, all in one thread. Waits are real and short.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest
from _compat import iosched_left_clean
from _compat_net import Worker
from _fds import Owned
from trionet.compat import iosched
from trionet.compat.tcp import Tcp

SHORT = 0.1
SLACK = 2.0


@pytest.fixture(autouse=True)
def _iosched_clean() -> Iterator[None]:
    yield from iosched_left_clean()


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe: (read end, write end), both closed after the test."""
    read_end, write_end = os.pipe()
    try:
        yield read_end, write_end
    finally:
        for fd in (read_end, write_end):
            with contextlib.suppress(OSError):  # the test may have closed it
                os.close(fd)


class TestEvent:
    def test_event_holds_what_it_was_given(self) -> None:
        def callback(*args: object) -> None:
            pass

        ev = iosched.event(iosched.READ, 7, callback, "a", 2)
        assert (ev.kind, ev.fd, ev.callback, ev.args) == (iosched.READ, 7, callback, ("a", 2))
        assert not ev.added
        assert "READ fd=7" in repr(ev)

    @pytest.mark.parametrize(
        ("args", "error", "match"),
        [
            ((3, 0, print), ValueError, "kind"),
            (("r", 0, print), TypeError, "kind"),
            ((iosched.READ, -1, print), ValueError, "fd"),
            ((iosched.WRITE, 1.5, print), TypeError, "fd"),
            ((iosched.WRITE, 0, None), TypeError, "callback"),
        ],
        ids=["unknown-kind", "str-kind", "negative-fd", "float-fd", "no-callback"],
    )
    def test_bad_arguments(
        self, args: tuple[object, ...], error: type[Exception], match: str
    ) -> None:
        with pytest.raises(error, match=match):
            iosched.event(*args)  # type: ignore[arg-type]

    def test_add_and_delete_take_only_events(self) -> None:
        with pytest.raises(TypeError, match="Event"):
            iosched.add(3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Event"):
            iosched.delete(None)  # type: ignore[arg-type]


class TestPoll:
    def test_runs_a_ready_callback_with_its_args_and_counts_it(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        seen: list[tuple[object, ...]] = []
        ev = iosched.event(iosched.READ, read_end, lambda *args: seen.append(args), "x", 1)
        iosched.add(ev)
        iosched.add(ev)  # a no-op: still one event
        assert iosched.poll(0) == 0
        os.write(write_end, b"!")
        assert iosched.poll(1) == 1
        assert seen == [("x", 1)]
        # Level-triggered: still readable, so due again.
        assert iosched.poll(0) == 1
        iosched.delete(ev)
        iosched.delete(ev)  # a no-op
        assert not ev.added

    def test_write_event_on_a_writable_fd(self, pipe: tuple[int, int]) -> None:
        _read_end, write_end = pipe
        ev = iosched.event(iosched.WRITE, write_end, lambda: False)
        iosched.add(ev)
        assert iosched.poll(0) == 1
        assert not ev.added

    def test_poll_waits_up_to_its_timeout(self, pipe: tuple[int, int]) -> None:
        read_end, _write_end = pipe
        ev = iosched.event(iosched.READ, read_end, lambda: None)
        iosched.add(ev)
        start = time.monotonic()
        assert iosched.poll(SHORT) == 0
        assert SHORT <= time.monotonic() - start < SHORT + SLACK
        start = time.monotonic()
        assert iosched.poll(0) == 0
        assert time.monotonic() - start < SLACK
        iosched.delete(ev)

    def test_poll_wakes_when_another_thread_makes_the_fd_ready(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        iosched.add(iosched.event(iosched.READ, read_end, lambda: False))

        def write_soon() -> None:
            time.sleep(SHORT)  # the other thread's delay; the poll must not time out
            os.write(write_end, b"!")

        writer = Worker(write_soon)
        start = time.monotonic()
        assert iosched.poll(30) == 1
        assert time.monotonic() - start < SLACK
        writer.outcome()

    def test_bad_timeouts(self) -> None:
        with pytest.raises(ValueError, match="timeout"):
            iosched.poll(-1)
        with pytest.raises(TypeError, match="timeout"):
            iosched.poll("1")  # type: ignore[arg-type]

    def test_poll_forever_with_nothing_added_is_refused(self) -> None:
        with pytest.raises(RuntimeError, match="wait forever"):
            iosched.poll()
        start = time.monotonic()
        assert iosched.poll(SHORT) == 0
        assert SHORT <= time.monotonic() - start < SHORT + SLACK


class TestCallbacks:
    def test_returning_false_removes_the_event_and_anything_else_keeps_it(
        self, pipe: tuple[int, int]
    ) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"!")
        results: list[object] = [None, 0, "", True, False]
        calls: list[object] = []

        def callback() -> object:
            calls.append(results[len(calls)])
            return calls[-1]

        ev = iosched.event(iosched.READ, read_end, callback)
        iosched.add(ev)
        for _ in range(10):
            if not iosched.poll(0):
                break
        assert calls == results
        assert not ev.added

    def test_deleting_an_event_due_later_in_the_round_stops_it(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"!")
        calls: list[str] = []
        second = iosched.event(iosched.READ, read_end, lambda: calls.append("second"))

        def first() -> bool:
            calls.append("first")
            iosched.delete(second)
            return False

        iosched.add(iosched.event(iosched.READ, read_end, first))
        iosched.add(second)
        assert iosched.poll(0) == 1
        assert calls == ["first"]
        assert iosched.poll(0) == 0

    def test_an_event_added_during_a_round_is_due_from_the_next(
        self, pipe: tuple[int, int]
    ) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"!")
        calls: list[str] = []
        later = iosched.event(iosched.READ, read_end, lambda: calls.append("later"))

        def first() -> bool:
            calls.append("first")
            iosched.add(later)
            return False

        iosched.add(iosched.event(iosched.READ, read_end, first))
        assert iosched.poll(0) == 1
        assert calls == ["first"]
        assert iosched.poll(0) == 1
        assert calls == ["first", "later"]
        iosched.delete(later)

    def test_an_exception_comes_out_of_poll_and_keeps_the_rest(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"!")
        calls: list[str] = []

        def explode() -> None:
            calls.append("explode")
            raise LookupError("from a callback")

        failing = iosched.event(iosched.READ, read_end, explode)
        other = iosched.event(iosched.READ, read_end, lambda: calls.append("other"))
        iosched.add(failing)
        iosched.add(other)
        with pytest.raises(LookupError):
            iosched.poll(0)
        assert calls == ["explode"]
        assert failing.added
        assert other.added
        iosched.delete(failing)
        assert iosched.poll(0) == 1
        assert calls == ["explode", "other"]
        iosched.delete(other)

    def test_poll_inside_a_callback_is_refused(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"!")
        ev = iosched.event(iosched.READ, read_end, lambda: iosched.poll(0))
        iosched.add(ev)
        with pytest.raises(RuntimeError, match="inside"):
            iosched.poll(0)
        iosched.delete(ev)

    def test_a_hang_up_or_an_error_makes_read_and_write_events_due(
        self, pipe: tuple[int, int]
    ) -> None:
        read_end, write_end = pipe
        os.set_blocking(write_end, False)
        with contextlib.suppress(BlockingIOError):
            for _ in range(10_000):
                os.write(write_end, bytes(4096))
        calls: list[str] = []

        def called(name: str) -> bool:
            calls.append(name)
            return False

        iosched.add(iosched.event(iosched.WRITE, write_end, called, "write"))
        assert iosched.poll(0) == 0  # the pipe is full
        os.close(read_end)  # POLLERR on the write end
        assert iosched.poll(1) == 1
        read_end, write_end = os.pipe()
        iosched.add(iosched.event(iosched.READ, read_end, called, "read"))
        os.close(write_end)  # POLLHUP on the read end
        assert iosched.poll(1) == 1
        os.close(read_end)
        assert calls == ["write", "read"]

    def test_an_event_on_a_closed_fd_is_removed_without_a_call(self) -> None:
        read_end, write_end = os.pipe()
        calls: list[str] = []
        ev = iosched.event(iosched.READ, read_end, lambda: calls.append("called"))
        iosched.add(ev)
        os.close(read_end)
        os.close(write_end)
        assert iosched.poll(0) == 0
        assert not ev.added
        assert calls == []


class TestThreads:
    def test_each_thread_has_its_own_scheduler(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"!")
        ev = iosched.event(iosched.READ, read_end, lambda: False)
        iosched.add(ev)
        # Another thread sees none of this thread's events...
        assert Worker(lambda: iosched.poll(0)).outcome() == 0
        # ...and may not delete or add them.
        with pytest.raises(RuntimeError, match="another thread"):
            Worker(lambda: iosched.delete(ev)).outcome()
        with pytest.raises(RuntimeError, match="another thread"):
            Worker(lambda: iosched.add(ev)).outcome()
        assert iosched.poll(0) == 1

    def test_forever_returns_once_no_event_is_left(self, pipe: tuple[int, int]) -> None:
        read_end, write_end = pipe
        os.write(write_end, b"abc")
        left = [3]

        def take_one() -> bool:
            os.read(read_end, 1)
            left[0] -= 1
            return left[0] > 0

        iosched.add(iosched.event(iosched.READ, read_end, take_one))
        iosched.forever()
        assert left == [0]
        iosched.forever()  # nothing registered: returns at once


CLIENTS = 50


class TestEchoServerInCallbackMode:
    def test_fifty_clients_in_callback_mode_are_echoed_in_one_thread(self, owned: Owned) -> None:
        server = owned(Tcp.create_server(("127.0.0.1", 0), backlog=CLIENTS))
        echoed: dict[int, bytes] = {}
        served: list[Tcp] = []

        def on_readable(conn: Tcp) -> bool:
            data = conn.recv(timeout=0)
            if data:
                conn.send_all(data, timeout=5)
                return True
            conn.close()
            return False

        def on_connection(conn: Tcp, remote: object) -> None:
            served.append(owned(conn))
            iosched.add(iosched.event(iosched.READ, conn.sock_fd, on_readable, conn))

        def on_connected(number: int, client: Tcp | None, remote: object) -> None:
            assert client is not None, f"client {number} failed to connect"
            client.send_all(f"hello {number}", timeout=5)
            iosched.add(iosched.event(iosched.READ, client.sock_fd, on_reply, number, client))

        def on_reply(number: int, client: Tcp) -> bool:
            echoed[number] = client.recv(timeout=0)
            client.close()
            return False

        server.accept(callback=on_connection)
        for number in range(CLIENTS):
            owned(
                Tcp.create_client(
                    server.sock_name(),
                    timeout=10,
                    callback=lambda tcp, remote, number=number: on_connected(number, tcp, remote),
                )
            )
        ran = 0
        for _ in range(20 * CLIENTS):
            if len(echoed) == CLIENTS and all(conn.closed for conn in served):
                break
            ran += iosched.poll(5)
        assert echoed == {number: f"hello {number}".encode() for number in range(CLIENTS)}
        assert len(served) == CLIENTS
        assert all(conn.closed for conn in served)
        # CLIENTS each: connected, accepted, echoed, replied, lost.
        assert ran >= 5 * CLIENTS
        server.close()
        assert iosched.poll(0) == 0
