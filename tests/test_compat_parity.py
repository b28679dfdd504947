"""SPEC section 5: every ``trionet.compat`` module is the sync twin of its async module.

A mechanical check, as httpx makes of its sync and async clients: for each
public name of the async module, the compat module has the same name.

- A blocking name (a coroutine function, or a function returning an async
  context manager or iterator) has a plain sync twin with the same
  parameters (names, kinds, defaults, annotations), the return annotation
  of what the async one gives once awaited (or entered, or iterated), and
  a docstring naming the same JSRE equivalent.
- A class that differs is checked member by member the same way, its
  ``__aenter__`` / ``__aexit__`` against ``__enter__`` / ``__exit__``.
- Any other name is the very same object: one implementation, not a copy.

Compat modules still being written are checked as soon as they exist;
:func:`test_every_compat_module_is_checked` makes sure none is forgotten.
"""

from __future__ import annotations
import __future__

import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager

import pytest
import trionet.compat

# (async module, its sync twin); the twins not yet written are picked up when they exist.
TWINS = [
    ("trionet.socket", "trionet.compat.socket"),
    ("trionet.tcp", "trionet.compat.tcp"),
    ("trionet.udp", "trionet.compat.udp"),
    ("trionet.task", "trionet.compat.task"),
]

# compat modules without an async twin, and why.
SYNC_ONLY = {"iosched": "JSRE's callback mode (SPEC section 5); async code has trio"}

# SPEC section 5: the callback forms only the sync API has, as extra
# keyword-only parameters with defaults (the async call forms still work);
# a callback form may return None.
SYNC_ONLY_PARAMETERS = {
    "trionet.tcp.Tcp.create_client": {"callback"},
    "trionet.tcp.Tcp.accept": {"callback"},
}

# trio's start protocol (``nursery.start``) has no meaning without a nursery.
TRIO_ONLY_PARAMETERS = {"task_status"}

ASYNC_PROTOCOL = {"__aenter__": "__enter__", "__aexit__": "__exit__"}

# What an async return annotation becomes in the sync twin.
SYNC_RETURN = [
    (re.compile(r"^(?:typing\.)?Awaitable\[(.*)\]$"), r"\1"),
    (re.compile(r"^(?:typing\.)?Coroutine\[[^,]+, [^,]+, (.*)\]$"), r"\1"),
    (
        re.compile(r"^(?:contextlib\.)?AbstractAsyncContextManager\[(.*)\]$"),
        r"AbstractContextManager[\1]",
    ),
    (re.compile(r"^(?:typing\.)?AsyncContextManager\[(.*)\]$"), r"ContextManager[\1]"),
    (re.compile(r"^(?:typing\.)?AsyncIterator\[(.*)\]$"), r"Iterator[\1]"),
    (re.compile(r"^(?:typing\.)?AsyncGenerator\[(.*)\]$"), r"Generator[\1]"),
]

CHECKED = [
    pytest.param(async_name, sync_name, id=sync_name)
    for async_name, sync_name in TWINS
    if importlib.util.find_spec(sync_name) is not None
]


def public_names(obj: object) -> list[str]:
    """The names of ``obj`` that make its API (not ``from __future__`` features)."""
    names = getattr(obj, "__all__", None)
    if names is None:
        names = [name for name in dir(obj) if not name.startswith("_")]
        names = [
            name
            for name in names
            if not isinstance(getattr(obj, name), (__future__._Feature, types.ModuleType))
        ]
    if inspect.isclass(obj):
        names = [*names, *(name for name in ASYNC_PROTOCOL if hasattr(obj, name))]
    return sorted(names)


def annotation(value: object) -> str:
    if value is inspect.Parameter.empty or value is inspect.Signature.empty:
        return "<none>"
    return value if isinstance(value, str) else inspect.formatannotation(value)


def sync_return(async_annotation: str) -> str:
    for pattern, replacement in SYNC_RETURN:
        if pattern.match(async_annotation):
            return pattern.sub(replacement, async_annotation)
    return async_annotation


