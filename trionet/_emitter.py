"""``EventEmitter``: Node's event API for ``net.Socket`` and ``net.Server``.

Listeners may be plain functions or ``async`` functions. Emitting is a
coroutine: each listener is called in turn, in the order it was added, and
an awaitable result is awaited before the next listener runs. So an async
listener is awaited by the task that emits (a slow ``'data'`` listener slows
the reader: backpressure rather than buffering), and an exception raised by
a listener propagates out of the emitting task unchanged.

The listeners of an event are kept in a tuple that is replaced, never
mutated, so an emit iterates its snapshot without copying (Node's rule: a
listener added or removed during an emit does not change that emit), and
an emitter with no listeners costs one ``None`` and no dictionary. A
listener added with ``on`` is stored as itself and one added with ``once``
wrapped in a ``Once``: no pair per listener, since every idle connection
holds its listeners (``docs/benchmarks.md``, idle memory).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Emitter", "Entries", "EventEmitter", "Listener", "Once", "unwrap"]

# What a listener returns is ignored unless it is awaitable (then awaited), so
# any callable fits: ``sock.on("data", sock.write)`` returns a bool, as in Node.
Listener = Callable[..., object]


@final
class Once:
    """A listener added with ``once``: removed from its event before its first call."""

    __slots__ = ("listener",)

    def __init__(self, listener: Listener) -> None:
        self.listener = listener


# An event's registrations, in call order: a listener, or a ``Once`` around one.
Entries = tuple[Listener | Once, ...]


def unwrap(entry: Listener | Once) -> Listener:
    """The listener an entry of ``Entries`` registers."""
    return entry.listener if type(entry) is Once else entry


class Emitter:
    """What every emitter shares; ``on``, ``once`` and ``off`` come from subclasses.

    ``EventEmitter`` adds them for any event name; ``net.Socket`` and
    ``net.Server`` add them typed for their own events (``trionet._net_events``),
    so that a type checker knows each event's listener.
    """

    __slots__ = ("_events",)

    def __init__(self) -> None:
        # event name -> its Entries; None until the first listener.
        self._events: dict[str, Entries] | None = None

    def _added(self, event: str) -> None:
        """Called after a listener for ``event`` was added; subclasses react to it."""

    def _add(self, event: str, listener: Listener, once: bool) -> Self:
        if not isinstance(event, str):
            raise TypeError(f"event must be a str, not {type(event).__name__}")
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {type(listener).__name__}")
        events = self._events
        if events is None:
            events = self._events = {}
        events[event] = (*events.get(event, ()), Once(listener) if once else listener)
        self._added(event)
        return self

    # The implementations of on, once and off, which subclasses publish with
    # their own signatures; the docstrings are what help(sock.on) shows.
    def _on(self, event: str, listener: Listener) -> Self:
        """Call ``listener(*args)`` every time ``event`` is emitted; return ``self``."""
        return self._add(event, listener, False)

    def _once(self, event: str, listener: Listener) -> Self:
        """Like ``on``, but the listener is removed before its first call."""
        return self._add(event, listener, True)

    def _off(self, event: str, listener: Listener) -> Self:
        """Remove the most recently added registration of ``listener`` for ``event``."""
        events = self._events
        entries = events.get(event, ()) if events is not None else ()
        for index in range(len(entries) - 1, -1, -1):
            if unwrap(entries[index]) == listener:
                self._store(event, entries[:index] + entries[index + 1 :])
                break
        return self

    def remove_all_listeners(self, event: str | None = None) -> Self:
        """Remove every listener of ``event``, or of every event when ``None``.

        Node equivalent: ``emitter.removeAllListeners([eventName])``.
        """
        if event is None:
            self._events = None
        else:
            self._store(event, ())
        return self

    def _store(self, event: str, entries: Entries) -> None:
        events = self._events
        assert events is not None
        if entries:
            events[event] = entries
        else:
            events.pop(event, None)

    def listeners(self, event: str) -> list[Listener]:
        """The listeners of ``event``, in call order (a copy).

        Node equivalent: ``emitter.listeners(eventName)``.
        """
        events = self._events
        return [unwrap(entry) for entry in events.get(event, ())] if events is not None else []

    def listener_count(self, event: str) -> int:
        """How many listeners ``event`` has.

        Node equivalent: ``emitter.listenerCount(eventName)``.
        """
        events = self._events
        return len(events.get(event, ())) if events is not None else 0

    def event_names(self) -> list[str]:
        """The events that have listeners. Node equivalent: ``emitter.eventNames()``."""
        return list(self._events or ())

    async def emit(self, event: str, *args: Any) -> bool:
        """Call the listeners of ``event`` with ``args``, awaiting async ones, in order.

        Unlike Node's, this ``emit`` is a coroutine, so that async listeners
        run in the emitting task. As in Node, emitting ``'error'`` with no
        listener raises the error (an exception argument, or a
        ``RuntimeError`` naming it).

        Node equivalent: ``emitter.emit(eventName[, ...args])``.

        Returns:
            Whether ``event`` had listeners.
        """
        if not await self._emit(event, args):
            if event == "error":
                if args and isinstance(args[0], BaseException):
                    raise args[0]
                raise RuntimeError(f"unhandled 'error' event: {args!r}")
            return False
        return True

    async def _emit(self, event: str, args: tuple[Any, ...]) -> bool:
        """Emit without Node's ``'error'`` rule; ``False`` when nobody listened."""
        events = self._events
        if events is None:
            return False
        entries = events.get(event)
        if not entries:
            return False
        await self._emit_rest(event, entries, args)
        return True

    async def _emit_rest(self, event: str, entries: Entries, args: tuple[Any, ...]) -> None:
        for entry in entries:
            listener = entry if type(entry) is not Once else self._take(event, entry)
            result = listener(*args)
            if result is not None and inspect.isawaitable(result):
                await result

    def _take(self, event: str, entry: Once) -> Listener:
        """The listener of ``entry``, removed from ``event`` as it is about to be called."""
        events = self._events
        entries = events.get(event, ()) if events is not None else ()
        for index, registered in enumerate(entries):
            if registered is entry:
                self._store(event, entries[:index] + entries[index + 1 :])
                break
        return entry.listener


