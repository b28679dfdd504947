"""Multi-task servers (EdgerOS): a master, its sub-server tasks, fd handoff.

Sub-servers run in real threads with their own trio runs, so these tests
use real time (bounded by ``fail_after``) rather than the autojump clock.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import trio
from test_examples import EXAMPLES, _run
from test_net_examples import _load

from trionet import net, task

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True

LIMIT = 20  # seconds: a generous bound for any one test


def _reply_task_id(sock: net.Socket) -> None:
    sock.end(str(task.current().id))
    sock.resume()


def _sub_threads(group: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"{group}/sub")]


async def _ask(port: int, data: bytes = b"") -> str:
    """Connect, send ``data``, return everything until the server closes."""
    async with net.connect(port, "127.0.0.1") as sock:
        sock.set_encoding("utf-8")
        reply: list[str] = []
        sock.on("data", reply.append)
        if data:
            sock.write(data)
        await sock.wait_closed()
    return "".join(reply)


@asynccontextmanager
async def _listening(
    listener: Callable[..., Any] | None = None, **options: Any
) -> AsyncIterator[tuple[net.Server, int]]:
    with trio.fail_after(LIMIT):
        async with net.create_server(listener, **options) as server:
            await server.listen(0, "127.0.0.1")
            port = server.port()
            assert port is not None
            yield server, port


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for another thread to make ``condition`` true (bounded by the test's limit)."""
    # Polling, not an event: the condition changes in the sub tasks' threads.
    while not condition():  # noqa: ASYNC110
        await trio.sleep(0.005)


async def test_thirty_connections_are_served_ten_by_each_task() -> None:
    async with _listening(_reply_task_id, subs=2) as (server, port):
        replies: list[str] = []

        async def one() -> None:
            replies.append(await _ask(port))

        async with trio.open_nursery() as nursery:
            for _ in range(30):
                nursery.start_soon(one)
        server.close()
    counts = Counter(replies)
    assert len(counts) == 3
    assert "0" in counts  # the master (this test's run is the root task)
    assert sorted(counts.values()) == [10, 10, 10]


async def test_three_hundred_connections_none_lost() -> None:
    def echo(sock: net.Socket) -> None:
        sock.on("data", sock.write)

    async with _listening(echo, subs=2, group="echo") as (server, port):
        answers: dict[int, str] = {}
        gate = trio.Semaphore(50)

        async def one(number: int) -> None:
            async with gate, net.connect(port, "127.0.0.1") as sock:
                sock.write(f"{number:03d}")
                received = ""
                while len(received) < 3:
                    received += (await sock.receive_some()).decode()
                answers[number] = received

        async with trio.open_nursery() as nursery:
            for number in range(300):
                nursery.start_soon(one, number)
        server.close()
        await server.wait_closed()
        assert server.get_connections() == 0
    assert answers == {number: f"{number:03d}" for number in range(300)}


async def test_get_connections_on_the_master_counts_every_task() -> None:
    def hold(sock: net.Socket) -> None:
        sock.write(str(task.current().id))
        sock.resume()

    async with _listening(hold, subs=2) as (server, port):
        async with AsyncExitStack() as stack:
            served_by = set()
            for _ in range(3):
                sock = await stack.enter_async_context(net.connect(port, "127.0.0.1"))
                # The serving task counted the connection before its listener ran.
                served_by.add(await sock.receive_some())
            assert len(served_by) == 3
            assert server.get_connections() == 3
        await _until(lambda: server.get_connections() == 0)
        server.close()


async def test_max_connections_counts_the_whole_group() -> None:
    dropped: list[object] = []

    def greet(sock: net.Socket) -> None:
        sock.write("hi")
        sock.resume()

    async with _listening(greet, subs=2, max_connections=2) as (server, port):
        server.on("drop", dropped.append)
        async with (
            net.connect(port, "127.0.0.1") as first,
            net.connect(port, "127.0.0.1") as second,
        ):
            assert await first.receive_some() == b"hi"
            assert await second.receive_some() == b"hi"
            async with net.connect(port, "127.0.0.1") as third:
                assert await third.receive_some() == b""  # accepted and closed at once
        server.close()
    assert len(dropped) == 1


async def test_closing_the_master_closes_the_subs_and_ends_their_threads() -> None:
    closed: list[str] = []

    def sub_main(sub: net.Server) -> None:
        sub.on("connection", _reply_task_id)
        sub.on("close", lambda: closed.append(sub.group_name[1]))

    before = set(threading.enumerate())
    async with _listening(_reply_task_id, subs=2, group="closing", sub_main=sub_main) as (
        server,
        _port,
    ):
        server.on("close", lambda: closed.append("master"))
        assert sorted(_sub_threads("closing")) == ["closing/sub1", "closing/sub2"]
        server.close()
        await server.wait_closed()
        # 'close' on the master comes after every sub's, with their threads joined.
        assert sorted(closed[:2]) == ["sub1", "sub2"]
        assert closed[2:] == ["master"]
        assert _sub_threads("closing") == []
    assert set(threading.enumerate()) == before


