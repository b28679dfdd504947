"""``trionet bench``: a load generator for any echo server.

Ping-pong mode: ``--connections`` connections each send ``--size``-byte
messages and wait for the whole echo, ``--messages`` times; the result is
round trips per second and the latency percentiles. Stream mode
(``--stream MIB``): each connection sends that many MiB in 64 KiB chunks
while reading the echo back; the result is MiB/s.

The clients use the fd level directly: the generator must cost less than
the server it measures.
"""

from __future__ import annotations

import math
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from .. import socket as s
from .._core._addr import SockAddr
from .._core._exception_groups import open_nursery
from .._core._timeout import Timeout

__all__ = ["Load", "Report", "bench"]

_STREAM_CHUNK = 65536


@dataclass
class Load:
    """What to send, and to where."""

    target: SockAddr
    connections: int = 50
    messages: int = 2000
    size: int = 64
    stream_mib: float = 0.0
    timeout: float | None = 10.0  # seconds without an echoed byte: give up


@dataclass
class Report:
    """What a run measured."""

    seconds: float = 0.0
    round_trips: int = 0
    bytes_echoed: int = 0
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))

    @property
    def round_trips_per_second(self) -> float:
        return self.round_trips / self.seconds if self.seconds else 0.0

    @property
    def mib_per_second(self) -> float:
        return self.bytes_echoed / 2**20 / self.seconds if self.seconds else 0.0

    def percentile_us(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the round trips fell, in µs."""
        if not self.latencies_ns:
            return 0.0
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)] / 1000

    def summary(self) -> str:
        lines = [f"{self.seconds:.2f} s, {self.mib_per_second:,.1f} MiB/s echoed"]
        if self.latencies_ns:
            lines.append(
                f"{self.round_trips_per_second:,.0f} round trips/s, "
                f"latency p50 {self.percentile_us(0.5):,.0f} µs, "
                f"p99 {self.percentile_us(0.99):,.0f} µs"
            )
        return "\n".join(lines)


async def bench(load: Load, progress: Callable[[Report, float], None] | None = None) -> Report:
    """Run ``load`` and report; ``progress(report, fraction_done)`` is called every 0.5 s."""
    report = Report()
    fds = [await _connect(load.target) for _ in range(load.connections)]
    started = time.perf_counter()
    try:
        async with open_nursery() as nursery:
            if progress is not None:
                nursery.start_soon(_report_progress, load, report, started, progress)
            if load.timeout is not None:
                nursery.start_soon(_watch, load, report)
            async with open_nursery() as clients:
                for fd in fds:
                    if load.stream_mib:
                        clients.start_soon(_stream, fd, load, report)
                    else:
                        clients.start_soon(_ping_pong, fd, load, report)
            nursery.cancel_scope.cancel()
    finally:
        for fd in fds:
            s.close(fd)
    report.seconds = time.perf_counter() - started
    return report


async def _connect(target: SockAddr) -> int:
    fd = s.socket(target.domain, s.SOCK_STREAM)
    try:
        await s.connect(fd, target)
        if target.domain != s.AF_UNIX:
            s.set_no_delay(fd, True)
    except BaseException:
        s.close(fd)
        raise
    return fd


async def _ping_pong(fd: int, load: Load, report: Report) -> None:
    message = b"x" * load.size
    buffer = bytearray(max(load.size, 1))
    latencies = report.latencies_ns
    clock = time.perf_counter_ns
    for _ in range(load.messages):
        sent_at = clock()
        await s.send(fd, message)
        got = 0
        while got < load.size:
            count = await s.recv_into(fd, buffer, got)
            if not count:
                raise ConnectionResetError("the server closed the connection")
            got += count
        latencies.append(clock() - sent_at)
        report.round_trips += 1
        report.bytes_echoed += load.size


async def _stream(fd: int, load: Load, report: Report) -> None:
    total = int(load.stream_mib * 2**20)
    chunk = memoryview(b"x" * _STREAM_CHUNK)

    async def send_all() -> None:
        left = total
        while left:
            left -= await s.send(fd, chunk[: min(left, _STREAM_CHUNK)])
        s.shutdown(fd, "w")

    async with open_nursery() as nursery:
        nursery.start_soon(send_all)
        buffer = bytearray(_STREAM_CHUNK)
        got = 0
        while got < total:
            count = await s.recv_into(fd, buffer)
            if not count:
                raise ConnectionResetError("the server closed the connection early")
            got += count
            report.bytes_echoed += count


async def _watch(load: Load, report: Report) -> None:
    """Give up when nothing is echoed for ``load.timeout`` seconds (a discard server)."""
    assert load.timeout is not None
    while True:
        before = report.bytes_echoed
        await trio.sleep(load.timeout)
        if report.bytes_echoed == before:
            raise Timeout(
                f"nothing echoed in {load.timeout:g} s (is it an echo server?"
                " trionet serve --mode echo)"
            )


async def _report_progress(
    load: Load, report: Report, started: float, progress: Callable[[Report, float], None]
) -> None:
    goal = (
        load.connections * load.stream_mib * 2**20
        if load.stream_mib
        else load.connections * load.messages * load.size
    )
    while True:
        await trio.sleep(0.5)
        report.seconds = time.perf_counter() - started
        progress(report, min(1.0, report.bytes_echoed / goal) if goal else 1.0)


def plain_progress(report: Report, done: float) -> None:
    """A progress line on stderr, for terminals without ``rich``.

    On a terminal the line is rewritten in place (``\\r``) and ends at 100 %;
    into a file or a pipe each update is a line of its own, as a log wants.
    """
    line = f"{done:6.1%}  {report.round_trips_per_second:,.0f} rt/s  " + (
        f"{report.mib_per_second:,.1f} MiB/s"
    )
    if sys.stderr.isatty():
        end = "\n" if done >= 1.0 else ""
        print(f"\r{line}\x1b[K", end=end, file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)