def is_blocking(obj: object) -> bool:
    """A coroutine function, or a plain one whose result is used with ``async``."""
    function = inspect.unwrap(obj) if callable(obj) else obj
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        return True
    if not inspect.isfunction(function) and not inspect.ismethod(function):
        return False
    returned = annotation(inspect.signature(function).return_annotation)
    return sync_return(returned) != returned


def jsre_equivalent(doc: str | None) -> str | None:
    """The JSRE call a docstring names: the first ``code`` after "JSRE", up to its "(".

    Only the name is compared: docstrings may spell the arguments
    differently (``tcp.accept(timeout)``, ``tcp.accept(remoteAddr, timeout)``).
    """
    found = re.search(r"JSRE.*?``([^`(]+)", doc or "", re.DOTALL)
    return found.group(1) if found else None


def static_kind(owner: object, name: str) -> str:
    """How ``name`` is defined on a class: a classmethod, a property, ..."""
    if not inspect.isclass(owner):
        return "module attribute"
    return type(inspect.getattr_static(owner, name)).__name__


def signature(obj: object) -> inspect.Signature | None:
    """``obj``'s signature, or ``None`` for what has none (a C type's ``__init__``)."""
    try:
        return inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def signature_problems(async_obj: object, sync_obj: object, where: str) -> Iterator[str]:
    async_sig, sync_sig = signature(async_obj), signature(sync_obj)
    if async_sig is None or sync_sig is None:
        if async_sig is not sync_sig:
            yield f"{where}: only one of the twins has a signature to compare"
        return
    wanted = [
        (p.name, p.kind, p.default, annotation(p.annotation))
        for p in async_sig.parameters.values()
        if p.name not in TRIO_ONLY_PARAMETERS
    ]
    extra = SYNC_ONLY_PARAMETERS.get(where, set()) & set(sync_sig.parameters)
    got = [
        (p.name, p.kind, p.default, annotation(p.annotation))
        for p in sync_sig.parameters.values()
        if not (
            p.name in extra
            and p.kind is inspect.Parameter.KEYWORD_ONLY
            and p.default is not inspect.Parameter.empty
        )
    ]
    if got != wanted:
        yield f"{where}: parameters {sync_sig} differ from the async {async_sig}"
    returned = annotation(async_sig.return_annotation)
    if is_blocking(async_obj):
        returned = sync_return(returned)
    # A callback form returns before there is a result.
    allowed = {returned, f"{returned} | None"} if extra else {returned}
    if annotation(sync_sig.return_annotation) not in allowed:
        yield (
            f"{where}: returns {annotation(sync_sig.return_annotation)!r}, "
            f"the async twin {returned!r} (once awaited)"
        )


def blocking_problems(async_obj: object, sync_obj: object, where: str) -> Iterator[str]:
    if is_blocking(sync_obj):
        yield f"{where}: the compat twin is async too"
        return
    if not callable(sync_obj):
        yield f"{where}: the compat twin is not callable"
        return
    yield from signature_problems(async_obj, sync_obj, where)
    sync_doc = inspect.getdoc(sync_obj)
    async_doc = inspect.getdoc(async_obj)
    if async_doc and not sync_doc:
        yield f"{where}: the compat twin has no docstring"
    wanted = jsre_equivalent(async_doc)
    if wanted is not None and jsre_equivalent(sync_doc) != wanted:
        yield f"{where}: the compat docstring does not name the JSRE equivalent ``{wanted}``"


def returns_a_twin(function: object, async_owner: object, sync_owner: object) -> bool:
    """Whether ``function`` returns a class of ``async_owner`` whose sync twin differs."""
    found = signature(function)
    if found is None:
        return False
    for name in re.findall(r"\w+", annotation(found.return_annotation)):
        async_class = getattr(async_owner, name, None)
        sync_class = getattr(sync_owner, name, None)
        if inspect.isclass(async_class) and inspect.isclass(sync_class):
            return async_class is not sync_class
    return False


