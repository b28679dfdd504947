"""Worker processes (``subs=2, processes=True``) and ``reuse_port`` against one process.

Usage: ``python bench/processes.py [--rounds N] [--messages N] [--loadgens N] [--perf]``
(also run by ``python bench/run.py``, and alone by ``python bench/run.py --only
processes``); ``python bench/processes.py serve KIND [PORT]`` is one server,
printing ``READY <port>``.

Three servers: ``single`` (``subs=0``), ``processes`` (``subs=2,
processes=True``: a master accepting, two workers serving) and
``reuseport`` (two independent processes listening on one port with
``reuse_port=True``: the kernel spreads the connections). Two workloads,
each driven by the C load generator with 50 connections of 64-byte
ping-pong, unpinned (the servers need both CPUs):

- **cpu**: every message costs the handler 200 µs of CPU time (measured
  with the thread's CPU clock, so time spent preempted is not counted as
  work) before it is echoed: the case process workers are for. Target:
  ``processes=True`` >= 1.7x ``subs=0``.
- **echo**: plain echo: workers must be no worse than one process.

Each row also gives the CPU time per round trip of the servers (every
process of the server, workers included) and of the load generators, and
how busy the load generators were (CPU time over wall time; 100% is one
CPU): on two CPUs, that tells which side is the limit. ``--loadgens N``
splits the 50 connections over N load generator processes run at once.
``--perf`` counts the echo servers' system calls per round trip instead
(``perf stat``; how often a server goes idle and wakes up again).
Run it under ``flock -x /work/cpu.lock`` where others share the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from procs import TICK, Server, build, load, result  # noqa: E402

MODES = ("single", "processes", "reuseport")
KINDS = tuple(f"{mode}-{work}" for work in ("cpu", "echo") for mode in MODES)
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


def serve(kind: str, port: int) -> None:
    import trio

    from trionet import net

    mode, work = kind.split("-")
    attach = attach_cpu if work == "cpu" else attach_echo
    choices: dict[str, dict[str, Any]] = {
        "single": {},
        "processes": {"subs": 2, "processes": True, "sub_main": f"processes:attach_{work}"},
        "reuseport": {"reuse_port": True},
    }
    options = choices[mode]

    async def main() -> None:
        async with net.create_server(**options) as server:
            attach(server)
            await server.listen(port, "127.0.0.1")
            print(f"READY {server.address_info().port}", flush=True)
            await server.wait_closed()

    trio.run(main)


def start(kind: str) -> list[Server]:
    """The server processes of ``kind``: two for ``reuseport``, the second on the first's port."""
    command = [sys.executable, str(HERE / "processes.py"), "serve", kind]
    first = Server([*command, "0"])
    if not kind.startswith("reuseport"):
        return [first]
    try:
        return [first, Server([*command, str(first.port)])]
    except BaseException:
        first.stop()
        raise


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of every live process below it (the workers)."""
    total = 0.0
    for each in tree_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every live process below it (each thread lists the children it started)."""
    try:
        threads = list(Path(f"/proc/{pid}").glob("task/*/children"))
        children = [int(child) for thread in threads for child in thread.read_text().split()]
    except FileNotFoundError:  # gone meanwhile
        return []
    return [pid, *(found for child in children for found in tree_pids(child))]


def run(
    rounds: int, messages: int, loadgen: Callable[..., dict[str, float]], loadgens: int = 1
) -> None:
    """Interleaved rounds of every kind; the medians, the ratios and the verdicts."""
    print(
        f"\nworker process rows ({CONNECTIONS} connections, 64-byte ping-pong,"
        f" {loadgens} load generator process(es)); load: {load()}"
    )
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    costs: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            servers = start(kind)
            try:
                count = messages // 10 if kind.endswith("cpu") else messages
                loadgen(servers[0].port, 20, loadgens)  # warm-up
                before = sum(tree_cpu(server.process.pid) for server in servers)
                ping = loadgen(servers[0].port, count, loadgens)
                served = sum(tree_cpu(server.process.pid) for server in servers) - before
                trips = ping["rtt_per_s"] * ping["elapsed_s"]
                rates[kind].append(ping["rtt_per_s"])
                busy = ping["cpu_s"] / ping["elapsed_s"]
                costs[kind].append((served / trips * 1e6, ping["cpu_s"] / trips * 1e6, busy))
            finally:
                for server in servers:
                    server.stop()
    median = {kind: statistics.median(values) for kind, values in rates.items()}
    for kind in KINDS:
        server_us = [cost[0] for cost in costs[kind]]
        loadgen_us = [cost[1] for cost in costs[kind]]
        loadgen_busy = [cost[2] for cost in costs[kind]]
        print(
            f"  {kind:<16} {median[kind]:>9,.0f} rt/s"
            f"   server {statistics.median(server_us):5.1f} us/rt"
            f" ({min(server_us):.1f}-{max(server_us):.1f})"
            f"   load generators {statistics.median(loadgen_us):5.1f} us/rt,"
            f" {statistics.median(loadgen_busy):.0%} busy"
            f"   rounds {', '.join(f'{v:,.0f}' for v in rates[kind])}"
        )
    for work, least in (("cpu", TARGET), ("echo", 1.0)):
        single = median[f"single-{work}"]
        what = "200 us CPU per request" if work == "cpu" else "plain echo"
        for mode in ("processes", "reuseport"):
            ratio = median[f"{mode}-{work}"] / single
            verdict = "met" if ratio >= least else "MISSED"
            target = f"(target >= {least:.1f}x) {verdict}" if mode == "processes" else ""
            # Each round's kinds ran one after another: a round's ratio
            # compares servers that met the same other work on the machine.
            pairs = zip(rates[f"{mode}-{work}"], rates[f"single-{work}"], strict=True)
            paired = [mine / theirs for mine, theirs in pairs]
            print(
                f"  {what:<24} {mode:<9} / subs=0: {ratio:.2f}x {target}"
                f"   per round {', '.join(f'{r:.2f}' for r in paired)}"
                f" (median {statistics.median(paired):.2f}x)"
            )


