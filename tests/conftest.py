"""Session-wide checks: no test may leak an fd or emit a ResourceWarning.

``filterwarnings = error`` turns a ``ResourceWarning`` (raised from a
finalizer, so reported as an unraisable exception) into a failure; the
fixture below collects garbage after each test so such finalizers run while
the test is still the one to blame, then compares the process's open fds.
That fixture is the ``trionet.testing`` plugin's ``trionet_no_leaks``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _fds import IP_KINDS, Fds, Owned, skip_without_broadcast

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
