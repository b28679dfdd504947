"""Every example in examples/ runs as a user runs it, and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_multitask_tcp_server_spreads_clients_over_both_workers() -> None:
    output = _run("multitask_tcp_server.py")
    replies = [line for line in output.splitlines() if " heard " in line]
    assert len(replies) == 6
    assert sum(line.startswith("worker-0 ") for line in replies) == 3
    assert sum(line.startswith("worker-1 ") for line in replies) == 3
    for number in range(6):
        assert any(line.endswith(f"'hello {number}'") for line in replies)


def test_worker_processes_serve_from_two_other_processes() -> None:
    output = _run("worker_processes.py").splitlines()
    master_pid = output[0].split("pid ")[1].split(")")[0]
    served = [line for line in output if line.startswith("served by ")]
    assert [line.split()[2] for line in served] == ["sub1", "sub2", "sub1", "sub2"]
    pids = {line.split("pid ")[1].rstrip(")") for line in served}
    assert len(pids) == 2
    assert master_pid not in pids
    assert output[-1] == "workers stopped"