# perf's tracepoints, by the name shown: what a server does per wake-up, and all calls.
SYSCALLS = {
    "syscalls:sys_enter_epoll_wait": "epoll_wait",
    "syscalls:sys_enter_epoll_ctl": "epoll_ctl",
    "raw_syscalls:sys_enter": "all",
}


def count_syscalls(rounds: int, messages: int, loadgen: Callable[..., dict[str, float]]) -> None:
    """``--perf``: system calls per round trip of the echo servers, from ``perf stat``.

    A server that goes idle between batches pays an ``epoll_wait`` that
    blocks and trio's re-arming ``epoll_ctl`` each time it wakes: these
    counts tell how often that happens, which CPU time alone does not.
    """
    print(f"\nsystem calls per round trip (perf stat over every server process); load: {load()}")
    for _ in range(rounds):
        for kind in (kind for kind in KINDS if kind.endswith("echo")):
            servers = start(kind)
            try:
                loadgen(servers[0].port, 20, 1)  # warm-up
                pids = ",".join(str(pid) for s in servers for pid in tree_pids(s.process.pid))
                command = ["perf", "stat", "-x,", "-e", ",".join(SYSCALLS), "-p", pids]
                perf = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
                time.sleep(0.3)  # perf attaches
                ping = loadgen(servers[0].port, messages, 1)
                perf.send_signal(signal.SIGINT)
                report = perf.communicate()[1]
            finally:
                for server in servers:
                    server.stop()
            trips = ping["rtt_per_s"] * ping["elapsed_s"]
            counts = [line.split(",") for line in report.splitlines() if line.count(",") > 2]
            shown = "   ".join(f"{SYSCALLS[row[2]]} {float(row[0]) / trips:.3f}" for row in counts)
            print(f"  {kind:<16} {ping['rtt_per_s']:>9,.0f} rt/s   {shown}")


def loadgen_command() -> Callable[..., dict[str, float]]:
    """``loadgen(port, messages, processes)``: ping-pong over ``CONNECTIONS`` connections.

    The connections are split over ``processes`` load generators run at
    once; the rate is every round trip over the longest one's time, and
    ``cpu_s`` the CPU time they used together.
    """
    shared = HERE.parents[1] / "shared" / "tools" / "loadgen.c"
    built = build(Path(os.environ.get("TRIONET_LOADGEN_SRC", shared)), "loadgen")
    command = [str(built)] if built else [sys.executable, str(HERE / "pyloadgen.py")]
    if not built:
        print("load generator: Python pyloadgen.py (likely the bottleneck)")

    def loadgen(port: int, messages: int, processes: int) -> dict[str, float]:
        share, extra = divmod(CONNECTIONS, processes)
        ping = [*command, "pingpong", "127.0.0.1", str(port)]
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        running = [
            subprocess.Popen(
                [*ping, str(share + (i < extra)), str(messages), "64"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(processes)
        ]
        outputs = [process.communicate(timeout=600)[0] for process in running]
        if any(process.returncode for process in running):
            raise RuntimeError(f"load generator failed: {outputs}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = [result(output) for output in outputs]
        elapsed = max(r["elapsed_s"] for r in results)
        trips = sum(r["conns"] * r["msgs"] for r in results)
        cpu = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
        return {"rtt_per_s": trips / elapsed, "elapsed_s": elapsed, "cpu_s": cpu}

    return loadgen


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=4000, help="round trips per connection")
    parser.add_argument("--loadgens", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--perf", action="store_true", help="count the echo servers' system calls instead"
    )
    args = parser.parse_args()
    if args.perf:
        count_syscalls(args.rounds, args.messages, loadgen_command())
    else:
        run(args.rounds, args.messages, loadgen_command(), args.loadgens)


if __name__ == "__main__":
    main()
