"""SPEC section 5: ``trionet.compat.socket`` across threads and trio runs.

Closing a socket from any thread or trio run wakes every call blocked on it
with ``trio.ClosedResourceError``; threads may share a socket; an fd moves
between sync and async code; each thread's wake-up fd lives exactly as long
as the thread; and the interpreter exits cleanly with calls still blocked.

A thread is known to be blocked in a compat call once it is registered as
a sleeper on the socket (:func:`_compat_net.wait_until_sleeping`), and a
trio task once ``wait_all_tasks_blocked`` returns in its run.
"""

from __future__ import annotations

import functools
import os
import signal
import socket as stdsocket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing
from _compat_net import (
    GUARD,
    Worker,
    connected_pair,
    recv_exactly,
    stream_listener,
    udp_socket,
    wait_until_sleeping,
)
from _fds import Fds, is_open, listener_with_mports, open_fds
from trionet.compat import socket as c
from trionet.compat._drive_sync import wake_fd

import trionet
from trionet import socket as s
from trionet._core import _fdtable
from trionet._core._fdtable import entry
from trionet.tcp import Tcp

PROMPT = 1.0  # seconds from a close to the blocked call's end; it takes microseconds


def blocked_call(name: str, fds: Fds) -> tuple[int, Callable[[], object]]:
    """A socket and a compat call on it that blocks until the socket is closed."""
    if name == "accept":
        listener = stream_listener(fds, "ipv4", Path())
        return listener, lambda: c.accept(listener)
    if name == "udp recvfrom":
        receiver = udp_socket(fds)
        return receiver, lambda: c.recvfrom(receiver)
    if name == "connect":
        listener = stream_listener(fds, "ipv4", Path(), backlog=0)
        queued = fds.socket(c.AF_INET, c.SOCK_STREAM)
        c.connect(queued, c.sock_name(listener), timeout=GUARD)
        hung = fds.socket(c.AF_INET, c.SOCK_STREAM)
        return hung, lambda: c.connect(hung, c.sock_name(listener))
    pair = connected_pair(fds)
    if name == "send":
        c.set_send_buffer_size(pair.client, 4096)
        c.set_recv_buffer_size(pair.server, 4096)
        return pair.client, lambda: send_forever(pair.client)
    buffer = bytearray(8)
    receive: dict[str, Callable[[], object]] = {
        "recv": lambda: c.recv(pair.server),
        "recv_into": lambda: c.recv_into(pair.server, buffer),
        "recvfrom": lambda: c.recvfrom(pair.server),
        "recvfrom_into": lambda: c.recvfrom_into(pair.server, buffer),
    }
    return pair.server, receive[name]


def send_forever(fd: int) -> None:
    """Send until the buffers are full, then block in ``send``."""
    for _ in range(100_000):
        c.send(fd, b"x" * 65536)
    pytest.fail("the buffers never filled")


BLOCKED_CALLS = [
    "accept",
    "connect",
    "send",
    "recv",
    "recv_into",
    "recvfrom",
    "recvfrom_into",
    "udp recvfrom",
]


def assert_woken_by_close(worker: Worker[object], closed_at: float) -> None:
    with pytest.raises(trio.ClosedResourceError):
        worker.outcome()
    assert worker.finished_at - closed_at < PROMPT


