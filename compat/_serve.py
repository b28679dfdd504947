"""``Tcp.serve`` for sync code: each connection's handler in a thread of its own.

The async ``serve`` runs handlers as tasks of a nursery, which it cancels
when one fails or the listener closes. Threads cannot be cancelled, so
here the serving thread does what cancelling does to a task blocked on its
connection: it closes the connections still open, which wakes their
handlers with ``trio.ClosedResourceError``, then waits for every handler
thread before it raises.

A failing handler stops the accepting at once: it records its exception
and signals the serving thread's wake-up fd, on which the blocked accept
sleeps; the accept's attempt checks for a failure before it tries the
system call, so the serving thread raises the handler's exception, bare.
Retrying after running out of fds is ``trionet._tcp_base.accept_retry_delay``,
as in the async ``serve``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from trionet._core import _prepare
from trionet._core._addr import SockAddr
from trionet._tcp_base import TcpBase, accept_retry_delay

from ._drive_sync import block, wake_fd

__all__ = ["serve"]


def serve(listener: TcpBase, handler: Callable[[Any, SockAddr], object]) -> None:
    """Accept on ``listener`` until it closes or a handler fails; see ``compat.tcp.Tcp.serve``."""
    _Serving(listener, handler).run()


class _Serving:
    __slots__ = ("_connections", "_failure", "_handler", "_listener", "_lock", "_threads", "_wake")

    def __init__(self, listener: TcpBase, handler: Callable[[Any, SockAddr], object]) -> None:
        self._listener = listener
        self._handler = handler
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._connections: set[TcpBase] = set()
        self._threads: list[threading.Thread] = []
        self._wake = wake_fd()

    def run(self) -> None:
        try:
            while True:
                self._start(*self._accept())
        finally:
            with self._lock:
                open_now = list(self._connections)
            for connection in open_now:
                connection.close()
            for thread in self._threads:
                thread.join()

    def _accept(self) -> tuple[TcpBase, SockAddr]:
        while True:
            call = _prepare.accept(self._listener._live(), None)
            call.attempt = partial(self._attempt, call.attempt)
            try:
                fd, remote = _prepare.accepted(block(call))
            except OSError as exc:
                delay = None if exc is self._failure else accept_retry_delay(exc)
                if delay is None:
                    raise
                time.sleep(delay)
                continue
            assert isinstance(remote, SockAddr)
            return type(self._listener)(fd), remote

    def _attempt(self, attempt: Callable[..., Any], *args: Any) -> Any:
        if self._failure is not None:
            raise self._failure
        return attempt(*args)

    def _start(self, connection: TcpBase, remote: SockAddr) -> None:
        with self._lock:
            self._connections.add(connection)
        thread = threading.Thread(
            target=self._run_handler, args=(connection, remote), name=f"serve {remote}"
        )
        self._threads = [known for known in self._threads if known.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _run_handler(self, connection: TcpBase, remote: SockAddr) -> None:
        try:
            self._handler(connection, remote)
        except BaseException as exc:
            with self._lock:
                if self._failure is None:
                    self._failure = exc
            os.eventfd_write(self._wake, 1)
        finally:
            with self._lock:
                self._connections.discard(connection)
            connection.close()
