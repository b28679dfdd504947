"""Public names print as public (``trionet._public``): tracebacks, repr, pickle.

Every class and function that a public module exports reports that module
as its ``__module__`` (or another public module that exports it, for a name
shared by two), is found there under its ``__qualname__``, and pickles by
reference. The mapping does not depend on which module is imported first.
"""

from __future__ import annotations

import importlib
import json
import pickle
import pkgutil
import subprocess
import sys
import traceback
from types import ModuleType

import pytest
import trionet.compat

import trionet
from trionet._public import is_private_module


def _public_modules() -> list[str]:
    found = ["trionet", "trionet.compat"]
    for package in (trionet, trionet.compat):
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            if not is_private_module(info.name) and info.name not in found:
                found.append(info.name)
    return sorted(found)


PUBLIC_MODULES = _public_modules()


def _exported(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return list(names)


def _ours() -> list[tuple[str, str, object]]:
    """``(module, name, object)`` for each exported class or function of trionet's."""
    found = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in _exported(module):
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                owner = getattr(obj, "__module__", None)
                if isinstance(owner, str) and owner.startswith("trionet"):
                    found.append((module_name, name, obj))
    return found


OURS = _ours()


def test_the_public_modules_are_found() -> None:
    assert {"trionet", "trionet.net", "trionet.socket", "trionet.compat.tcp"} <= set(PUBLIC_MODULES)
    assert len(OURS) > 100


@pytest.mark.parametrize(("module_name", "name", "obj"), OURS, ids=lambda v: str(v)[:40])
def test_each_public_name_reports_a_public_module_that_exports_it(
    module_name: str, name: str, obj: object
) -> None:
    owner = obj.__module__
    assert not is_private_module(owner), f"{module_name}.{name} says {owner}"
    assert owner in PUBLIC_MODULES
    found: object = importlib.import_module(owner)
    for part in obj.__qualname__.split("."):  # type: ignore[attr-defined]
        found = getattr(found, part)
    assert found is obj


@pytest.mark.parametrize(("module_name", "name", "obj"), OURS, ids=lambda v: str(v)[:40])
def test_each_public_class_and_function_pickles_by_reference(
    module_name: str, name: str, obj: object
) -> None:
    assert pickle.loads(pickle.dumps(obj)) is obj


def test_methods_of_a_public_class_report_its_module() -> None:
    from trionet.tcp import Tcp

    assert Tcp.create_client.__module__ == "trionet.tcp"
    assert trionet.SockAddr.__repr__.__module__ == "trionet"


def test_a_traceback_names_timeout_as_users_know_it() -> None:
    error = trionet.Timeout("recv timed out")
    [line] = traceback.format_exception_only(error)
    assert line == "trionet.Timeout: [Errno 110] recv timed out\n"  # ETIMEDOUT
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is trionet.Timeout
    assert str(again) == str(error)
    assert repr(trionet.Timeout) == "<class 'trionet.Timeout'>"


_MAP = """
import importlib, json, sys
found = {}
for module_name in sys.argv[1:]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        owner = getattr(getattr(module, name), "__module__", None)
        if isinstance(owner, str) and owner.startswith("trionet"):
            found[module_name + "." + name] = owner
print(json.dumps(found))
"""


def test_the_modules_do_not_depend_on_the_import_order() -> None:
    def mapping(order: list[str]) -> dict[str, str]:
        done = subprocess.run(
            [sys.executable, "-c", _MAP, *order],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result: dict[str, str] = json.loads(done.stdout)
        return result

    assert mapping(PUBLIC_MODULES) == mapping(PUBLIC_MODULES[::-1])
