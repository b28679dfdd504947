"""nox sessions: tests on every installed Python >= 3.10, lint, types, docs, bench, soak."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


def _pythons() -> list[str]:
    """Every CPython 3.10+ that pyenv holds, else the one running nox."""
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return []
    found = []
    for version in sorted((Path(root) / "versions").glob("3.*")):
        major_minor = ".".join(version.name.split(".")[:2])
        if tuple(map(int, major_minor.split("."))) >= (3, 10):
            found.append(str(version / "bin" / "python3"))
    return found


@nox.session(python=_pythons() or None)
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    packages = ["trionet", *(["compat"] if os.path.isdir("compat") else [])]
    session.run("mypy", "--strict", *packages)
    session.run("mypy", "--strict", "examples")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """docs/reliability.md's soak, then the fuzzing at 100 examples a case (a few minutes)."""
    session.install("-e", ".[test]")
    session.run("python", "bench/soak.py", *session.posargs)
    session.run(
        "python", "-m", "pytest", "-q", "tests/test_fuzz.py", env={"TRIONET_FUZZ_EXAMPLES": "100"}
    )
