"""``EventEmitter``: Node's listener rules, with async listeners awaited in order."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from trionet.net import EventEmitter

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True


async def test_on_returns_the_emitter_and_emit_calls_listeners_in_order_with_args() -> None:
    emitter = EventEmitter()
    calls: list[Any] = []
    assert emitter.on("x", lambda a, b: calls.append(("first", a, b))) is emitter
    emitter.on("x", lambda a, b: calls.append(("second", a, b)))
    assert await emitter.emit("x", 1, 2) is True
    assert calls == [("first", 1, 2), ("second", 1, 2)]


async def test_emit_without_listeners_returns_false() -> None:
    assert await EventEmitter().emit("nothing") is False


async def test_once_listener_runs_once_and_is_removed_before_its_call() -> None:
    emitter = EventEmitter()
    counts: list[int] = []
    assert emitter.once("x", lambda: counts.append(emitter.listener_count("x"))) is emitter
    await emitter.emit("x")
    await emitter.emit("x")
    assert counts == [0]


async def test_async_listeners_are_awaited_by_the_emitter_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    async def slow() -> None:
        await trio.sleep(1)
        calls.append("async")

    emitter.on("x", slow)
    emitter.on("x", lambda: calls.append("sync"))
    await emitter.emit("x")
    assert calls == ["async", "sync"]


async def test_off_removes_the_most_recent_registration_only() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    def listener() -> None:
        calls.append("x")

    emitter.on("x", listener).on("x", listener)
    assert emitter.off("x", listener) is emitter
    await emitter.emit("x")
    assert calls == ["x"]
    emitter.remove_listener("x", listener)
    emitter.off("x", listener)  # not registered any more: nothing happens
    emitter.off("unknown", listener)
    assert emitter.listener_count("x") == 0


def test_listeners_and_listener_count_report_the_registrations() -> None:
    emitter = EventEmitter()

    def first() -> None: ...

    def second() -> None: ...

    emitter.on("x", first).once("x", second)
    assert emitter.listeners("x") == [first, second]
    assert emitter.listener_count("x") == 2
    assert emitter.listeners("y") == []
    assert emitter.event_names() == ["x"]
    emitter.remove_all_listeners("x")
    assert emitter.listener_count("x") == 0
    emitter.on("y", first).remove_all_listeners()
    assert emitter.event_names() == []


async def test_a_listener_added_during_an_emit_waits_for_the_next_emit() -> None:
    emitter = EventEmitter()
    calls: list[str] = []
    emitter.on("x", lambda: emitter.on("x", lambda: calls.append("late")))
    await emitter.emit("x")
    assert calls == []
    await emitter.emit("x")
    assert calls == ["late"]


async def test_error_without_listener_raises_the_error() -> None:
    error = ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        await EventEmitter().emit("error", error)
    with pytest.raises(RuntimeError, match="unhandled 'error'"):
        await EventEmitter().emit("error", "not an exception")


async def test_error_with_listener_is_delivered_not_raised() -> None:
    got: list[BaseException] = []
    emitter = EventEmitter().on("error", got.append)
    error = OSError("x")
    assert await emitter.emit("error", error) is True
    assert got == [error]


async def test_listener_exception_propagates_out_of_emit() -> None:
    emitter = EventEmitter()
    emitter.on("x", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        await emitter.emit("x")


def test_bad_arguments_are_type_errors() -> None:
    emitter = EventEmitter()
    with pytest.raises(TypeError, match="listener"):
        emitter.on("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="event"):
        emitter.on(1, print)  # type: ignore[arg-type]


def test_emit_sync_runs_listeners_from_plain_code_as_jsre_inherits_does() -> None:
    # JSRE: function Ticker() { EventEmitter.call(this); }
    #       EventEmitter.inherits(Ticker); ticker.emit('tick', 1);
    class Ticker(EventEmitter):
        def tick(self, n: int) -> None:
            self.emit_sync("tick", n)

    ticker = Ticker()
    seen: list[int] = []
    ticker.on("tick", seen.append).once("tick", lambda n: seen.append(n * 10))
    ticker.tick(1)
    ticker.tick(2)
    assert seen == [1, 10, 2]
    assert EventEmitter().emit_sync("nothing") is False


def test_emit_sync_keeps_nodes_error_rule() -> None:
    with pytest.raises(KeyError):
        EventEmitter().emit_sync("error", KeyError("k"))
    with pytest.raises(RuntimeError, match="unhandled 'error'"):
        EventEmitter().emit_sync("error", "text")


def test_emit_sync_refuses_an_async_listener_without_a_warning() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    async def later() -> None:
        calls.append("async")

    emitter.on("x", lambda: calls.append("plain")).on("x", later)
    with pytest.raises(TypeError, match="is async; use await emitter"):
        emitter.emit_sync("x")
    assert calls == ["plain"]
