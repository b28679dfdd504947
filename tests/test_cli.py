"""The command line, driven as a user drives it: in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def _trionet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trionet", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_runs_every_scene_and_exits_zero() -> None:
    done = _trionet("demo")
    assert done.returncode == 0, done.stderr
    assert "fd level" in done.stdout
    assert "raised Timeout" in done.stdout
    assert "is_eof = True" in done.stdout
    assert "client got b'echo me' back" in done.stdout
    assert "it got b'pong' back" in done.stdout
    assert "client got b'HANDED OVER'" in done.stdout
    assert done.stderr == ""


def test_help_lists_the_commands() -> None:
    done = _trionet("--help")
    assert done.returncode == 0
    assert "demo" in done.stdout


def test_an_unknown_command_is_one_clear_error() -> None:
    done = _trionet("nonsense")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