def twin_problems(async_owner: object, sync_owner: object, where: str) -> Iterator[str]:
    """Every way ``sync_owner`` (a module or class) fails to be ``async_owner``'s twin."""
    for name in public_names(async_owner):
        sync_name = ASYNC_PROTOCOL.get(name, name)
        path = f"{where}.{name}"
        if not hasattr(sync_owner, sync_name):
            yield f"{path}: missing from the compat twin (as {sync_name})"
            continue
        async_obj = getattr(async_owner, name)
        sync_obj = getattr(sync_owner, sync_name)
        if async_obj is sync_obj:
            continue
        if static_kind(async_owner, name) != static_kind(sync_owner, sync_name):
            yield (
                f"{path}: a {static_kind(async_owner, name)}, "
                f"but a {static_kind(sync_owner, sync_name)} in the compat twin"
            )
        elif inspect.isclass(async_obj) and inspect.isclass(sync_obj):
            yield from signature_problems(async_obj, sync_obj, path)
            yield from twin_problems(async_obj, sync_obj, path)
        elif is_blocking(async_obj) or name in ASYNC_PROTOCOL:
            yield from blocking_problems(async_obj, sync_obj, path)
        elif callable(async_obj) and (
            inspect.isclass(async_owner) or returns_a_twin(async_obj, async_owner, sync_owner)
        ):
            # A method of a class with a sync twin, or a function returning
            # such a class (task.current): same call, same result.
            yield from signature_problems(async_obj, sync_obj, path)
        elif not (inspect.isclass(async_owner) and isinstance(async_obj, property)):
            yield f"{path}: not blocking, so it must be the very same object, not a copy"


def assert_sync_twin(async_obj: object, sync_obj: object) -> None:
    """Fail, listing every difference, unless ``sync_obj`` is ``async_obj``'s sync twin."""
    where = getattr(async_obj, "__name__", repr(async_obj))
    problems = list(twin_problems(async_obj, sync_obj, where))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("async_name", "sync_name"), CHECKED)
def test_the_compat_module_is_the_sync_twin(async_name: str, sync_name: str) -> None:
    assert_sync_twin(importlib.import_module(async_name), importlib.import_module(sync_name))


def test_every_compat_module_is_checked() -> None:
    public = {
        info.name
        for info in pkgutil.iter_modules(trionet.compat.__path__)
        if not info.name.startswith("_")
    }
    twinned = {sync_name.rpartition(".")[2] for _async, sync_name in TWINS}
    assert public - twinned - set(SYNC_ONLY) == set(), "add these to TWINS or SYNC_ONLY"
    assert "socket" in public  # the one twin that exists from the start


class TestTheCheckItself:
    """``assert_sync_twin`` passes a faithful twin and reports each kind of difference."""

    def test_accepts_a_faithful_twin(self) -> None:
        assert_sync_twin(made_up_async_module(), made_up_sync_module())

    @pytest.mark.parametrize(
        ("broken", "reported"),
        [
            ("missing", "fetch: missing from the compat twin"),
            ("renamed_parameter", "fetch: parameters"),
            ("other_default", "fetch: parameters"),
            ("positional_timeout", "fetch: parameters"),
            ("other_return", "fetch: returns 'int'"),
            ("still_async", "fetch: the compat twin is async too"),
            ("no_docstring", "fetch: the compat twin has no docstring"),
            ("other_jsre", "fetch: the compat docstring does not name"),
            ("copied_constant", "LIMIT: not blocking, so it must be the very same object"),
            ("copied_function", "shared: not blocking, so it must be the very same object"),
            ("current_with_argument", "current: parameters"),
            ("class_method_async", "Conn.peek: the compat twin is async too"),
            ("class_without_exit", "Conn.__aexit__: missing from the compat twin"),
            ("enter_returns_other", "Conn.__aenter__: returns 'int'"),
            ("context_manager", "open_conn: returns 'Conn'"),
        ],
    )
    def test_reports_each_difference(self, broken: str, reported: str) -> None:
        with pytest.raises(AssertionError, match=re.escape(reported)):
            assert_sync_twin(made_up_async_module(), made_up_sync_module(broken))


LIMIT = 5
REPLACED_FETCH = [
    "renamed_parameter",
    "other_default",
    "positional_timeout",
    "other_return",
    "still_async",
    "other_jsre",
]
JSRE_DOC = "Do it. JSRE equivalent: ``socket.recv(fd)``."


def shared(x: int) -> int:
    """Not blocking: the twin must be this very function."""
    return x


