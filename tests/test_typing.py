"""Types as users meet them: ``mypy --strict`` on the README, the docs, examples/ and mistakes.

One mypy run checks every ```` ```python ```` block of ``README.md`` and
``docs/`` (each written out as a module of its own), every file of
``examples/`` and ``tests/typing/mistakes.py``; the test then reads the
report. A ```` ```py ```` block is a listing (signatures shown for
reference) and is not checked. A separate test installs trionet as the
README says, into a fresh venv, and runs mypy on a user's file outside the
checkout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MISTAKES = ROOT / "tests" / "typing" / "mistakes.py"
CACHE = ROOT / ".mypy_cache"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def snippets() -> dict[str, str]:
    """Module name -> code, for every ```python block of the README and the docs."""
    found = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        stem = re.sub(r"\W", "_", str(page.relative_to(ROOT).with_suffix("")))
        for index, block in enumerate(_BLOCK.findall(page.read_text())):
            found[f"snippet_{stem}_{index}"] = block
    return found


def _mypy(*paths: Path, cwd: Path) -> dict[str, list[tuple[int, str]]]:
    """Run ``mypy --strict`` once; its errors by file name: ``[(line, message)]``."""
    done = subprocess.run(
        # The checkout's cache (as a plain `mypy` run there uses) keeps reruns fast.
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(CACHE)]
        + [str(path) for path in paths],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors: dict[str, list[tuple[int, str]]] = {}
    for line in done.stdout.splitlines():
        match = re.match(r"(.+?):(\d+): error: (.*)", line)
        if match:
            errors.setdefault(Path(match[1]).name, []).append((int(match[2]), match[3]))
    # The summary line proves that mypy ran (and not, say, failed to start).
    summary = done.stdout.splitlines()[-1] if done.stdout else ""
    assert re.match(r"(Success: no issues|Found \d+ errors?) ", summary), done.stdout + done.stderr
    return errors


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    folder = tmp_path_factory.mktemp("snippets")
    for name, code in snippets().items():
        (folder / f"{name}.py").write_text(code)
    examples = sorted((ROOT / "examples").glob("*.py"))
    return _mypy(folder, *examples, MISTAKES, cwd=folder)


def test_the_readme_and_docs_have_snippets_to_check() -> None:
    names = snippets()
    assert any(name.startswith("snippet_README") for name in names)
    assert len(names) >= 25


def test_readme_and_docs_snippets_pass_mypy_strict(
    report: dict[str, list[tuple[int, str]]],
) -> None:
    failing = {name: errors for name, errors in report.items() if name.startswith("snippet_")}
    assert failing == {}


def test_examples_pass_mypy_strict(report: dict[str, list[tuple[int, str]]]) -> None:
    examples = {path.name for path in (ROOT / "examples").glob("*.py")}
    assert {name: errors for name, errors in report.items() if name in examples} == {}


def test_every_deliberate_mistake_is_a_type_error(
    report: dict[str, list[tuple[int, str]]],
) -> None:
    marked = {
        number
        for number, line in enumerate(MISTAKES.read_text().splitlines(), 1)
        if "  # mistake:" in line
    }
    assert len(marked) == 9
    assert {line for line, _ in report.get(MISTAKES.name, [])} == marked


def test_the_typed_tour_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "typed_tour.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "tcp: b'from tcp'",
        "compat: b'from compat'",
        "task: 12 - doubled 3 numbers",
    ]


_NOT_SOURCE = (".git", "build", "dist", "site", "*.egg-info", "__pycache__", ".*_cache", ".nox")

USER_FILE = """\
from trionet import net
from trionet.compat import socket

reveal_type(net.Socket)
reveal_type(socket.close)
"""


def _venv_purelib(python: Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()


def test_mypy_finds_trionet_after_the_readmes_editable_install(tmp_path: Path) -> None:
    # A copy of the checkout: the install writes its link tree into build/,
    # and the checkout's own build/ serves the venv running this suite.
    checkout = tmp_path / "trionet"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)  # this pip installs into it: no ensurepip
    python = env / "bin" / "python"
    # The new venv sees this one's packages (trio, setuptools...), so the
    # install below needs no package index: the suite sends nothing off the
    # machine. trionet itself is still installed as the README says.
    (Path(_venv_purelib(python)) / "suite.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-build-isolation",
            "--no-deps",
            "-e",
            str(checkout),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    user = tmp_path / "user"
    user.mkdir()
    (user / "app.py").write_text(USER_FILE)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-executable", str(python), "app.py"],
        cwd=user,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    assert 'app.py:4: note: Revealed type is "def (*, fd: int | None' in done.stdout
    assert 'app.py:5: note: Revealed type is "def (fd: int)"' in done.stdout
