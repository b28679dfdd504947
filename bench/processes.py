"""Worker processes (``subs=2, processes=True``) against one process (``subs=0``).

Usage: ``python bench/processes.py [--rounds N] [--messages N]`` (also run by
``python bench/run.py``, and alone by ``python bench/run.py --only processes``);
``python bench/processes.py serve KIND`` is one server, printing ``READY <port>``.

Two workloads, each driven by the C load generator with 50 connections of
64-byte ping-pong, unpinned (the servers need both CPUs):

- **cpu**: every message costs the handler 200 µs of CPU time (measured
  with the thread's CPU clock, so time spent preempted is not counted as
  work) before it is echoed: the case process workers are for. Target:
  ``processes=True`` >= 1.7x ``subs=0``.
- **echo**: plain echo: workers must be no worse than one process.

The connections are long-lived, so the master's share of the work is the
third of the connections it serves itself (round-robin includes it);
handing 50 fds over costs nothing measurable. Run it under
``flock -x /work/cpu.lock`` where others share the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from procs import Server, build, load, result  # noqa: E402

KINDS = ("single-cpu", "processes-cpu", "single-echo", "processes-echo")
BURN_NS = 200_000
CONNECTIONS = 50
TARGET = 1.7


def burn() -> None:
    """Spend ``BURN_NS`` of this thread's CPU time."""
    end = time.thread_time_ns() + BURN_NS
    while time.thread_time_ns() < end:
        for _ in range(50):
            pass


def attach_cpu(server: object) -> None:
    """``sub_main``: each chunk costs 200 µs of CPU, then is echoed."""
    from trionet import net

    assert isinstance(server, net.Server)

    def on_connection(sock: net.Socket) -> None:
        def on_data(chunk: bytes) -> None:
            burn()
            sock.write(chunk)

        sock.on("data", on_data)

    server.on("connection", on_connection)


def attach_echo(server: object) -> None:
    """``sub_main``: plain echo."""
    from trionet import net

    assert isinstance(server, net.Server)
    server.on("connection", lambda sock: sock.on("data", sock.write))


def serve(kind: str) -> None:
    import trio

    from trionet import net

    mode, work = kind.split("-")
    attach = attach_cpu if work == "cpu" else attach_echo

    async def main() -> None:
        options = {"subs": 2, "processes": True, "sub_main": f"processes:attach_{work}"}
        async with net.create_server(**(options if mode == "processes" else {})) as server:
            attach(server)
            await server.listen(0, "127.0.0.1")
            print(f"READY {server.address_info().port}", flush=True)
            await server.wait_closed()

    trio.run(main)


def run(rounds: int, messages: int, loadgen: Callable[..., dict[str, float]]) -> None:
    """Interleaved rounds of every kind; the medians, the ratios and the verdicts."""
    print(f"\nworker process rows (50 connections, 64-byte ping-pong); load: {load()}")
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            server = Server([sys.executable, str(HERE / "processes.py"), "serve", kind])
            try:
                count = messages // 10 if kind.endswith("cpu") else messages
                loadgen("pingpong", "127.0.0.1", server.port, CONNECTIONS, 20, 64)
                ping = loadgen("pingpong", "127.0.0.1", server.port, CONNECTIONS, count, 64)
                rates[kind].append(ping["rtt_per_s"])
            finally:
                server.stop()
    median = {kind: statistics.median(values) for kind, values in rates.items()}
    for work, least in (("cpu", TARGET), ("echo", 1.0)):
        single, multi = median[f"single-{work}"], median[f"processes-{work}"]
        ratio = multi / single
        verdict = "met" if ratio >= least else "MISSED"
        rounds_text = " / ".join(
            ", ".join(f"{v:,.0f}" for v in rates[f"{mode}-{work}"])
            for mode in ("single", "processes")
        )
        what = "200 us CPU per request" if work == "cpu" else "plain echo"
        print(
            f"  {what:<24} subs=0 {single:>9,.0f} rt/s   processes=True subs=2 {multi:>9,.0f}"
            f" rt/s   {ratio:.2f}x (target >= {least:.1f}x) {verdict}   rounds {rounds_text}"
        )


def loadgen_command() -> Callable[..., dict[str, float]]:
    import subprocess

    shared = HERE.parents[1] / "shared" / "tools" / "loadgen.c"
    built = build(Path(os.environ.get("TRIONET_LOADGEN_SRC", shared)), "loadgen")
    command = [str(built)] if built else [sys.executable, str(HERE / "pyloadgen.py")]
    if not built:
        print("load generator: Python pyloadgen.py (likely the bottleneck)")

    def loadgen(*args: object) -> dict[str, float]:
        done = subprocess.run(
            [*command, *map(str, args)], capture_output=True, text=True, timeout=600, check=True
        )
        return result(done.stdout)

    return loadgen


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=4000, help="round trips per connection")
    args = parser.parse_args()
    run(args.rounds, args.messages, loadgen_command())


if __name__ == "__main__":
    main()
