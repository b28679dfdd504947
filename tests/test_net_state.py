"""``_net_core``'s promise: a ``net.Socket``'s state is assigned in that module only.

The module docstring of ``trionet._net_core`` lists the state flags
(``STATE``) and says they change only by its plain methods. This scans the
source of every trionet module for an assignment to one of them outside
``_net_core.py``: in a method of a ``net.Socket`` class, or on any other
object (``sock._eof = True`` in a server). Another class's own attribute of
the same name (``self._closed`` of a ``Stream``) is its own business.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trionet._net_core import STATE, SocketCore

PACKAGE = Path(__file__).resolve().parents[1] / "trionet"
CORE = PACKAGE / "_net_core.py"


def _targets(node: ast.AST) -> Iterator[ast.expr]:
    if isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _unpacked(target)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        yield from _unpacked(node.target)


def _unpacked(target: ast.expr) -> Iterator[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        for item in target.elts:
            yield from _unpacked(item)
    elif isinstance(target, ast.Starred):
        yield from _unpacked(target.value)
    else:
        yield target


def state_writes(source: str, is_socket_class: Callable[[str], bool]) -> list[str]:
    """``line: name`` for each assignment of a state flag in ``source``."""
    found: list[str] = []

    def visit(node: ast.AST, socket_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, is_socket_class(child.name))
                continue
            for target in _targets(child):
                if not isinstance(target, ast.Attribute) or target.attr not in STATE:
                    continue
                own = isinstance(target.value, ast.Name) and target.value.id == "self"
                if socket_class or not own:
                    found.append(f"{target.lineno}: {ast.unparse(target)}")
            visit(child, socket_class)

    visit(ast.parse(source), False)
    return found


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path != CORE)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_but_net_core_assigns_socket_state(path: Path) -> None:
    module = importlib.import_module(_module_name(path))

    def is_socket_class(name: str) -> bool:
        found = getattr(module, name, None)
        return isinstance(found, type) and issubclass(found, SocketCore)

    assert state_writes(path.read_text(), is_socket_class) == []


def test_the_scan_finds_writes_in_socket_classes_and_on_other_objects() -> None:
    source = """
class Mixin(SocketCore):
    def pause(self):
        self._flowing = False
        self._eof, self._ended = True, True
        self._buffer_size += 1  # not state

class Other:
    def close(self):
        self._closed = True  # its own attribute

def serve(sock):
    sock._destroyed = True
    sock._error: object = None
"""
    found = state_writes(source, lambda name: name == "Mixin")
    assert found == [
        "4: self._flowing",
        "5: self._eof",
        "5: self._ended",
        "13: sock._destroyed",
        "14: sock._error",
    ]


def test_every_state_name_is_an_attribute_of_the_socket() -> None:
    # A misspelt name in STATE would make the scan pass without looking.
    assert set(STATE) <= set(SocketCore.__slots__)


def test_the_scan_sees_the_writes_of_net_core_itself() -> None:
    def is_socket_class(name: str) -> bool:
        return name == "SocketCore"

    written = {line.split(".", 1)[1] for line in state_writes(CORE.read_text(), is_socket_class)}
    assert written == set(STATE)
