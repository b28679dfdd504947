"""The rows of ``python bench/run.py --only tls`` (also at the end of the full run).

- TLS echo: ``trionet.net`` over TLS (``net-tls``) beside raw trio's
  ``trio.SSLStream`` over ``serve_tcp`` (``trio-tls``) and the plain net
  echo (``net``), all driven by the TLS load generator (the C load
  generator speaks plain TCP only): ``tlsloadgen.c``, built with gcc and
  OpenSSL, or where that fails ``tlsloadgen.py``; 50 connections
  ping-pong and a 64 KiB-chunk stream. A minimal C server on OpenSSL
  (``tls_echo_server.c``) is driven the same way, to show how fast the
  generator itself can go.
- Multi-task server: connections per second to ``net.create_server`` with
  ``subs=2`` and with ``subs=0``, measured as the connection-rate row is.
- ``trionet bench`` (the CLI) and the C load generator, each driving
  ``python -m trionet serve`` with the same ping-pong.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from procs import HERE, Server, build, load, pinned, result

TLS_TARGET = 1.2  # issue 17: net over TLS at 1.2x trio.SSLStream
SUBS_KINDS = ("net", "net-subs2")
CLI_CONNECTIONS, CLI_MESSAGES = 50, 2000
# Generator processes for the TLS ping-pong; they share one CPU (see docs/benchmarks.md).
TLS_PROCS = 2


@contextmanager
def certificates() -> Iterator[tuple[str, str, str] | None]:
    """A CA, and a certificate for ``localhost`` / ``127.0.0.1`` signed by it, in a temp dir.

    ``(cert, key, ca)`` paths, or ``None`` where trustme (the test extra) is missing.
    """
    try:
        import trustme  # optional (the test extra): only the TLS rows need it
    except ImportError:
        yield None
        return
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="trionet-bench-") as folder:
        cert, key, ca = (str(Path(folder, name)) for name in ("cert.pem", "key.pem", "ca.pem"))
        Path(cert).write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        issued.private_key_pem.write_to_path(key)
        authority.cert_pem.write_to_path(ca)
        yield cert, key, ca


def _rows() -> dict[str, dict[str, list[float]]]:
    """Each row's figures by implementation, one per round."""
    return defaultdict(lambda: defaultdict(list))


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class MoreRows:
    """TLS, multi-task and CLI rows, on the CPUs and load generator of ``run.Bench``."""

    def __init__(
        self,
        args: argparse.Namespace,
        cpus: tuple[int | None, int | None],
        loadgen: Callable[..., dict[str, float]],
    ) -> None:
        self.args = args
        self.server_cpu, self.load_cpu = cpus
        self.loadgen = loadgen
        self.results = _rows()
        tls_echo = build(HERE / "tls_echo_server.c", "tls_echo_server", ("-lssl", "-lcrypto"))
        self.tls_echo = [str(tls_echo)] if tls_echo else None
        # The Python generator costs about as much CPU per message as the
        # fastest Python server: it would cap that server at its own rate.
        generator = build(HERE / "tlsloadgen.c", "tlsloadgen", ("-lssl", "-lcrypto"))
        self.tls_generator = (
            [str(generator)] if generator else [sys.executable, str(HERE / "tlsloadgen.py")]
        )
        self.tls_generator_name = (
            "tlsloadgen.c" if generator else f"tlsloadgen.py ({TLS_PROCS} processes)"
        )

    def _server(self, kind: str, cert: str, key: str) -> Server:
        if kind == "c-tls":
            assert self.tls_echo is not None
            command = [*self.tls_echo, "0", cert, key]
        else:
            command = [sys.executable, str(HERE / "servers.py"), kind, "0", cert, key]
        return Server(pinned(command, self.server_cpu))

    def _tlsloadgen(self, *args: object) -> dict[str, float]:
        command = [*self.tls_generator, *map(str, args)]
        done = subprocess.run(
            pinned(command, self.load_cpu), capture_output=True, text=True, timeout=900, check=True
        )
        return result(done.stdout)

    def tls_round(self, kind: str, ca: str, cert: str, key: str) -> None:
        """50 connections ping-pong, then a stream; plain ``net`` gets the plain mode."""
        conns, msgs = 50, self.args.messages
        server = self._server(kind, cert, key)
        trust = "-" if kind == "net" else ca
        try:
            self._tlsloadgen("pingpong", "127.0.0.1", server.port, trust, conns, 200, 64, TLS_PROCS)
            before = server.cpu_seconds()
            ping = self._tlsloadgen(
                "pingpong", "127.0.0.1", server.port, trust, conns, msgs, 64, TLS_PROCS
            )
            cpu = server.cpu_seconds() - before
            row = self.results
            row["ping-pong rt/s"][kind].append(ping["rtt_per_s"])
            row["server CPU us/rt"][kind].append(cpu / (conns * msgs) * 1e6)
            row["server CPU busy"][kind].append(cpu / ping["elapsed_s"])
            row["generator CPU us/rt"][kind].append(ping["cpu_util"] / ping["rtt_per_s"] * 1e6)
            row["generator CPU busy"][kind].append(ping["cpu_util"])
            # TLS streams at a fraction of the plain rate: half the data keeps the row short.
            stream_mib = self.args.stream_mib // 2
            before = server.cpu_seconds()
            stream = self._tlsloadgen("stream", "127.0.0.1", server.port, trust, stream_mib, 65536)
            cpu = server.cpu_seconds() - before
            row["stream MiB/s"][kind].append(stream["mib_per_s"])
            row["stream server CPU busy"][kind].append(cpu / stream["elapsed_s"])
            row["stream generator CPU busy"][kind].append(stream["cpu_util"])
        finally:
            server.stop()

    def run_tls(self) -> None:
        self.results = _rows()
        with certificates() as paths:
            if paths is None:
                print("\nTLS rows skipped: trustme is missing (pip install -e '.[test]')")
                return
            cert, key, ca = paths
            kinds = ("net-tls", "trio-tls", "net", *(("c-tls",) if self.tls_echo else ()))
            print(f"\nTLS rows: generator {self.tls_generator_name}; load: {load()}")
            for round_number in range(self.args.rounds):
                for kind in kinds:
                    self.tls_round(kind, ca, cert, key)
                print(f"  TLS round {round_number + 1} done", flush=True)
        self._table(kinds)
        ratios = []
        for row in ("ping-pong rt/s", "stream MiB/s"):
            net, trio = (statistics.median(self.results[row][kind]) for kind in kinds[:2])
            ratios.append(
                f"{row} {net / trio:.2f}x ({'met' if net / trio >= TLS_TARGET else 'MISSED'})"
            )
        print(f"TLS target net-tls >= {TLS_TARGET}x trio-tls: " + "; ".join(ratios))

    def run_subs(self) -> None:
        """Connections per second: ``subs=0`` beside ``subs=2``, with the C load generator."""
        print(f"\nmulti-task server rows; load: {load()}")
        self.results = _rows()
        for _ in range(self.args.rounds):
            for kind in SUBS_KINDS:
                command = [sys.executable, str(HERE / "servers.py"), kind, "0"]
                server = Server(pinned(command, self.server_cpu))
                try:
                    rate = self.loadgen("connect", "127.0.0.1", server.port, self.args.connects)
                    self.results["connections/s"][kind].append(rate["conn_per_s"])
                finally:
                    server.stop()
        single, multi = (statistics.median(self.results["connections/s"][k]) for k in SUBS_KINDS)
        rounds = " / ".join(
            ", ".join(f"{value:,.0f}" for value in self.results["connections/s"][kind])
            for kind in SUBS_KINDS
        )
        print(
            f"connections/s (connect, 1 byte echoed, close): subs=0 {single:,.0f};"
            f" subs=2 {multi:,.0f} ({multi / single:.2f}x); rounds {rounds}"
        )

    def cli_round(self) -> None:
        """``trionet bench`` and the C load generator against one ``trionet serve``."""
        serve = [sys.executable, "-m", "trionet", "serve", "--port", "0", "--host", "127.0.0.1"]
        server = Server(pinned(serve, self.server_cpu))
        try:
            self.loadgen("pingpong", "127.0.0.1", server.port, CLI_CONNECTIONS, 200, 64)
            self._drive("trionet bench", server, lambda: self._cli_bench(server.port))
            self._drive(
                "C loadgen",
                server,
                lambda: self.loadgen(
                    "pingpong", "127.0.0.1", server.port, CLI_CONNECTIONS, CLI_MESSAGES, 64
                )["rtt_per_s"],
            )
        finally:
            server.stop()

    def _drive(self, kind: str, server: Server, run: Callable[[], float]) -> None:
        """Run one generator; record its rate and how busy it and the server were."""
        server_cpu, own_cpu, started = server.cpu_seconds(), _cpu_of_children(), time.perf_counter()
        rate = run()
        elapsed = time.perf_counter() - started
        self.results["ping-pong rt/s"][kind].append(rate)
        self.results["generator CPU busy"][kind].append((_cpu_of_children() - own_cpu) / elapsed)
        self.results["server CPU busy"][kind].append((server.cpu_seconds() - server_cpu) / elapsed)

    def _cli_bench(self, port: int) -> float:
        command = [sys.executable, "-m", "trionet", "bench", f"127.0.0.1:{port}"]
        command += ["--connections", str(CLI_CONNECTIONS), "--messages", str(CLI_MESSAGES)]
        done = subprocess.run(
            pinned(command, self.load_cpu), capture_output=True, text=True, timeout=600, check=True
        )
        found = re.search(r"([\d,]+) round trips/s", done.stdout)
        if found is None:
            raise RuntimeError(f"no rate in trionet bench's output: {done.stdout!r}")
        return float(found[1].replace(",", ""))

    def run_cli(self) -> None:
        print(f"\ntrionet bench (the CLI) against the C load generator; load: {load()}")
        self.results = _rows()
        for _ in range(self.args.rounds):
            self.cli_round()
        self._table(("trionet bench", "C loadgen"))
        rounds = " / ".join(
            ", ".join(f"{value:,.0f}" for value in self.results["ping-pong rt/s"][kind])
            for kind in ("trionet bench", "C loadgen")
        )
        print(f"rounds (rt/s), trionet bench / C loadgen: {rounds}")

    def _table(self, kinds: tuple[str, ...]) -> None:
        print(f"\n{'row':<28}" + "".join(f"{kind:>15}" for kind in kinds))
        for row, by_kind in self.results.items():
            cells = []
            for kind in kinds:
                values = by_kind.get(kind)
                cells.append(f"{statistics.median(values):>15,.2f}" if values else f"{'-':>15}")
            print(f"{row:<28}" + "".join(cells))
        print("(medians; 'busy' is CPU time over elapsed time, 1.00 = one CPU)")