class EventEmitter(Emitter):
    """Node's ``EventEmitter``: named events with plain or async listeners.

    Any event name goes, and a listener takes whatever its event is emitted
    with, so a type checker checks only that it is callable. ``net.Socket``
    and ``net.Server`` have a fixed set of events, typed per event instead.

    Node equivalent: ``events.EventEmitter`` (``on``, ``once``, ``off`` /
    ``removeListener``, ``emit``, ``listeners``, ``listenerCount``).
    """

    __slots__ = ()

    def on(self, event: str, listener: Listener) -> Self:
        """Call ``listener(*args)`` every time ``event`` is emitted; return ``self``.

        Node equivalent: ``emitter.on(eventName, listener)`` (also ``addListener``).

        Raises:
            TypeError: ``event`` is not a ``str`` or ``listener`` is not callable.
        """
        return self._on(event, listener)

    add_listener = on

    def once(self, event: str, listener: Listener) -> Self:
        """Like ``on``, but the listener is removed before its first call.

        Node equivalent: ``emitter.once(eventName, listener)``.
        """
        return self._once(event, listener)

    def off(self, event: str, listener: Listener) -> Self:
        """Remove the most recently added registration of ``listener`` for ``event``.

        Removing a listener that is not registered does nothing.

        Node equivalent: ``emitter.off(eventName, listener)`` / ``removeListener``.
        """
        return self._off(event, listener)

    remove_listener = off

    def emit_sync(self, event: str, *args: Any) -> bool:
        """``emit`` for plain code: call the listeners of ``event`` now, in order.

        JSRE's ``EventEmitter.inherits`` pattern ported to a sync script (or
        a plain listener) calls this: ``emit`` is a coroutine, and a
        coroutine nobody awaits runs no listener. Node's ``'error'`` rule
        holds as in ``emit``.

        Node / JSRE equivalent: ``emitter.emit(eventName[, ...args])``.

        Returns:
            Whether ``event`` had listeners.

        Raises:
            TypeError: a listener is async (it needs ``await emitter.emit()``);
                the listeners before it have run.
        """
        events = self._events
        entries = events.get(event) if events is not None else None
        if not entries:
            if event == "error":
                if args and isinstance(args[0], BaseException):
                    raise args[0]
                raise RuntimeError(f"unhandled 'error' event: {args!r}")
            return False
        for entry in entries:
            listener = entry if type(entry) is not Once else self._take(event, entry)
            result = listener(*args)
            if result is not None and inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never awaited, and not to be warned about
                raise TypeError(
                    f"emit_sync({event!r}): listener {listener!r} is async;"
                    " use await emitter.emit() from async code"
                )
        return True
