"""Worker processes (``subs=2, processes=True``) and ``reuse_port`` against one process.

Usage: ``python bench/processes.py [--rounds N] [--messages N] [--loadgens N]``
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
Run it under ``flock -x /work/cpu.lock`` where others share the machine.
"""

from __future__ import annotations

import argparse
import os
import resource
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
    process = Path(f"/proc/{pid}")
    try:
        fields = (process / "stat").read_text().rsplit(")", 1)[1].split()
        # Each thread lists the children it started.
        children = [c for t in process.glob("task/*/children") for c in t.read_text().split()]
    except FileNotFoundError:  # gone meanwhile
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / TICK
    return own + sum(tree_cpu(int(child)) for child in children)


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
        server_us, loadgen_us, busy = (statistics.median(c) for c in zip(*costs[kind], strict=True))
        print(
            f"  {kind:<16} {median[kind]:>9,.0f} rt/s   server {server_us:5.1f} us/rt"
            f"   load generators {loadgen_us:5.1f} us/rt, {busy:.0%} busy"
            f"   rounds {', '.join(f'{v:,.0f}' for v in rates[kind])}"
        )
    for work, least in (("cpu", TARGET), ("echo", 1.0)):
        single = median[f"single-{work}"]
        what = "200 us CPU per request" if work == "cpu" else "plain echo"
        for mode in ("processes", "reuseport"):
            ratio = median[f"{mode}-{work}"] / single
            verdict = "met" if ratio >= least else "MISSED"
            target = f"(target >= {least:.1f}x) {verdict}" if mode == "processes" else ""
            print(f"  {what:<24} {mode:<9} / subs=0: {ratio:.2f}x {target}")


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
    args = parser.parse_args()
    run(args.rounds, args.messages, loadgen_command(), args.loadgens)


if __name__ == "__main__":
    main()
