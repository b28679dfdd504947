"""The simulated kernel: hosts, links, the timer queue, the trace and faults.

Theory of operation
===================

Everything that takes time in the virtual network is a timer on trio's
clock, kept in one heap: a datagram's arrival, or the head of a stream's
``Wire`` (one direction of a connection, whose segments arrive in order).
The block's system task (``_vnet_network``) fires due timers and sleeps
until the next one, so under ``MockClock(autojump_threshold=0)`` a
latency costs no real time. Random choices (jitter, loss) come from one
``random.Random(seed)``, drawn in the order the program sends, so the same
program gives the same trace.

A segment of a stream that meets a partition (or a crashed host) is not
lost: its ``Wire`` retransmits it after an RTO, doubling up to Linux's
bound, and fails the connection with ``ETIMEDOUT`` after 15 tries, as TCP
does. Datagrams are simply dropped.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from ._vnet_hosts import Host
from ._vnet_links import RTO_MAX, RTO_MIN, Link

__all__ = ["Kernel", "TraceEntry", "Wire"]

_MAX_RETRIES = 15  # Linux's tcp_retries2


class TraceEntry(NamedTuple):
    """One delivery or fault of a ``VirtualNetwork``: ``(time, kind, src, dst, nbytes)``.

    ``time`` is seconds since the block began on trio's clock; ``src`` and
    ``dst`` are ``"host:port"`` (a path for Unix-domain sockets, a host
    name for faults). Kinds: ``syn``, ``synack``, ``rst``, ``data``,
    ``fin``, ``udp``, ``lost`` (a datagram dropped), ``retransmit``,
    ``partition``, ``heal``, ``reset``, ``crash``, ``restart``.
    """

    time: float
    kind: str
    src: str
    dst: str
    nbytes: int


class Kernel:
    """The shared state of one virtual network."""

    def __init__(self, seed: int, link: Link, now: Callable[[], float]) -> None:
        self.rng = random.Random(seed)
        self.default = link
        self.now = now
        self.start = now()
        self.hosts: dict[str, Host] = {}
        self.by_address: dict[str, Host] = {}
        self.links: dict[frozenset[str], Link] = {}
        self.partitions: set[frozenset[str]] = set()
        self.trace: list[TraceEntry] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.poke: Callable[[], None] = lambda: None
        # Tasks opened inside the block call in from their threads.
        self.lock = threading.RLock()
        # Set when the block ends. Sockets may outlive it (a fixture closes
        # them after the trio run): from then on nothing is sent or timed,
        # as when a network is unplugged, and the clock is no longer read.
        self.ended = False

    def end(self) -> None:
        """The block is over: later closes only free their sockets."""
        with self.lock:
            self.ended = True
            self._timers.clear()

    # Timers -------------------------------------------------------------

    def call_at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at ``when`` on trio's clock (from the block's system task)."""
        if self.ended:
            return
        with self.lock:
            heapq.heappush(self._timers, (when, next(self._order), action))
        self.poke()

    def next_time(self) -> float | None:
        """When the next timer is due, or ``None``."""
        with self.lock:
            return self._timers[0][0] if self._timers else None

    def run_due(self) -> None:
        """Fire every timer that is due now."""
        with self.lock:
            now = self.now()
            while self._timers and self._timers[0][0] <= now:
                _, _, action = heapq.heappop(self._timers)
                action()

    # Links and the trace ------------------------------------------------

    def link(self, a: Host, b: Host) -> Link | None:
        """The link between two hosts; ``None`` within one host (no delay, no loss)."""
        if a is b:
            return None
        return self.links.get(frozenset((a.name, b.name)), self.default)

    def cut(self, a: Host, b: Host) -> bool:
        """Whether packets from ``a`` to ``b`` are dropped now."""
        return b.crashed or (a is not b and frozenset((a.name, b.name)) in self.partitions)

    def record(self, kind: str, src: str, dst: str, nbytes: int) -> None:
        if self.ended:
            return
        self.trace.append(TraceEntry(round(self.now() - self.start, 9), kind, src, dst, nbytes))

    def datagram(
        self,
        src: Host,
        dst: Host,
        nbytes: int,
        labels: tuple[str, str],
        deliver: Callable[[], None],
    ) -> None:
        """Send a datagram: it arrives after the link's delay, or is lost."""
        if self.ended:
            return
        link = self.link(src, dst)
        now = self.now()
        when = now if link is None else link.arrival(self.rng, now, dst.name, nbytes, False)
        if when is None or self.cut(src, dst):
            self.record("lost", *labels, nbytes)
            return
        if link is None:  # within one host: at once, as on a real loopback
            self.record("udp", *labels, nbytes)
            deliver()
            return

        def arrive() -> None:
            if self.cut(src, dst):
                self.record("lost", *labels, nbytes)
                return
            self.record("udp", *labels, nbytes)
            deliver()

        self.call_at(when, arrive)


