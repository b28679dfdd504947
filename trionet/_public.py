"""Public names report their public module, as trio's do.

Every class and function is written in a private module (``trionet._tcp``)
and re-exported by a public one (``trionet.tcp``). Left alone, its
``__module__`` names the private module, so a traceback, ``repr()``, pydoc
and pickle show ``trionet._core._timeout.Timeout`` where users know
``trionet.Timeout``, and a pickle made today breaks when issue 17 moves the
code to another private module. Each public module therefore ends with
``_publish(__name__, globals())``, which is trio's
``trio._util.fixup_module_metadata``: the ``__module__`` of each public
name defined in a private module becomes the public module's, and so do
the methods and nested classes of a class.

``__name__`` and ``__qualname__`` stay as they are: every public name is
exported under the name it was defined with (``tests/test_public_names.py``
checks that, and that each pickles by reference). A name exported by two
public modules keeps the first that published it. So that this does not
depend on what a program imports first, a module that shares names with
another names it in ``after=`` and that one publishes first:
``trionet.compat.socket`` shares the fd level's plain calls with
``trionet.socket`` (they report ``trionet.socket``), ``trionet.dtls`` shares
``TlsOptions`` with ``trionet.net``. ``trionet`` itself is always first,
since importing any submodule imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["is_private_module", "publish"]


def is_private_module(name: str) -> bool:
    """Whether a dotted module name has a private part (``trionet._tcp``)."""
    return any(part.startswith("_") for part in name.split("."))


def publish(module_name: str, namespace: dict[str, Any], after: str | None = None) -> None:
    """Give the public names of ``namespace`` the ``__module__`` ``module_name``.

    ``after``: a public module that shares names with this one and keeps them.
    """
    if after is not None:
        importlib.import_module(after)  # it publishes as it is imported
    names = namespace.get("__all__")
    if names is None:
        names = [name for name in namespace if not name.startswith("_")]
    seen: set[int] = set()

    def fix(obj: object) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        module = getattr(obj, "__module__", None)
        # Only trionet's own private modules: never the stdlib's or typing's.
        if not isinstance(module, str) or not module.startswith("trionet."):
            return
        if not is_private_module(module):
            return
        try:
            obj.__module__ = module_name
        except (AttributeError, TypeError):  # a read-only one (an alias's)
            return
        if isinstance(obj, type):
            for member in vars(obj).values():
                fix(getattr(member, "__func__", member))  # classmethod/staticmethod
                if isinstance(member, property):
                    for accessor in (member.fget, member.fset, member.fdel):
                        if accessor is not None:
                            fix(accessor)

    for name in names:
        fix(namespace[name])
