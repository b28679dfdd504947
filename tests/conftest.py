"""Session-wide checks: no test may leak an fd or emit a ResourceWarning.

``filterwarnings = error`` turns a ``ResourceWarning`` (raised from a
finalizer, so reported as an unraisable exception) into a failure; the
fixture below collects garbage after each test so such finalizers run while
the test is still the one to blame, then compares the process's open fds.
That fixture is the ``trionet.testing`` plugin's ``trionet_no_leaks``.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any

import _no_dns
import pytest
import trio
from _fds import IP_KINDS, Fds, Owned, skip_without_broadcast

from trionet._core import _readiness
from trionet.testing import VirtualNetwork

# A hung trio test fails alone instead of breaking the run for the next one.
pytest_plugins = ["_hangs"]


_no_dns.install()


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
def yield_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget of one: every fd-level call that succeeds at once yields too.

    ``net.Stream`` and a ``net.Socket``'s stream methods yield as the fd
    level does, once per 32 successful calls (see ``trionet._net_pull``);
    trio's checks assert a schedule point in every call, which this makes
    true without changing anything else.
    """
    monkeypatch.setattr(_readiness, "_BUDGET", 1)


@pytest.fixture
def broadcast_on_lo() -> None:
    """Skip unless the kernel routes the loopback broadcast address."""
    skip_without_broadcast()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trionet virtual network")
    group.addoption(
        "--vnet-fraction",
        action="store_true",
        help="print how many net, Tcp and TLS tests run on both networks (with --collect-only)",
    )
    group.addoption(
        "--vnet-probe",
        action="store_true",
        help="run every async test on the virtual network only, LOOPBACK_ONLY included",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module with ``OVER_VNET = True`` runs each async test on loopback and on a virtual network.

    Tests named in the module's ``LOOPBACK_ONLY`` (with the reason) run on loopback only.
    """
    if not inspect.iscoroutinefunction(metafunc.function):
        return
    if metafunc.config.getoption("vnet_probe"):
        metafunc.fixturenames.append("network")
        metafunc.parametrize("network", ["vnet"])
        return
    if not getattr(metafunc.module, "OVER_VNET", False):
        return
    if metafunc.function.__name__ in getattr(metafunc.module, "LOOPBACK_ONLY", {}):
        return
    metafunc.fixturenames.append("network")
    metafunc.parametrize("network", ["loopback", "vnet"])


# The modules whose share of tests on both networks issue 20 asks for.
_NET_MODULES = re.compile(r"test_net_\w+\.py|test_tcp\.py|test_tcp_tls\.py")
_NETWORK_ID = re.compile(r"(?<=\[)(loopback|vnet)(-|(?=\]))|-(loopback|vnet)(?=[-\]])")


def pytest_collection_finish(session: pytest.Session) -> None:
    """``--vnet-fraction``: the tests of the net, Tcp and TLS modules that run on both networks."""
    if not session.config.getoption("vnet_fraction"):
        return
    tests: dict[str, set[str]] = {}
    both: dict[str, set[str]] = {}
    for item in session.items:
        if not _NET_MODULES.fullmatch(item.path.name):
            continue
        callspec = getattr(item, "callspec", None)
        params = {} if callspec is None else callspec.params
        # The test without its network: its id less the "loopback"/"vnet" part.
        key = _NETWORK_ID.sub("", item.nodeid, count=1)
        tests.setdefault(item.path.name, set()).add(key)
        if "network" in params:
            both.setdefault(item.path.name, set()).add(key)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    total = sum(len(keys) for keys in tests.values())
    on_both = sum(len(keys) for keys in both.values())
    for name in sorted(tests):
        reporter.write_line(f"{name}: {len(both.get(name, ()))} of {len(tests[name])}")
    share = on_both / total if total else 0.0
    reporter.write_line(f"on both networks: {on_both} of {total} tests ({share:.0%})")


# The real sockets opened while a test's vnet half runs: there must be none.
_real_sockets: list[tuple[object, ...]] | None = None


# The real sockets the tests watching with ``real_sockets`` opened.
_watched: list[list[tuple[object, ...]]] = []


def _opened_by_trio_itself() -> bool:
    """Whether the socket being made is a trio run's own wake-up socketpair.

    A ``trionet.task``'s ``trio.run`` makes one, inside the block too.
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith("_wakeup_socketpair.py"):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Family -1 means a fileno was given: an existing fd is wrapped (trionet
    # probing a number it does not know), nothing is opened.
    if event != "socket.__new__" or args[1] == -1:
        return
    if (_real_sockets is not None or _watched) and not _opened_by_trio_itself():
        if _real_sockets is not None:
            _real_sockets.append(args)
        for opened in _watched:
            opened.append(args[1:])


sys.addaudithook(_audit)  # hooks cannot be removed; it records only inside a vnet run


@pytest.fixture
def real_sockets() -> Iterator[list[tuple[object, ...]]]:
    """The real sockets opened while the test runs (``socket.__new__``), bar trio's wake-ups."""
    opened: list[tuple[object, ...]] = []
    _watched.append(opened)
    try:
        yield opened
    finally:
        _watched.remove(opened)


def _run_in_vnet(async_fn: Callable[[], Awaitable[object]], **run_options: Any) -> object:
    """pytest-trio's ``run``: the whole trio run (fixtures and test) inside a ``VirtualNetwork``.

    pytest-trio runs the async fixtures and the test in one context, taken
    inside the block, so every socket they open is virtual. A real one
    fails the test (trio's own wake-up socketpair is made before the block).
    """
    global _real_sockets

    async def main() -> object:
        global _real_sockets
        async with VirtualNetwork(seed=0):
            _real_sockets = []
            try:
                return await async_fn()
            finally:
                opened, _real_sockets = _real_sockets, None
                if opened:
                    raise AssertionError(f"real sockets opened on the virtual network: {opened}")

    try:
        return trio.run(main, **run_options)
    finally:
        _real_sockets = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """With ``TRIONET_NO_SKIPS=1`` (``.ci/run`` sets it) a skipped test fails, with its reason.

    The few skips left (``tests/_netns.py``, ``broadcast_on_lo``) are for a
    machine that cannot run the test; CI must not be one.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("TRIONET_NO_SKIPS") == "1":
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, and TRIONET_NO_SKIPS=1 allows no skip: {reason}"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """The ``vnet`` half of an ``OVER_VNET`` test runs its body inside a ``VirtualNetwork``.

    Fixtures run outside it (pytest-trio gives each its own task), so the
    modules that opt in build their peers inside the test.
    """
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("network") == "vnet":
        item.add_marker(pytest.mark.trio(run=_run_in_vnet), append=False)
    yield
