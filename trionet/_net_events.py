"""The events of ``net.Socket`` and ``net.Server``, typed for the user's type checker.

Each class has a fixed set of events, each emitted with known arguments, so
``on`` / ``once`` / ``off`` (and their Node aliases ``add_listener`` /
``remove_listener``) get one overload per event: a ``'data'`` listener that
takes an ``int``, or a misspelt event name, is a type error. The overloads
are written once per class, as the ``__call__`` of a protocol, and the
methods are declared with that protocol's type (``Events[L]``); at run time they are ``Emitter``'s
untyped implementations (one check, one tuple), so typing costs nothing.

A listener's result is ``object``: emit awaits it when it is awaitable and
ignores it otherwise, so plain and async listeners both fit, and so does
``sock.on("data", sock.write)`` (``write`` returns a ``bool``, as in Node).
``'data'`` accepts a listener of ``bytes`` or of ``str``: chunks are ``str``
after ``set_encoding()``, which the type checker cannot follow, so it
trusts the listener's choice, as Node's own type definitions do with
``Buffer``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Literal, Protocol, TypedDict, TypeVar, overload

from ._emitter import Emitter

if TYPE_CHECKING:
    from ._net_server import Server
    from ._net_socket import Socket

__all__ = [
    "DropInfo",
    "Events",
    "ServerEvent",
    "ServerListen",
    "SocketEvent",
    "SocketListen",
]

SocketEvent = Literal[
    "connect", "ready", "lookup", "data", "end", "finish", "drain", "timeout", "error", "close"
]
"""The events a ``net.Socket`` emits."""

ServerEvent = Literal["listening", "connection", "close", "error", "drop"]
"""The events a ``net.Server`` emits."""

_Signal = Literal["connect", "ready", "end", "finish", "drain", "timeout"]


class DropInfo(TypedDict, total=False):
    """What ``'drop'`` tells about a connection closed at once (``max_connections``).

    The address keys are missing when the connection was over a Unix socket.

    Node equivalent: the ``data`` argument of the ``'drop'`` event.
    """

    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    remote_family: str


class SocketListen(Protocol):
    """``on``, ``once`` and ``off`` of a ``net.Socket``: one signature per event.

    Listeners may be plain or ``async``; what they return is ignored unless
    it is awaitable.
    """

    @overload
    def __call__(self, event: _Signal, listener: Callable[[], object]) -> Socket: ...
    @overload
    def __call__(
        self,
        event: Literal["lookup"],
        listener: Callable[[BaseException | None, str | None, int | None, str], object],
    ) -> Socket: ...
    @overload
    def __call__(self, event: Literal["data"], listener: Callable[[bytes], object]) -> Socket: ...
    @overload
    def __call__(self, event: Literal["data"], listener: Callable[[str], object]) -> Socket: ...
    @overload
    def __call__(
        self, event: Literal["error"], listener: Callable[[BaseException], object]
    ) -> Socket: ...
    @overload
    def __call__(self, event: Literal["close"], listener: Callable[[bool], object]) -> Socket: ...


class ServerListen(Protocol):
    """``on``, ``once`` and ``off`` of a ``net.Server``: one signature per event."""

    @overload
    def __call__(
        self, event: Literal["listening", "close"], listener: Callable[[], object]
    ) -> Server: ...
    @overload
    def __call__(
        self, event: Literal["connection"], listener: Callable[[Socket], object]
    ) -> Server: ...
    @overload
    def __call__(
        self, event: Literal["error"], listener: Callable[[BaseException], object]
    ) -> Server: ...
    @overload
    def __call__(
        self, event: Literal["drop"], listener: Callable[[DropInfo], object]
    ) -> Server: ...


L = TypeVar("L", SocketListen, ServerListen)


class Events(Emitter, Generic[L]):
    """Listener methods typed by ``L``, a protocol with one overload per event."""

    __slots__ = ()

    if TYPE_CHECKING:
        on: L
        """Call ``listener`` every time ``event`` is emitted; return the emitter.

        Node equivalent: ``emitter.on(event, listener)`` (also ``addListener``).

        Raises:
            TypeError: ``listener`` is not callable.
        """
        add_listener: L
        """Same as ``on``. Node equivalent: ``emitter.addListener``."""
        once: L
        """Like ``on``, but the listener is removed before its first call."""
        off: L
        """Remove the latest registration of ``listener`` for ``event``; return the emitter."""
        remove_listener: L
        """Same as ``off``. Node equivalent: ``emitter.removeListener``."""
    else:
        on = add_listener = Emitter._on
        once = Emitter._once
        off = remove_listener = Emitter._off