class _Segment:
    __slots__ = ("deliver", "kind", "nbytes", "rto", "when")

    def __init__(
        self, when: float, kind: str, nbytes: int, deliver: Callable[[], None], rto: float
    ) -> None:
        self.when = when
        self.kind = kind
        self.nbytes = nbytes
        self.deliver = deliver
        self.rto = rto


class Wire:
    """One direction of a stream connection: its segments arrive in order, never lost."""

    def __init__(
        self, kernel: Kernel, src: Host, dst: Host, on_timeout: Callable[[], None]
    ) -> None:
        self.kernel = kernel
        self.src = src
        self.dst = dst
        self.labels = ("", "")
        self.on_timeout = on_timeout
        self._queue: deque[_Segment] = deque()
        self._armed = False
        self._rto = RTO_MIN
        self._retries = 0

    def push(
        self, kind: str, nbytes: int, deliver: Callable[[], None], rto: float = RTO_MIN
    ) -> None:
        """Put a segment on the wire; ``deliver`` runs when it arrives.

        ``rto`` is its first retransmission timeout (a SYN's is 1 s).
        """
        kernel = self.kernel
        if kernel.ended:
            return
        link = kernel.link(self.src, self.dst)
        if link is None and not self._queue and not kernel.cut(self.src, self.dst):
            # Within one host, as on a real loopback, a segment arrives at once.
            kernel.record(kind, *self.labels, nbytes)
            deliver()
            return
        now = kernel.now()
        when = now if link is None else link.arrival(kernel.rng, now, self.dst.name, nbytes, True)
        if when is None:  # reliable arrivals are never lost: cannot happen
            when = now
        if self._queue:
            when = max(when, self._queue[-1].when)
        self._queue.append(_Segment(when, kind, nbytes, deliver, rto))
        if not self._armed:
            self._arm()

    def clear(self) -> None:
        """Forget every segment not yet delivered (a reset)."""
        self._queue.clear()

    def _arm(self) -> None:
        if not self._queue:
            return
        self._armed = True
        self.kernel.call_at(max(self._queue[0].when, self.kernel.now()), self._fire)

    def _fire(self) -> None:
        self._armed = False
        if not self._queue:
            return
        head = self._queue[0]
        kernel = self.kernel
        if kernel.cut(self.src, self.dst):
            self._retries += 1
            if self._retries > (6 if head.kind == "syn" else _MAX_RETRIES):
                self._queue.clear()
                self.on_timeout()
                return
            if self._retries == 1:
                self._rto = head.rto
            kernel.record("retransmit", *self.labels, head.nbytes)
            head.when = kernel.now() + self._rto
            self._rto = min(self._rto * 2, RTO_MAX)
            self._arm()
            return
        self._retries = 0
        self._queue.popleft()
        kernel.record(head.kind, *self.labels, head.nbytes)
        head.deliver()
        self._arm()
