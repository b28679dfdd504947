"""Session-wide checks: no test may leak an fd or emit a ResourceWarning.

``filterwarnings = error`` turns a ``ResourceWarning`` (raised from a
finalizer, so reported as an unraisable exception) into a failure; the
fixture below collects garbage after each test so such finalizers run while
the test is still the one to blame, then compares the process's open fds.
That fixture is the ``trionet.testing`` plugin's ``trionet_no_leaks``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any

import pytest
from _fds import IP_KINDS, Fds, Owned, skip_without_broadcast

from trionet.testing import VirtualNetwork

# A hung trio test fails alone instead of breaking the run for the next one.
pytest_plugins = ["_hangs"]


@pytest.fixture(autouse=True)
def _no_leaked_fds(trionet_no_leaks: None) -> None:
    """Every test of ours gets the ``trionet.testing`` plugin's fd-leak check."""


@pytest.fixture
def fds() -> Iterator[Fds]:
    """Sockets opened through it are closed when the test ends."""
    opened = Fds()
    try:
        yield opened
    finally:
        opened.close_all()


@pytest.fixture(params=list(IP_KINDS))
def ip_kind(request: pytest.FixtureRequest) -> str:
    """Each test runs over IPv4 and over IPv6."""
    return str(request.param)


@pytest.fixture
def owned() -> Iterator[Owned]:
    """``Tcp`` / ``Udp`` objects passed through it are closed when the test ends."""
    keep = Owned()
    try:
        yield keep
    finally:
        keep.close_all()


@pytest.fixture
def broadcast_on_lo() -> None:
    """Skip unless the kernel routes the loopback broadcast address."""
    skip_without_broadcast()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``OVER_VNET = True`` runs each async test on loopback and on a virtual network.

    Tests named in the module's ``LOOPBACK_ONLY`` (with the reason) run on loopback only.
    """
    if not getattr(metafunc.module, "OVER_VNET", False):
        return
    if not inspect.iscoroutinefunction(metafunc.function):
        return
    if metafunc.function.__name__ in getattr(metafunc.module, "LOOPBACK_ONLY", {}):
        return
    metafunc.fixturenames.append("network")
    metafunc.parametrize("network", ["loopback", "vnet"])


def _in_vnet(test: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
    @functools.wraps(test)
    async def wrapper(**kwargs: Any) -> object:
        async with VirtualNetwork(seed=0):
            return await test(**kwargs)

    return wrapper


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """The ``vnet`` half of an ``OVER_VNET`` test runs its body inside a ``VirtualNetwork``.

    Fixtures run outside it (pytest-trio gives each its own task), so the
    modules that opt in build their peers inside the test.
    """
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("network") == "vnet":
        function = item  # a pytest.Function: it has obj
        function.obj = _in_vnet(function.obj)  # type: ignore[attr-defined]
    yield