def made_up_async_module() -> types.ModuleType:
    async def fetch(fd: int, max_bytes: int = 8, *, timeout: float | None = None) -> bytes:
        return b""

    fetch.__doc__ = JSRE_DOC

    class Conn:
        """A connection."""

        async def peek(self, *, timeout: float | None = None) -> bytes:
            """Peek."""
            return b""

        def fileno(self) -> int:
            """Not blocking."""
            return 0

        async def __aenter__(self) -> Conn:
            return self

        async def __aexit__(self, *exc_info: object) -> None:
            return None

    def open_conn(fd: int) -> AbstractAsyncContextManager[Conn]:
        """Open one."""
        raise NotImplementedError

    def current() -> Conn:
        """Not blocking, but returns the class that has a sync twin."""
        raise NotImplementedError

    return made_up_module(
        "made_up",
        fetch=fetch,
        Conn=Conn,
        open_conn=open_conn,
        current=current,
        shared=shared,
        LIMIT=LIMIT,
    )


def made_up_sync_module(broken: str = "") -> types.ModuleType:
    """The faithful sync twin of :func:`made_up_async_module`, or one with ``broken`` wrong."""

    def fetch(fd: int, max_bytes: int = 8, *, timeout: float | None = None) -> bytes:
        return b""

    def renamed_parameter(fd: int, size: int = 8, *, timeout: float | None = None) -> bytes:
        return b""

    def other_default(fd: int, max_bytes: int = 9, *, timeout: float | None = None) -> bytes:
        return b""

    def positional_timeout(fd: int, max_bytes: int = 8, timeout: float | None = None) -> bytes:
        return b""

    def other_return(fd: int, max_bytes: int = 8, *, timeout: float | None = None) -> int:
        return 0

    async def still_async(fd: int, max_bytes: int = 8, *, timeout: float | None = None) -> bytes:
        return b""

    def other_jsre(fd: int, max_bytes: int = 8, *, timeout: float | None = None) -> bytes:
        """JSRE equivalent: ``socket.recvfrom(fd)``."""
        return b""

    for function in (fetch, renamed_parameter, other_default, positional_timeout, other_return):
        function.__doc__ = JSRE_DOC
    still_async.__doc__ = JSRE_DOC

    class Conn:
        """A connection, blocking."""

        def peek(self, *, timeout: float | None = None) -> bytes:
            """Peek, blocking."""
            return b""

        def fileno(self) -> int:
            """Not blocking."""
            return 0

        def __enter__(self) -> Conn:
            return self

        def __exit__(self, *exc_info: object) -> None:
            return None

    def open_conn(fd: int) -> AbstractContextManager[Conn]:
        """Open one, blocking."""
        raise NotImplementedError

    def current() -> Conn:
        """The sync twin's own: it returns the sync ``Conn``."""
        raise NotImplementedError

    def copied(x: int) -> int:
        return x

    def current_with_argument(x: int) -> Conn:
        raise NotImplementedError

    names: dict[str, object] = {
        "fetch": fetch,
        "Conn": Conn,
        "open_conn": open_conn,
        "current": current,
        "shared": shared,
        "LIMIT": LIMIT,
    }
    if broken == "missing":
        del names["fetch"]
    elif broken in REPLACED_FETCH:
        names["fetch"] = locals()[broken]
    elif broken == "no_docstring":
        fetch.__doc__ = None
    elif broken == "copied_constant":
        names["LIMIT"] = float(LIMIT)
    elif broken == "copied_function":
        names["shared"] = copied
    elif broken == "current_with_argument":
        names["current"] = current_with_argument
    elif broken == "class_method_async":
        Conn.peek = made_up_async_module().Conn.peek  # type: ignore[method-assign]
    elif broken == "class_without_exit":
        del Conn.__exit__
    elif broken == "enter_returns_other":
        Conn.__enter__ = copied  # type: ignore[assignment,method-assign]
    elif broken == "context_manager":

        def open_conn_wrong(fd: int) -> Conn:
            """Open one, blocking."""
            raise NotImplementedError

        names["open_conn"] = open_conn_wrong
    return made_up_module("made_up_sync", **names)


def made_up_module(name: str, **names: object) -> types.ModuleType:
    module = types.ModuleType(name)
    vars(module).update(names)
    return module
