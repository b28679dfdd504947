"""The rows of ``python bench/run.py --only ref``: the await path against its reference table.

Every server of the shared reference table (``../shared/reference/README.md``),
in one run and with the same C load generator:

- ``trionet`` (the fd level), ``trionet-tcp`` (``Tcp``), ``net-pull``
  (``async for`` + ``send_all`` on a ``net.Socket``), ``net`` (flowing:
  ``'data'`` -> ``write``), ``trio`` (``serve_tcp`` + ``SocketStream``);
- the two reference servers themselves (``echo_syscall_first.py`` and
  ``echo_edge_triggered.py`` from the shared reference folder, or from
  ``TRIONET_REFERENCE_DIR``), as a bound of what the await path can reach.

Each row is measured twice:

- pinned: the server and the load generator on the same CPU
  (``taskset -c 0``), so a figure measures CPU cost per message;
- unpinned: the scheduler places both.

Ping-pong is 64-byte messages, with 1 connection (pinned only: unpinned, a
faster server loses a single ping-pong to idle-CPU wake-up latency) and with
50; stream is one connection echoing 64 KiB writes. Ratios are to raw trio.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

from procs import HERE, Server, load, pinned, result

REF_DIR = Path(os.environ.get("TRIONET_REFERENCE_DIR", HERE.parents[1] / "shared" / "reference"))
REFERENCES = {"ref-syscall": "echo_syscall_first.py", "ref-edge": "echo_edge_triggered.py"}
KINDS = ("trionet", "trionet-tcp", "net-pull", "net", "ref-syscall", "ref-edge", "trio")
SHORT = {"trionet": "fd", "trionet-tcp": "Tcp", "net-pull": "pull", "ref-syscall": "ref-sys"}
PIN_CPU = 0
# Round trips per run: enough for a steady figure, few enough to keep a run under 3 minutes.
SINGLE_MESSAGES = 20000
MULTI_MESSAGES = 1000
STREAM_MIB = 512


class ReferenceServer(Server):
    """A reference server: ``python FILE PORT``; it prints nothing, so wait until it accepts."""

    def __init__(self, command: list[str], port: int) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        self.port = port
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
                continue
            # Someone else may listen there (the port was only guessed free):
            # then this server's bind failed and it is gone.
            time.sleep(0.2)
            if self.process.poll() is None:
                return
        self.stop()
        raise RuntimeError(f"reference server did not start: {command}")


def _quiet_port() -> int:
    """A port below the ephemeral range, where no client's connect lands (a guess: retried)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
        low = int(ports.read().split()[0])
    return random.randrange(low // 2, low)


class ReferenceRows:
    """The reference table's rows, driven by ``loadgen`` (a command list)."""

    def __init__(self, args: argparse.Namespace, loadgen: list[str], loadgen_name: str) -> None:
        self.args = args
        self.loadgen = loadgen
        self.loadgen_name = loadgen_name
        self.kinds = tuple(
            kind
            for kind in KINDS
            if kind not in REFERENCES or (REF_DIR / REFERENCES[kind]).exists()
        )
        self.results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        # --quick: a tenth of each workload, to see that every server runs.
        self.scale = 10 if args.quick else 1

    def _server(self, kind: str, cpu: int | None) -> Server:
        if kind in REFERENCES:
            for _ in range(4):
                port = _quiet_port()
                command = [sys.executable, str(REF_DIR / REFERENCES[kind]), str(port)]
                try:
                    return ReferenceServer(pinned(command, cpu), port)
                except RuntimeError:
                    continue  # the port was taken: another guess
            raise RuntimeError(f"{kind}: no free port in 4 tries")
        return Server(pinned([sys.executable, str(HERE / "servers.py"), kind, "0"], cpu))

    def _run(self, cpu: int | None, *args: object) -> dict[str, float]:
        command = pinned([*self.loadgen, *map(str, args)], cpu)
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
        return result(done.stdout)

    def _round(self, kind: str, cpu: int | None, where: str) -> None:
        server = self._server(kind, cpu)
        run = partial(self._run, cpu)
        try:
            run("pingpong", "127.0.0.1", server.port, 50, 100, 64)  # warm-up
            if cpu is not None:
                single = run(
                    "pingpong", "127.0.0.1", server.port, 1, SINGLE_MESSAGES // self.scale, 64
                )
                self.results[f"{where} pp1 rt/s"][kind].append(single["rtt_per_s"])
            multi = run("pingpong", "127.0.0.1", server.port, 50, MULTI_MESSAGES // self.scale, 64)
            self.results[f"{where} pp50 rt/s"][kind].append(multi["rtt_per_s"])
            stream = run("stream", "127.0.0.1", server.port, STREAM_MIB // self.scale, 65536)
            self.results[f"{where} stream MiB/s"][kind].append(stream["mib_per_s"])
        finally:
            server.stop()

    def run(self) -> None:
        print(f"\nreference rows: load generator {self.loadgen_name}; load {load()}")
        print(f"pinned: server and load generator on CPU {PIN_CPU}; unpinned: the scheduler's")
        missing = [REFERENCES[k] for k in REFERENCES if k not in self.kinds]
        if missing:
            print(f"(reference servers not found in {REF_DIR}: {', '.join(missing)})")
        for number in range(self.args.rounds):
            for kind in self.kinds:
                self._round(kind, PIN_CPU, "pinned")
                self._round(kind, None, "unpinned")
            print(f"  reference round {number + 1} done", flush=True)
        self.report()

    def report(self) -> None:
        compared = tuple(kind for kind in self.kinds if kind != "trio")
        heads = [f"{SHORT.get(kind, kind)}/trio" for kind in compared]
        print(f"\n{'row':<24}" + "".join(f"{head:>13}" for head in heads) + f"{'trio':>12}")
        for row, by_kind in self.results.items():
            trio = statistics.median(by_kind["trio"])
            cells = "".join(
                f"{statistics.median(by_kind[kind]) / trio:>12.2f}x" for kind in compared
            )
            print(f"{row:<24}{cells}{trio:>12,.0f}")
        print("\n(ratios to raw trio, medians of each round; last column: trio's own figure)")
        for row, by_kind in self.results.items():
            rounds = "; ".join(
                f"{SHORT.get(kind, kind)} " + "/".join(f"{v:,.0f}" for v in by_kind[kind])
                for kind in self.kinds
            )
            print(f"  {row}: {rounds}")
