"""Processes for the benchmark: building C tools, pinning, servers, ``RESULT`` lines."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / ".build"
TICK = os.sysconf("SC_CLK_TCK")


def build(source: Path, name: str, libs: tuple[str, ...] = ()) -> Path | None:
    """``source`` compiled with gcc (again only when it changed), or ``None`` if that fails."""
    if not source.exists() or not shutil.which("gcc"):
        return None
    BUILD.mkdir(exist_ok=True)
    binary = BUILD / name
    # The C sources share headers beside them: a changed header rebuilds them too.
    sources = [source, *source.parent.glob("*.h")]
    if not binary.exists() or binary.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        done = subprocess.run(["gcc", "-O2", "-o", str(binary), str(source), *libs], check=False)
        if done.returncode:
            return None
    return binary


def pinned(command: list[str], cpu: int | None) -> list[str]:
    if cpu is None:
        return command
    return ["taskset", "-c", str(cpu), *command]


def load() -> str:
    """The 1, 5 and 15-minute load averages: other work on the machine makes figures noisy."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def parse(line: str) -> dict[str, float]:
    fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
    return {key: float(value) for key, value in fields.items()}


def result(output: str) -> dict[str, float]:
    lines = [line for line in output.splitlines() if line.startswith("RESULT")]
    if not lines:
        raise RuntimeError(f"no RESULT line in: {output!r}")
    return parse(lines[-1])


class Server:
    """A server process on loopback whose CPU time and memory can be read."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        # bench's servers say ``READY <port>``, ``trionet serve`` ``listening on <host>:<port>``.
        line = self.process.stdout.readline()
        if not line.startswith(("READY", "listening on")):
            self.stop()
            raise RuntimeError(f"server did not start: {command}")
        self.port = int(line.split()[-1].rsplit(":", 1)[-1])

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
