"""The JSRE ``tcp`` document's examples, ported to ``trionet.compat``, run as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name: str) -> list[str]:
    try:
        done = subprocess.run(
            [sys.executable, "-W", "error", str(EXAMPLES / name)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{name} hung; it printed {exc.stdout!r}, {exc.stderr!r}") from None
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.splitlines()


def test_sync_to_async_server_hears_every_client_then_loses_it() -> None:
    lines = _run("jsre_sync_to_async_server.py")
    said = [line for line in lines if line.startswith("Client: 127.0.0.1 Say: ")]
    assert [line.rsplit(": ", 1)[1] for line in said] == [
        f"hello from client {number}" for number in range(3)
    ]
    assert sum(line.startswith("New client: 127.0.0.1:") for line in lines) == 3
    assert sum(line.startswith("Client lost: 127.0.0.1:") for line in lines) == 3


def test_sync_to_async_client_connects_in_callback_mode_and_is_heard() -> None:
    lines = _run("jsre_sync_to_async_client.py")
    assert lines[0].startswith("Connected to 127.0.0.1:")
    assert lines[1] == "Server heard 127.0.0.1: 'Hello I am client ^_^Goodbye!'"


def test_multitask_server_spreads_clients_over_both_workers() -> None:
    lines = _run("jsre_multitask_server_sync.py")
    heard = [line for line in lines if " says " in line]
    assert sorted(heard) == sorted(
        f"worker-{number % 2}: client 127.0.0.1 says 'hello {number}'" for number in range(6)
    )
    assert sum(line.startswith("New client: ") for line in lines) == 6