async def test_leaving_the_block_without_listening_ends_the_subs() -> None:
    with trio.fail_after(LIMIT):
        async with net.create_server(subs=3, group="idle") as server:
            assert len(_sub_threads("idle")) == 3
            assert not server.listening
    assert _sub_threads("idle") == []


async def test_an_unrefed_master_destroys_the_subs_connections_on_leaving() -> None:
    def greet(sock: net.Socket) -> None:
        sock.write("hi")
        sock.on("data", lambda _chunk: None)

    ends: list[bytes] = []

    async def client(port: int, *, task_status: trio.TaskStatus[None]) -> None:
        async with net.connect(port, "127.0.0.1") as sock:
            assert await sock.receive_some() == b"hi"
            task_status.started()
            ends.append(await sock.receive_some())

    with trio.fail_after(LIMIT):
        async with (
            trio.open_nursery() as clients,
            _listening(greet, subs=1, group="unref") as (server, port),
        ):
            server.unref()
            await clients.start(client, port)  # served by the master
            await clients.start(client, port)  # served by the sub
    # Leaving the block did not wait for them: both connections were destroyed.
    assert ends == [b"", b""]
    assert _sub_threads("unref") == []


class _Boom(Exception):
    pass


async def test_a_failing_sub_main_brings_the_master_down_with_its_error() -> None:
    error = _Boom("sub_main failed")

    def sub_main(_sub: net.Server) -> None:
        raise error

    before = set(threading.enumerate())
    with trio.fail_after(LIMIT), pytest.raises(_Boom) as caught:
        async with net.create_server(subs=2, group="failing", sub_main=sub_main):
            pytest.fail("the block must not run")
    assert caught.value is error  # bare and unchanged (SPEC 8.2)
    assert set(threading.enumerate()) == before


async def test_a_sub_whose_listener_fails_takes_the_master_down() -> None:
    def fails_in_subs(sock: net.Socket) -> None:
        sock.resume()
        if task.current().id != 0:
            raise _Boom(f"listener failed in task {task.current().id}")

    async def serve_two() -> None:
        async with (
            _listening(fails_in_subs, subs=1, group="dying") as (_server, port),
            net.connect(port, "127.0.0.1"),
            net.connect(port, "127.0.0.1"),
        ):
            await trio.sleep_forever()  # cancelled when the sub fails

    with pytest.raises(_Boom, match="listener failed in task"):
        await serve_two()
    assert _sub_threads("dying") == []


async def test_an_error_in_the_masters_block_cancels_the_subs() -> None:
    error = _Boom("the master's block failed")

    async def fail_while_serving() -> None:
        async with _listening(_reply_task_id, subs=2, group="raising") as (_server, port):
            assert await _ask(port) == "0"
            assert await _ask(port) != "0"  # a sub holds no connection after this
            raise error

    with pytest.raises(_Boom) as caught:
        await fail_while_serving()
    assert caught.value is error
    assert _sub_threads("raising") == []


async def test_cancelling_the_master_cancels_the_subs() -> None:
    def hold(sock: net.Socket) -> None:
        sock.write("hi")
        sock.on("data", lambda _chunk: None)

    with trio.CancelScope() as scope:
        async with (
            _listening(hold, subs=2, group="cancelled") as (_server, port),
            net.connect(port, "127.0.0.1") as first,
            net.connect(port, "127.0.0.1") as second,
        ):
            assert await first.receive_some() == b"hi"
            assert await second.receive_some() == b"hi"  # held open by sub 1
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert _sub_threads("cancelled") == []


@pytest.mark.parametrize("sub_main", ["_subs_main:attach", "_subs_main:attach_async"])
async def test_sub_main_as_module_function(sub_main: str) -> None:
    def master(sock: net.Socket) -> None:
        sock.end("master")
        sock.resume()

    async with _listening(master, subs=2, group="modules", sub_main=sub_main) as (server, port):
        replies = [await _ask(port) for _ in range(6)]
        server.close()
    assert replies == ["master", "sub1", "sub2"] * 2


async def test_create_sub_server_is_the_current_tasks_sub_server() -> None:
    seen: list[object] = []
    lock = threading.Lock()

    def sub_main(sub: net.Server) -> None:
        found = net.create_sub_server("mine")
        try:
            net.create_sub_server("other")
        except ValueError as exc:
            other: object = exc
        with lock:
            seen.append((found is sub, type(other)))
        sub.on("connection", _reply_task_id)

    async with _listening(subs=2, group="mine", sub_main=sub_main) as (server, _port):
        with pytest.raises(ValueError, match="'mine'"):
            net.create_sub_server("mine")  # the master's task runs no sub-server
        with pytest.raises(TypeError, match="group"):
            net.create_sub_server(None)  # type: ignore[arg-type]
        server.close()
    assert seen == [(True, ValueError)] * 2


