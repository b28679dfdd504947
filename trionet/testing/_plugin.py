"""trionet's pytest plugin, loaded by pytest through the ``pytest11`` entry point.

Only pytest imports this module, so only here may pytest be imported: the
helpers it wraps live in modules that work without it. The fd-leak check is
opt-in, per test through the ``trionet_no_leaks`` fixture or for a whole
suite through the ``trionet_leak_check`` ini option, because a plugin that
fails every test of every project that happens to have trionet installed
would be a rude one.

Every fixture is named ``trionet_*``, so none clashes with another plugin's
(anyio, which httpx brings, has its own ``free_tcp_port``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from .._core._constants import SOCK_DGRAM, SOCK_STREAM
from .._net_address import AddressInfo
from .._net_socket import Socket
from .._vnet_network import VirtualNetwork
from ._fds import fd_leak_check
from ._pair import TlsPair, socket_pair
from ._servers import free_port, serve_echo

_INI = "trionet_leak_check"
_EXEMPT = "trionet_allow_leaks"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``trionet_leak_check`` ini option."""
    parser.addini(
        _INI,
        "check every test for leaked fds, as the trionet_no_leaks fixture does",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``trionet_allow_leaks`` marker."""
    config.addinivalue_line(
        "markers", f"{_EXEMPT}: skip the fd-leak check that {_INI} = true turns on"
    )


@pytest.fixture
def trionet_no_leaks() -> Iterator[None]:
    """Fail the test if it leaves open an fd that was not open before it.

    When the fds after the test differ from those before it, garbage is
    collected and they are counted again, so a socket dropped without
    ``close()`` is finalized while its test is still the one to blame; a test
    that leaked nothing pays for no collection. The failure names each leaked
    fd with its ``/proc/self/fd`` target. Fixtures set up after this one are
    torn down before it checks; an fd opened for the whole session during
    the test (a lazily made cache, a session fixture first used here) counts
    as leaked, so open such things before the first checked test.
    """
    leaked: AssertionError | None = None
    try:
        with fd_leak_check():
            yield
    except AssertionError as exc:
        leaked = exc
    # Failing outside the handler keeps the report to one line, with no
    # "during handling of the above exception" chain.
    if leaked is not None:
        pytest.fail(f"the test {leaked}", pytrace=False)


@pytest.fixture(autouse=True)
def _trionet_leak_check_if_configured(request: pytest.FixtureRequest) -> None:
    # Autouse fixtures are set up first, so the check's "before" comes
    # before every other function-scoped fixture opens anything.
    if request.config.getini(_INI) and request.node.get_closest_marker(_EXEMPT) is None:
        request.getfixturevalue("trionet_no_leaks")


@pytest.fixture
async def trionet_echo_server() -> AsyncIterator[AddressInfo]:
    """A ``trionet.net`` echo server on a free ``127.0.0.1`` port (an ``AddressInfo``).

    Each connection writes back what it receives and ends when its peer
    ends; connections still open when the test ends are destroyed. An
    async fixture: the test must be a trio test (pytest-trio).
    """
    async with serve_echo() as address:
        yield address


@pytest.fixture
def trionet_free_tcp_port() -> int:
    """A TCP port that was free on ``127.0.0.1`` a moment ago (see ``free_port``)."""
    return free_port(type=SOCK_STREAM)


@pytest.fixture
def trionet_free_udp_port() -> int:
    """A UDP port that was free on ``127.0.0.1`` a moment ago (see ``free_port``)."""
    return free_port(type=SOCK_DGRAM)


@pytest.fixture
def trionet_tls() -> TlsPair:
    """A ``trustme`` CA and the ``TlsOptions`` of a server and a client that use it.

    ``trionet_tls.server`` is ``tls=`` for a server on ``127.0.0.1`` (its
    certificate names ``localhost``, ``127.0.0.1`` and ``::1``);
    ``trionet_tls.client`` is ``tls=`` for ``net.connect``, trusting the CA
    and checking the name ``localhost``. Needs ``trustme`` (the test extra).
    """
    trustme = pytest.importorskip("trustme")
    return TlsPair.from_ca(trustme.CA())


@pytest.fixture
async def trionet_socket_pair() -> AsyncIterator[tuple[Socket, Socket]]:
    """A connected ``(client, server)`` pair of ``net.Socket``s (``testing.socket_pair()``).

    An async fixture: the test must be a trio test (pytest-trio).
    """
    async with socket_pair() as pair:
        yield pair


@pytest.fixture
async def trionet_vnet() -> AsyncIterator[VirtualNetwork]:
    """A ``VirtualNetwork(seed=0)`` entered for the test: every socket in it is virtual."""
    async with VirtualNetwork(seed=0) as vnet:
        yield vnet