class TestCloseFromAnotherThread:
    @pytest.mark.parametrize("name", BLOCKED_CALLS)
    def test_wakes_the_blocked_call(self, fds: Fds, name: str) -> None:
        fd, call = blocked_call(name, fds)
        worker = Worker(call)
        wait_until_sleeping(fd)
        closed_at = time.monotonic()
        fds.close(fd)
        assert_woken_by_close(worker, closed_at)

    def test_wakes_a_call_blocked_in_the_main_thread(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        fds.give_away(pair.server)
        closer = Worker(lambda: (wait_until_sleeping(pair.server), c.close(pair.server)))
        start = time.monotonic()
        with pytest.raises(trio.ClosedResourceError):
            c.recv(pair.server, timeout=GUARD)
        assert time.monotonic() - start < GUARD / 2
        closer.outcome()

    def test_wakes_every_thread_blocked_on_the_socket(self, fds: Fds) -> None:
        listener = stream_listener(fds, "ipv4", Path())
        acceptors = [Worker(lambda: c.accept(listener, timeout=GUARD)) for _ in range(4)]
        wait_until_sleeping(listener, 4)
        closed_at = time.monotonic()
        fds.close(listener)
        for acceptor in acceptors:
            assert_woken_by_close(acceptor, closed_at)

    def test_wakes_a_reader_and_a_writer_blocked_on_one_socket(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.set_send_buffer_size(pair.client, 4096)
        c.set_recv_buffer_size(pair.server, 4096)
        reader = Worker(lambda: c.recv(pair.client))
        writer = Worker(lambda: send_forever(pair.client))
        wait_until_sleeping(pair.client, 2)
        closed_at = time.monotonic()
        fds.close(pair.client)
        assert_woken_by_close(reader, closed_at)
        assert_woken_by_close(writer, closed_at)

    def test_a_later_call_on_the_closed_fd_is_closed_resource_error(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        reader = Worker(lambda: c.recv(pair.server))
        wait_until_sleeping(pair.server)
        fds.close(pair.server)
        with pytest.raises(trio.ClosedResourceError):
            reader.outcome()
        with pytest.raises(trio.ClosedResourceError):
            c.recv(pair.server, timeout=0)


def test_a_socket_registered_on_a_reused_number_wakes_the_threads_on_the_old_one(
    fds: Fds,
) -> None:
    # The number was closed behind trionet's back (dup2 closes it and reuses
    # it at once) while a thread sleeps in poll on the old listener, which
    # the poll keeps alive: no connection will ever wake it there.
    listener = stream_listener(fds, "ipv4", Path())
    acceptor = Worker(lambda: c.accept(listener, timeout=GUARD))
    wait_until_sleeping(listener)
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM) as newcomer:
        os.dup2(newcomer.fileno(), listener)
    reused = stdsocket.socket(fileno=listener)
    reused.setblocking(False)
    closed_at = time.monotonic()
    _fdtable.register(reused)
    assert_woken_by_close(acceptor, closed_at)
    assert entry(listener).sock is reused


def test_a_socket_registered_on_a_reused_number_outlives_the_old_socket_object(
    fds: Fds,
) -> None:
    # As in the test above; the old entry's socket object, dropped by the
    # last holder, must not close the number: it is the newcomer's.
    fd = fds.socket(c.AF_INET, c.SOCK_DGRAM)
    stale = entry(fd)
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM) as newcomer:
        os.dup2(newcomer.fileno(), fd)
    reused = stdsocket.socket(fileno=fd)
    reused.setblocking(False)
    _fdtable.register(reused)
    try:
        stale.sock.close()  # what its finalizer does once the last holder drops it
    finally:
        if reused.fileno() >= 0 and not is_open(fd):
            reused.detach()  # closed by the stale object: never close the number again
    assert is_open(fd)
    assert entry(fd).sock.type == stdsocket.SOCK_STREAM


def test_a_socket_registered_on_a_reused_number_closes_the_old_mports_listeners(
    fds: Fds,
) -> None:
    # A listener closed behind trionet's back, its number reused: its extra
    # listeners (numbers of their own) must not stay open until collected.
    listener = listener_with_mports(fds, "ipv4", 2, c.mports)
    extras = [extra.fileno() for extra in entry(listener).extras]
    assert len(extras) == 2
    with stdsocket.socket(stdsocket.AF_INET, stdsocket.SOCK_STREAM) as newcomer:
        os.dup2(newcomer.fileno(), listener)
    reused = stdsocket.socket(fileno=listener)
    reused.setblocking(False)
    _fdtable.register(reused)
    assert not any(is_open(extra) for extra in extras)
    assert entry(listener).extras == []


def test_a_second_thread_receiving_on_a_socket_is_busy_resource_error(fds: Fds) -> None:
    # As a second task is (SPEC section 0); threads may share a listener only.
    pair = connected_pair(fds)
    reader = Worker(lambda: c.recv(pair.server, timeout=GUARD))
    wait_until_sleeping(pair.server)
    with pytest.raises(trio.BusyResourceError):
        c.recv(pair.server, timeout=GUARD)
    with pytest.raises(trio.BusyResourceError):
        c.recvfrom_into(pair.server, bytearray(4), timeout=GUARD)
    c.send(pair.client, b"for the first")
    assert reader.outcome() == b"for the first"


def test_a_call_racing_a_close_does_not_adopt_the_closing_fd(
    fds: Fds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # close() takes the fd out of the table, then closes the socket. A call
    # from another thread in between must not find the fd "unknown" and adopt
    # it: the new entry's socket object would outlive the close and, once
    # dropped, close whatever socket reuses the number. The racing call is
    # made from inside close, where a thread switch could run it.
    pair = connected_pair(fds)
    fds.give_away(pair.server)
    racing: list[BaseException] = []
    close_socket = _fdtable.close_socket

    def close_socket_racing_a_call(sock: stdsocket.socket) -> None:
        try:
            c.recv(pair.server, timeout=0)
        except (trio.ClosedResourceError, trionet.Timeout) as exc:
            racing.append(exc)
        close_socket(sock)

    monkeypatch.setattr(_fdtable, "close_socket", close_socket_racing_a_call)
    try:
        c.close(pair.server)
        assert _fdtable._entries.get(pair.server) is None, "the closed fd was adopted again"
        assert [type(exc) for exc in racing] == [trio.ClosedResourceError]
    finally:
        stale = _fdtable._entries.pop(pair.server, None)
        if stale is not None:
            stale.sock.detach()  # its fd is closed already; never close the number again


class TestCloseAcrossSyncAndAsync:
    def test_a_trio_task_in_another_thread_closing_wakes_a_sync_recv(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        fds.give_away(pair.server)

        async def close_once_blocked() -> None:
            await trio.to_thread.run_sync(wait_until_sleeping, pair.server)
            s.close(pair.server)

        closer = Worker(lambda: trio.run(close_once_blocked))
        start = time.monotonic()
        with pytest.raises(trio.ClosedResourceError):
            c.recv(pair.server, timeout=GUARD)
        assert time.monotonic() - start < GUARD / 2
        closer.outcome()

    async def test_async_code_closing_wakes_a_thread_blocked_in_compat(self, fds: Fds) -> None:
        listener = stream_listener(fds, "ipv4", Path())
        acceptor = Worker(lambda: c.accept(listener, timeout=GUARD))
        await trio.to_thread.run_sync(wait_until_sleeping, listener)
        closed_at = time.monotonic()
        fds.close(listener)
        await trio.to_thread.run_sync(assert_woken_by_close, acceptor, closed_at)

    async def test_a_sync_close_in_another_thread_wakes_an_async_waiter(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        fds.give_away(pair.server)
        with trio.fail_after(GUARD):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(expect_closed, pair.server)
                await trio.testing.wait_all_tasks_blocked()
                await trio.to_thread.run_sync(c.close, pair.server)

    def test_a_sync_close_wakes_a_task_of_a_trio_run_in_another_thread(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        fds.give_away(pair.server)
        blocked = threading.Event()

        async def wait_in_recv() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(expect_closed, pair.server)
                await trio.testing.wait_all_tasks_blocked()
                blocked.set()

        run = Worker(lambda: trio.run(wait_in_recv))
        assert blocked.wait(GUARD)
        c.close(pair.server)
        run.outcome()


async def expect_closed(fd: int) -> None:
    with pytest.raises(trio.ClosedResourceError):
        await s.recv(fd, timeout=GUARD)


class TestThreadsSharingAListener:
    def test_eight_threads_accept_every_connection_exactly_once(self, fds: Fds) -> None:
        count = 64
        listener = stream_listener(fds, "ipv4", Path(), backlog=count)

        def serve() -> list[int]:
            """Accept and answer connections until the listener is closed."""
            served = []
            while True:
                try:
                    server, _remote = c.accept(listener, timeout=GUARD)
                except trio.ClosedResourceError:
                    return served
                try:
                    token = recv_exactly(server, 4)
                    c.send(server, token[::-1], timeout=GUARD)
                finally:
                    c.close(server)
                served.append(int.from_bytes(token, "big"))

        servers = [Worker(serve) for _ in range(8)]
        wait_until_sleeping(listener, 8)
        clients = []
        for number in range(count):
            client = fds.socket(c.AF_INET, c.SOCK_STREAM)
            c.connect(client, c.sock_name(listener), timeout=GUARD)
            c.send(client, number.to_bytes(4, "big"), timeout=GUARD)
            clients.append(client)
        for number, client in enumerate(clients):
            assert recv_exactly(client, 4) == number.to_bytes(4, "big")[::-1]
        fds.close(listener)
        served = [worker.outcome() for worker in servers]
        assert sorted(token for tokens in served for token in tokens) == list(range(count))


class TestHandingAnFdBetweenSyncAndAsync:
    def test_a_compat_fd_serves_an_async_tcp_object_and_comes_back(self, fds: Fds) -> None:
        pair = connected_pair(fds)

        async def shout_back(fd: int) -> int:
            tcp = Tcp.create_by_fd(fd)
            data = await tcp.recv(timeout=GUARD)
            await tcp.send_all(data.upper(), timeout=GUARD)
            return tcp.fly_away()

        c.send(pair.client, b"hello async")
        assert trio.run(shout_back, pair.server) == pair.server
        assert recv_exactly(pair.client, 11) == b"HELLO ASYNC"
        c.send(pair.server, b"back in sync")
        assert recv_exactly(pair.client, 12) == b"back in sync"

    def test_a_trio_run_in_a_thread_echoes_while_sync_code_talks_to_it(self, fds: Fds) -> None:
        pair = connected_pair(fds)

        async def echo(fd: int) -> int:
            echoed = 0
            while data := await s.recv(fd, timeout=GUARD):
                echoed += await s.send(fd, data, timeout=GUARD)
            return echoed

        run = Worker(lambda: trio.run(echo, pair.server))
        for message in (b"one", b"two" * 1000, b"three" * 10_000):
            send_all(pair.client, message)
            assert recv_exactly(pair.client, len(message)) == message
        c.shutdown(pair.client, "w")
        assert run.outcome() == 3 + 3000 + 50_000
        assert c.is_eof(pair.server)
        c.send(pair.server, b"sync again")
        assert recv_exactly(pair.client, 10) == b"sync again"

    def test_an_fd_connected_by_async_code_is_used_by_sync_code(self, fds: Fds) -> None:
        listener = stream_listener(fds, "ipv4", Path())

        async def dial() -> int:
            tcp = await Tcp.create_client(c.sock_name(listener), timeout=GUARD)
            await tcp.send(b"from async", timeout=GUARD)
            return tcp.fly_away()

        client = fds.track(trio.run(dial))
        server, remote = c.accept(listener, timeout=GUARD)
        fds.track(server)
        assert remote == c.sock_name(client)
        assert recv_exactly(server, 10) == b"from async"
        c.send(client, b"from sync")
        assert recv_exactly(server, 9) == b"from sync"


def send_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    for _ in range(len(data)):
        if not view:
            return
        view = view[c.send(fd, view, timeout=GUARD) :]


class TestWakeUpFds:
    def test_each_thread_has_its_own_and_it_is_closed_when_the_thread_ends(self, fds: Fds) -> None:
        receivers = [udp_socket(fds) for _ in range(4)]
        before = open_fds()
        all_made = threading.Barrier(4, timeout=GUARD)

        def wait_twice(receiver: int) -> int:
            with pytest.raises(trionet.Timeout):
                c.recvfrom(receiver, timeout=0.05)
            first = wake_fd()
            with pytest.raises(trionet.Timeout):
                c.recvfrom(receiver, timeout=0.05)
            assert wake_fd() == first  # made once per thread, not per call
            all_made.wait()
            return first

        workers = [Worker(functools.partial(wait_twice, fd)) for fd in receivers]
        made = [worker.outcome() for worker in workers]
        assert len(set(made)) == 4
        assert wake_fd() not in made
        assert not any(map(is_open, made))
        assert open_fds() == before

    def test_a_thread_that_never_waits_makes_none(self, fds: Fds) -> None:
        pair = connected_pair(fds)
        c.send(pair.client, b"ready")
        give_up = time.monotonic() + GUARD
        while c.pending(pair.server) < 5:
            assert time.monotonic() < give_up
        before = open_fds()
        counted = Worker(lambda: (c.recv(pair.server, timeout=GUARD), open_fds()))
        assert counted.outcome() == (b"ready", before)


class SignalledError(Exception):
    pass


def test_a_signal_handlers_exception_interrupts_a_blocked_call(fds: Fds) -> None:
    # As Ctrl-C does: poll() returns for the signal, and the handler's
    # exception leaves the call, unregistered from the socket.
    pair = connected_pair(fds)

    def raise_signalled(signum: int, frame: object) -> None:
        raise SignalledError

    previous = signal.signal(signal.SIGALRM, raise_signalled)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        start = time.monotonic()
        with pytest.raises(SignalledError):
            c.recv(pair.server, timeout=GUARD)
        assert time.monotonic() - start < GUARD / 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not entry(pair.server).sleepers
    c.send(pair.client, b"still works")
    assert recv_exactly(pair.server, 11) == b"still works"


EXIT_SCRIPT = """
import threading
import time

from trionet._core._fdtable import entry
from trionet.compat import socket as c

listener = c.socket(c.AF_INET, c.SOCK_STREAM)
c.bind(listener, ("127.0.0.1", 0))
c.listen(listener)
client = c.socket(c.AF_INET, c.SOCK_STREAM)
c.connect(client, c.sock_name(listener), timeout=5)
server, _remote = c.accept(listener, timeout=5)
try:
    c.recv(server, timeout=0.01)  # the main thread's wake-up fd too
except TimeoutError:
    pass
threading.Thread(target=c.recv, args=(server,), daemon=True).start()
threading.Thread(target=c.accept, args=(listener,), daemon=True).start()
give_up = time.monotonic() + 5
while not (entry(server).sleepers and entry(listener).sleepers):
    assert time.monotonic() < give_up, "the threads never blocked"
    time.sleep(0.001)
print("exiting with two threads blocked", flush=True)
"""


def test_the_interpreter_exits_with_sockets_open_and_threads_blocked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.stdout == "exiting with two threads blocked\n", done.stderr
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
    assert done.stderr == ""
