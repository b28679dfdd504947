"""Spurious timeouts of a ``trionet.task`` peer inside a ``VirtualNetwork`` (issue 20's table).

Run it alone (``flock -x /work/cpu.lock`` on the shared machine)::

    python bench/vnet_tasks.py            # the shared clock
    python bench/vnet_tasks.py --unshared  # the block's autojump alone, as before

Each of 200 runs opens a task peer on host ``peer.test``, connects to it
and pings it once with a 1 s timeout, under ``MockClock(autojump_threshold=0)``.
A timeout is spurious: the peer answers at once. ``--unshared`` replaces the
block's time keeper with nothing, so the block's clock jumps whenever the
block alone is idle, as it did before tasks shared the clock.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import trio
import trio.testing

import trionet._vnet_network
from trionet import socket as s
from trionet import task
from trionet.testing import VirtualNetwork

_RUNS = 200


async def _echo_once(port: int) -> None:
    listener = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        s.bind(listener, ("0.0.0.0", port))
        s.listen(listener, 5)
        await task.send(0, "listening")
        conn, _ = await s.accept(listener)
        await s.send(conn, await s.recv(conn))
        s.close(conn)
    finally:
        s.close(listener)


async def _spurious(latency: float) -> int:
    spurious = 0
    async with VirtualNetwork(latency=latency) as vnet:
        vnet.add_host("peer.test")
        for run in range(_RUNS):
            port = 7000 + run
            async with contextlib.AsyncExitStack() as stack:
                with vnet.host("peer.test"):
                    peer = await stack.enter_async_context(task.open_task(_echo_once, port))
                await peer.recv()
                client = s.socket(s.AF_INET, s.SOCK_STREAM)
                try:
                    await s.connect(client, ("127.77.0.1", port), timeout=1)
                    await s.send(client, b"ping")
                    await s.recv(client, timeout=1)
                except s.Timeout:
                    spurious += 1
                finally:
                    s.close(client)
    return spurious


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unshared", action="store_true", help="no time keeper (the old way)")
    options = parser.parse_args()
    if options.unshared:
        trionet._vnet_network.TimeKeeper = lambda clock: None  # type: ignore[assignment,attr-defined,return-value]
    for latency in (0.0, 0.05):
        started = time.perf_counter()
        clock = trio.testing.MockClock(autojump_threshold=0)
        count = trio.run(_spurious, latency, clock=clock)
        real = time.perf_counter() - started
        print(f"latency {latency:g} s: {count} of {_RUNS} spurious timeouts, {real:.2f} s real")


if __name__ == "__main__":
    main()
