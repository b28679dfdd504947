"""trionet's benchmark: the fd level beside raw trio and asyncio, in one run.

Usage: ``python bench/run.py [--quick] [--rounds N] [--only {compat,net,tls,tls-echo,ref}] [--tls]``
(or ``nox -s bench``).

Rows:

- server ping-pong: 50 connections, 64-byte messages, driven by the C load
  generator (``loadgen.c`` from the project's shared tools, built here);
  round trips per second and the server's CPU time per round trip;
- server stream: one connection echoing 64 KiB chunks; MiB/s;
- server idle memory: resident memory per idle connection (1,000 of them);
- connection rate: sequential connections (1 byte echoed each) served by
  ``Tcp.serve`` alone, and by a root that hands each to one of 2 worker
  tasks (``fly_away`` + ``Handoff`` + ``create_by_fd``);
- client ping-pong: one connection against a small C echo server pinned to
  the client's own CPU, so the figure measures CPU cost, not the VM's
  cross-CPU wake-up; round trips per second and CPU time per round trip.

``--only compat`` runs instead the rows of the synchronous API beside the
stdlib's blocking sockets: the server rows above (and the one-connection
ping-pong, the load generator on the server's CPU) for a thread-per-connection
echo server on ``trionet.compat.socket`` and one on ``socket.socket``, and
the client ping-pong for ``compat`` clients (``compat.socket`` calls and a
``compat.tcp.Tcp``, every call with a timeout) and a stdlib client with
``settimeout``. Ratios are then to the stdlib.

``--only net`` runs only the rows of ``trionet.net`` (a ``'data'`` listener
that writes each chunk back, and one that also pauses while ``write()``
says the queue is full, as Node's ``pipe()`` does; clients driven by a
``'data'`` listener and by ``receive_some``) beside raw trio and the fd and
``Tcp`` levels: the server rows above, the server ping-pong with one
connection (the load generator pinned to the server's CPU, as the client
rows are), idle memory with 2,000 connections, and the client ping-pong;
then whether the targets of the net layer are met.

``--only tls`` runs the rows of ``more_rows.py``: a ``trionet.net`` TLS echo
server beside raw trio's ``SSLStream`` and the plain net echo (driven by the
TLS load generator ``tlsloadgen.py``), the multi-task server's connection
rate (``subs=2`` against ``subs=0``), and ``trionet bench`` (the CLI) beside
the C load generator against ``trionet serve``. The full run ends with the
net rows, then these. ``--only tls-echo`` runs the TLS echo rows alone.

``--only idle`` runs only the net rows' idle memory (2,000 connections)
for ``net``, ``net-pull``, the fd level, ``Tcp`` and raw trio, in
interleaved rounds.

``--only processes`` runs the rows of ``processes.py``: a 200 µs-per-request
CPU handler and plain echo, each served by ``subs=2, processes=True``
beside ``subs=0`` (unpinned: the workers need both CPUs). The full run ends
with them.

``--only ref`` runs the rows of ``reference_rows.py``: the await path's
reference table (fd level, ``Tcp``, net pull, net flowing, the two shared
reference servers, raw trio), pinned to one CPU and unpinned; with
``--tls`` the TLS rows (net over TLS beside ``trio.SSLStream``) follow.

Every implementation runs the same workload in its own process, in rounds
that interleave the implementations; each figure is the median over rounds.
Ratios are to raw trio (``trio.serve_tcp`` / ``SocketStream``). Without gcc
or ``loadgen.c`` the Python load generator ``pyloadgen.py`` stands in, and
the report says so: it is then likely to be the bottleneck.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from more_rows import MoreRows
from processes import loadgen_command as worker_loadgen
from processes import run as worker_rows
from procs import HERE, Server, build, load, pinned, result
from reference_rows import ReferenceRows

KINDS = ("trionet", "trionet-tcp", "trio", "asyncio")
COMPAT_KINDS = ("compat", "compat-tcp", "stdlib")
# A single pinned connection runs fast; more round trips steady its figure.
COMPAT_CLIENT_FACTOR = 5
IDLE_CONNECTIONS = 1000
NET_KINDS = ("net", "net-pipe", "trionet", "trionet-tcp", "trio")
NET_CLIENT_KINDS = ("net", "net-pull", "net-stream", "trionet", "trionet-tcp", "trio")
NET_COLUMNS = ("net", "net-pipe", "net-pull", "net-stream", "trionet", "trionet-tcp", "trio")
NET_IDLE_CONNECTIONS = 2000
# A single connection runs fast; more round trips steady its figure.
SINGLE_FACTOR = 5
# The net layer's targets: (row, least ratio to raw trio; for memory, trio / net).
NET_TARGETS = (
    ("server ping-pong rt/s", 1.4),
    ("server 1-conn rt/s", 1.0),
    ("server stream MiB/s", 1.3),
    ("client ping-pong rt/s", 1.0),
    ("idle KiB/conn", 1 / 1.5),
)
LOWER_IS_BETTER = (
    "server CPU us/rt",
    "server 1-conn CPU us/rt",
    "client CPU us/rt",
    "idle KiB/conn",
)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        shared = HERE.parents[1] / "shared" / "tools" / "loadgen.c"
        source = Path(os.environ.get("TRIONET_LOADGEN_SRC", shared))
        built = build(source, "loadgen")
        self.loadgen = [str(built)] if built else [sys.executable, str(HERE / "pyloadgen.py")]
        self.loadgen_name = "C loadgen" if built else "Python pyloadgen.py (likely the bottleneck)"
        echo = build(HERE / "echo_server.c", "echo_server")
        self.echo = [str(echo)] if echo else [sys.executable, str(HERE / "servers.py"), "asyncio"]
        self.echo_name = "C echo_server" if echo else "asyncio echo server"
        two_cpus = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
        self.server_cpu, self.load_cpu = (1, 0) if two_cpus else (None, None)
        self.results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.connects: dict[str, list[float]] = defaultdict(list)

    def _loadgen(self, *args: object, same_cpu: bool = False) -> dict[str, float]:
        """Run the load generator on its CPU, or with ``same_cpu`` on the server's."""
        cpu = self.server_cpu if same_cpu else self.load_cpu
        command = pinned([*self.loadgen, *map(str, args)], cpu)
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
        return result(done.stdout)

    def _server(self, kind: str) -> Server:
        command = [sys.executable, str(HERE / "servers.py"), kind, "0"]
        return Server(pinned(command, self.server_cpu))

    def server_round(self, kind: str, single: bool = False) -> None:
        """50 connections ping-pong, then (if ``single``) one, then a stream."""
        conns, msgs = 50, self.args.messages
        server = self._server(kind)
        try:
            self._loadgen("pingpong", "127.0.0.1", server.port, conns, 200, 64)
            before = server.cpu_seconds()
            ping = self._loadgen("pingpong", "127.0.0.1", server.port, conns, msgs, 64)
            cpu = server.cpu_seconds() - before
            self.results["server ping-pong rt/s"][kind].append(ping["rtt_per_s"])
            self.results["server CPU us/rt"][kind].append(cpu / (conns * msgs) * 1e6)
            if single:
                self._single_connection(kind, server)
            stream = self._loadgen("stream", "127.0.0.1", server.port, self.args.stream_mib, 65536)
            self.results["server stream MiB/s"][kind].append(stream["mib_per_s"])
        finally:
            server.stop()

    def _single_connection(self, kind: str, server: Server) -> None:
        """One connection ping-pong; the load generator shares the server's CPU (CPU cost only)."""
        msgs = self.args.messages * SINGLE_FACTOR
        before = server.cpu_seconds()
        ping = self._loadgen("pingpong", "127.0.0.1", server.port, 1, msgs, 64, same_cpu=True)
        cpu = server.cpu_seconds() - before
        self.results["server 1-conn rt/s"][kind].append(ping["rtt_per_s"])
        self.results["server 1-conn CPU us/rt"][kind].append(cpu / msgs * 1e6)

    def idle_memory(self, kind: str, connections: int = IDLE_CONNECTIONS) -> None:
        server = self._server(kind)
        try:
            self._loadgen("pingpong", "127.0.0.1", server.port, 10, 10, 64)
            base = server.rss_bytes()
            command = [*self.loadgen, "idle", "127.0.0.1", str(server.port), str(connections)]
            holder = subprocess.Popen(
                pinned([*command, "3"], self.load_cpu), stdout=subprocess.PIPE, text=True
            )
            assert holder.stdout is not None
            for line in holder.stdout:
                if line.startswith("READY"):
                    time.sleep(0.5)
                    grown = server.rss_bytes() - base
                    self.results["idle KiB/conn"][kind].append(grown / connections / 1024)
                    break
            holder.wait(timeout=60)
        finally:
            server.stop()

    def connect_rate(self) -> None:
        """Connections per second: served by the root alone, or handed to 2 tasks."""
        for kind in ("trionet-tcp", "trionet-handoff"):
            server = self._server(kind)
            try:
                rate = self._loadgen("connect", "127.0.0.1", server.port, self.args.connects)
                self.connects[kind].append(rate["conn_per_s"])
            finally:
                server.stop()

    def client_round(self, kind: str, echo_port: int, factor: int = 1) -> None:
        command = [sys.executable, str(HERE / "clients.py"), kind, str(echo_port)]
        command += [str(self.args.messages * factor), "64"]
        done = subprocess.run(
            pinned(command, self.server_cpu),
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        figures = result(done.stdout)
        self.results["client ping-pong rt/s"][kind].append(figures["rtt_per_s"])
        self.results["client CPU us/rt"][kind].append(figures["cpu_us_per_rt"])

    def _header(self) -> None:
        print(f"load generator: {self.loadgen_name}; echo peer for clients: {self.echo_name}")
        where = "unpinned" if self.server_cpu is None else "server CPU 1, load generator CPU 0"
        print(f"pinning: {where}; rounds: {self.args.rounds}; python {sys.version.split()[0]}")

    def run_compat(self) -> None:
        """The sync API beside the stdlib's blocking sockets, rounds interleaved."""
        self._header()
        echo = Server(pinned([*self.echo, "0"], self.server_cpu))
        try:
            for round_number in range(self.args.rounds):
                for kind in COMPAT_KINDS:
                    if kind != "compat-tcp":  # one compat server: on the fd level
                        self.server_round(kind, single=True)
                    self.client_round(kind, echo.port, COMPAT_CLIENT_FACTOR)
                print(f"  round {round_number + 1} done", flush=True)
        finally:
            echo.stop()
        self._table(COMPAT_KINDS, "stdlib", ("compat", "compat-tcp"))

    def run_net(self) -> None:
        """trionet.net beside raw trio and the fd and Tcp levels, rounds interleaved."""
        print("\nnet rows: trionet.net beside raw trio, the fd level and Tcp")
        self._header()
        print(f"idle memory: {NET_IDLE_CONNECTIONS:,} connections; load: {load()}")
        for round_number in range(self.args.rounds):
            for kind in NET_KINDS:
                self.server_round(kind, single=True)
                self.idle_memory(kind, NET_IDLE_CONNECTIONS)
            print(f"  net server round {round_number + 1} done", flush=True)
        echo = Server(pinned([*self.echo, "0"], self.server_cpu))
        try:
            for _ in range(self.args.rounds):
                for kind in NET_CLIENT_KINDS:
                    self.client_round(kind, echo.port, SINGLE_FACTOR)
        finally:
            echo.stop()
        self._table(NET_COLUMNS, "trio", NET_COLUMNS[:-1])
        print(f"load at the end: {load()}")
        self._targets()

    def run_idle(self) -> None:
        """The net rows' idle memory alone, rounds interleaved."""
        kinds = ("net", "net-pull", "trionet", "trionet-tcp", "trio")
        print(f"idle memory: {NET_IDLE_CONNECTIONS:,} connections; load: {load()}")
        for _ in range(self.args.rounds):
            for kind in kinds:
                self.idle_memory(kind, NET_IDLE_CONNECTIONS)
        self._table(kinds, "trio", kinds[:-1])
        print(f"load at the end: {load()}")

    def run_more(self) -> None:
        """TLS echo, the multi-task server's connection rate, and ``trionet bench``."""
        self._header()
        more = MoreRows(self.args, (self.server_cpu, self.load_cpu), self._loadgen)
        more.run_tls()
        more.run_subs()
        more.run_cli()

    def run_tls(self) -> None:
        """The TLS echo rows alone (net over TLS beside ``trio.SSLStream``)."""
        self._header()
        MoreRows(self.args, (self.server_cpu, self.load_cpu), self._loadgen).run_tls()

    def run_reference(self) -> None:
        """The reference table's rows; with ``--tls``, the TLS rows after them."""
        ReferenceRows(self.args, self.loadgen, self.loadgen_name).run()
        if self.args.tls:
            self.run_tls()

    def _targets(self) -> None:
        """Whether net meets its targets, each a least ratio to raw trio."""
        print("\nnet targets (ratio to trio; for memory trio / net):")
        for row, least in NET_TARGETS:
            net, trio = (statistics.median(self.results[row][kind]) for kind in ("net", "trio"))
            ratio = trio / net if row in LOWER_IS_BETTER else net / trio
            verdict = "met" if ratio >= least else "MISSED"
            rounds = " / ".join(
                ", ".join(f"{value:,.1f}" for value in self.results[row][kind])
                for kind in ("net", "trio")
            )
            print(f"  {row:<24} {ratio:5.2f}x  (target >= {least:.2f}x)  {verdict:<6}  {rounds}")
        print("  (last column: each round's figure, net / trio)")

    def run(self) -> None:
        self._header()
        for round_number in range(self.args.rounds):
            for kind in KINDS:
                self.server_round(kind)
            self.connect_rate()
            print(f"  server round {round_number + 1} done", flush=True)
        for kind in KINDS:
            self.idle_memory(kind)
        echo = Server(pinned([*self.echo, "0"], self.server_cpu))
        try:
            for _ in range(self.args.rounds):
                for kind in KINDS:
                    self.client_round(kind, echo.port)
        finally:
            echo.stop()
        self.report()

    def _table(self, kinds: tuple[str, ...], base: str, compared: tuple[str, ...]) -> None:
        """The medians of every row, and each of ``compared`` as a ratio to ``base``."""
        print()
        short = {
            "trionet": "fd",
            "trionet-tcp": "tcp",
            "net-pull": "pull",
            "net-pipe": "pipe",
            "net-stream": "stream",
        }
        heads = [f"{short.get(kind, kind)}/{base}" for kind in compared]
        width = max(map(len, heads)) + 2
        print(
            f"{'row':<24}"
            + "".join(f"{kind:>13}" for kind in kinds)
            + "".join(f"{head:>{width}}" for head in heads)
        )
        for row, by_kind in self.results.items():
            # A row some implementation does not run (a server row for a client-only kind) is "-".
            medians = {kind: statistics.median(values) for kind, values in by_kind.items()}
            cells = "".join(f"{medians.get(kind, math.nan):>13,.1f}" for kind in kinds)
            ratios = [medians.get(kind, math.nan) / medians[base] for kind in compared]
            if row in LOWER_IS_BETTER:
                ratios = [1 / ratio for ratio in ratios]
            shown = "".join(f"{ratio:>{width - 1}.2f}x" for ratio in ratios)
            print(f"{row:<24}{cells}{shown}".replace("nanx", "   -").replace("nan", "  -"))
        print(f"\n(ratio > 1 means better than {base}; for CPU and memory rows it is {base} / it)")

    def report(self) -> None:
        self._table(KINDS, "trio", ("trionet", "trionet-tcp"))
        single, handed = (statistics.median(self.connects[k]) for k in self.connects)
        print(
            f"\nconnections/s (connect, 1 byte echoed, close): Tcp.serve alone {single:,.0f};"
            f" root + 2 worker tasks {handed:,.0f} ({handed / single:.2f}x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=4000, help="round trips per connection")
    parser.add_argument("--stream-mib", type=int, default=1024)
    parser.add_argument("--connects", type=int, default=5000, help="connections per rate run")
    parser.add_argument("--quick", action="store_true", help="1 round, small workloads")
    parser.add_argument(
        "--only",
        choices=["compat", "net", "idle", "tls", "tls-echo", "ref", "processes"],
        help="compat: only the sync API beside the stdlib; net: only the trionet.net rows;"
        " idle: only the net rows' idle memory;"
        " tls: only the TLS, multi-task server and trionet bench rows;"
        " tls-echo: only the TLS echo rows;"
        " ref: the reference table (pinned and unpinned, the reference servers);"
        " processes: worker processes beside one process",
    )
    parser.add_argument("--tls", action="store_true", help="with --only ref: the TLS rows too")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.messages, args.stream_mib, args.connects = 1, 500, 128, 1000
    bench = Bench(args)
    if args.only == "compat":
        bench.run_compat()
    elif args.only == "net":
        bench.run_net()
    elif args.only == "idle":
        bench.run_idle()
    elif args.only == "tls":
        bench.run_more()
    elif args.only == "tls-echo":
        bench.run_tls()
    elif args.only == "ref":
        bench.run_reference()
    elif args.only == "processes":
        worker_rows(args.rounds, args.messages, worker_loadgen())
    else:
        bench.run()
        Bench(args).run_net()
        Bench(args).run_more()
        Bench(args).run_reference()
        worker_rows(args.rounds, args.messages, worker_loadgen())


if __name__ == "__main__":
    main()
