"""Ports for tests without races against other programs on the machine.

A port found free by binding port 0 and closing again may be taken by
anyone before the test uses it (``bench/port_churn.py`` shows it happening).
So the suite never does that:

- a test that needs a connect refused holds the port with a bound socket
  that does not listen: the kernel answers RST, and nobody else can take
  the port meanwhile (``refusing_port``, ``refusing_on_both_loopbacks``);
- a test that must bind a port it was given, or one that another socket has
  (IPv4 beside an IPv6-only socket), retries with a fresh port when the
  bind finds it in use (``retry_on_addr_in_use``);
- a test that needs a run of consecutive ports (``mports``) takes it below
  the ephemeral range (``quiet_port``), where no client's port can be.

Everything binds ``127.0.0.1`` or ``::1`` only.
"""

from __future__ import annotations

import contextlib
import errno
import random
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

from trionet import socket as s

T = TypeVar("T")

LOOPBACKS = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}

# Each attempt loses only to a program that takes the very port in the
# moment between two binds; twenty in a row do not happen.
ATTEMPTS = 20


def quiet_port(span: int = 1) -> int:
    """A random port that, with the ``span - 1`` after it, lies below the ephemeral range.

    Bind it inside ``retry_on_addr_in_use``. The ports after a system-chosen
    one are in the ephemeral range, where every client's connect takes its
    local port; after a busy benchmark on the machine, the closed ones stay
    in TIME_WAIT for a minute, tens of thousands of them, and a bind to any
    of them fails (measured: no run of 2 free consecutive ports after 20
    system-chosen ones). ``bench/port_churn.py`` sweeps that range too.
    Below it, only programs binding fixed ports compete.
    """
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    # 1024 and up need no privileges; the 10,000 ports under the range suffice.
    return random.randrange(max(1024, low - 10_000), low - span + 1)


def retry_on_addr_in_use(attempt: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """Call ``attempt()`` until it does not raise ``EADDRINUSE``; return its result.

    ``attempt`` must start from a fresh port (and close what it opened) each
    time; the last ``EADDRINUSE`` is raised if every attempt hits one.
    """
    for remaining in range(attempts - 1, -1, -1):
        try:
            return attempt()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or remaining == 0:
                raise
    raise AssertionError("unreachable")  # attempts < 1


async def aretry_on_addr_in_use(attempt: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """``retry_on_addr_in_use`` for an async ``attempt``."""
    for remaining in range(attempts - 1, -1, -1):
        try:
            return await attempt()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or remaining == 0:
                raise
    raise AssertionError("unreachable")  # attempts < 1


@contextlib.contextmanager
def hold_port(
    port: int, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
) -> Iterator[int]:
    """Bind ``port`` on the loopback of ``family`` (not listening) for the block; the fd.

    A TCP connect to it is refused while it is held. ``OSError``
    (``EADDRINUSE``) if someone has the port: use inside
    ``retry_on_addr_in_use``. A trionet fd, so virtual inside a
    ``VirtualNetwork``.
    """
    holder = s.socket(family, type)
    try:
        s.bind(holder, (LOOPBACKS[family], port))
        yield holder
    finally:
        s.close(holder)


@contextlib.contextmanager
def refusing_port(family: int = socket.AF_INET) -> Iterator[int]:
    """A TCP port on the loopback of ``family`` that refuses connects in the block."""
    with hold_port(0, family) as holder:
        yield s.sock_name(holder).port


@contextlib.contextmanager
def refusing_on_both_loopbacks() -> Iterator[int]:
    """A TCP port that refuses connects on ``127.0.0.1`` and ``::1`` alike."""
    stack = contextlib.ExitStack()

    def attempt() -> int:
        port = stack.enter_context(refusing_port(socket.AF_INET))
        try:
            stack.enter_context(hold_port(port, socket.AF_INET6))
        except OSError:
            stack.close()
            raise
        return port

    with stack:
        yield retry_on_addr_in_use(attempt)
