"""Where a benchmark server's time goes: ``cProfile`` of it under the C load generator.

``python bench/profile_server.py KIND LOADGEN [CONNS MSGS]`` runs
``bench/servers.py``'s server KIND (``trionet``, ``trionet-tcp`` or
``trio``) in this process under ``cProfile`` while ``LOADGEN`` (the built
``loadgen.c``) drives it with ``pingpong`` (50 connections of 2,000
64-byte messages by default), and prints the 18 functions with the most
time of their own. Run it under ``taskset -c 0`` to profile the pinned row.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
from collections.abc import Awaitable, Callable

import servers
import trio

KINDS: dict[str, Callable[[int], Awaitable[None]]] = {
    "trionet": servers.trionet_server,
    "trionet-tcp": servers.tcp_server,
    "trio": servers.trio_server,
}
PORT = 23999  # fixed: the servers print theirs, but this one is read by the same process


async def profile(kind: str, loadgen: str, conns: int, msgs: int) -> pstats.Stats:
    profiler = cProfile.Profile()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(KINDS[kind], PORT)
        await trio.sleep(0.5)  # the server binds and listens in its first step
        profiler.enable()
        command = [loadgen, "pingpong", "127.0.0.1", str(PORT), str(conns), str(msgs), "64"]
        await trio.run_process(command)
        profiler.disable()
        nursery.cancel_scope.cancel()
    return pstats.Stats(profiler, stream=io.StringIO())


def main() -> None:
    kind, loadgen, *rest = sys.argv[1:]
    conns, msgs = (int(rest[0]), int(rest[1])) if rest else (50, 2000)
    stats = trio.run(profile, kind, loadgen, conns, msgs)
    stats.stream = sys.stdout  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