async def test_is_master_group_name_and_what_a_sub_server_is() -> None:
    facts: dict[str, dict[str, object]] = {}
    lock = threading.Lock()

    async def sub_main(sub: net.Server) -> None:
        listening: list[bool] = []
        sub.on("listening", lambda: listening.append(True))
        await sub.listen()
        with pytest.raises(ValueError, match="sub-server takes no address"):
            await sub.listen(8124)
        with pytest.raises(RuntimeError, match="close the master"):
            sub.close()
        with lock:
            facts[sub.group_name[1]] = {
                "group_name": sub.group_name,
                "is_master": sub.is_master(),
                "address": sub.address(),
                "port": sub.port(),
                "listening": sub.listening,
                "emitted": listening,
            }

    async with _listening(subs=2, group="g", sub_main=sub_main) as (server, port):
        assert server.is_master()
        assert server.group_name == ("g", "master")
        assert server.port() == port
        server.close()
    for name in ("sub1", "sub2"):
        assert facts[name] == {
            "group_name": ("g", name),
            "is_master": False,
            "address": None,
            "port": None,
            "listening": True,
            "emitted": [True],
        }
    single = net.create_server()
    assert single.is_master()
    assert single.group_name == ("server", "master")
    assert net.create_server(group="solo").group_name == ("solo", "master")


async def test_a_sub_server_left_before_its_listening_tick_never_emits_it() -> None:
    heard: list[str] = []

    async def sub_main(sub: net.Server) -> None:
        sub.on("listening", lambda: heard.append(sub.group_name[1]))
        await sub.listen()  # 'listening' is due on a later tick, as the master's
        raise _Boom("the sub's block is left first")

    with pytest.raises(_Boom), trio.fail_after(LIMIT):
        async with net.create_server(subs=1, group="early", sub_main=sub_main):
            pass
    assert heard == []
    assert _sub_threads("early") == []


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"subs": -1}, ValueError, "subs"),
        ({"subs": "2"}, TypeError, "subs"),
        ({"subs": True}, TypeError, "subs"),
        ({"subs": 1, "sub_main": 42}, TypeError, "sub_main"),
        ({"subs": 1, "sub_main": "no colon"}, ValueError, "sub_main"),
        ({"subs": 1, "sub_main": "_subs_main:"}, ValueError, "sub_main"),
        ({"subs": 1, "sub_main": "no_such_module_for_trionet:main"}, ValueError, "sub_main"),
        ({"subs": 1, "sub_main": "_subs_main:missing"}, ValueError, "sub_main"),
        ({"subs": 1, "sub_main": "_subs_main:NOT_CALLABLE"}, TypeError, "sub_main"),
        ({"subs": 1, "group": 3}, TypeError, "group"),
        ({"subs": 1, "group": ""}, ValueError, "group"),
    ],
)
def test_bad_arguments_name_the_argument(
    options: dict[str, Any], error: type[Exception], names: str
) -> None:
    before = threading.active_count()
    with pytest.raises(error, match=names):
        net.create_server(**options)
    assert threading.active_count() == before


async def test_example_single_server_echoes(capsys: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(LIMIT):
        assert await _load("net_subs_single").main() == [b"first", b"second"]
    out = capsys.readouterr().out
    assert "group ('server', 'master') master: True port" in out
    assert out.count("connect open.") == 2


async def test_example_same_module_spreads_the_clients() -> None:
    with trio.fail_after(LIMIT):
        replies = await _load("net_subs_same_module").main(clients=9)
    tasks = Counter(reply.split(":")[0] for reply in replies)
    assert sorted(tasks.values()) == [3, 3, 3]
    assert sorted(int(reply.rsplit(" ", 1)[1]) for reply in replies) == list(range(9))


async def test_example_master_and_sub_in_two_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as when run as a program
    with trio.fail_after(LIMIT):
        answers = await _load("net_subs_master").main(clients=6)
    assert answers == ["hello from the master\n", "hello from sub1\n", "hello from sub2\n"] * 2


@pytest.mark.parametrize(
    "name", ["net_subs_single.py", "net_subs_same_module.py", "net_subs_master.py"]
)
def test_example_runs_as_a_program(name: str) -> None:
    assert _run(name)


def test_every_subs_example_is_tested() -> None:
    found = {path.name for path in EXAMPLES.glob("net_subs_*.py")}
    assert found == {
        "net_subs_master.py",
        "net_subs_same_module.py",
        "net_subs_single.py",
        "net_subs_sub.py",  # the master's sub module, run by its tests
    }
