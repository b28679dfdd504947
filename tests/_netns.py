"""Run an async test body in a network namespace of its own, whose ``lo`` carries multicast.

Linux's ``lo`` lacks ``IFF_MULTICAST`` and the kernel gives it no IPv6
multicast route, so ``sendto`` an IPv6 group through it fails with
``ENETUNREACH``. Turning the flag on and adding the route on the host's own
``lo`` would change the machine under everything else running on it. A new
network namespace (``unshare --net``) has a ``lo`` of its own, down and
without addresses: the child process started here brings it up with
``IFF_MULTICAST``, adds ``ff00::/8`` to the local table (iproute2), and only
then imports the test module and runs the body under ``trio.run``.

The route is of type ``local``: the kernel turns any other route through
``lo`` into a reject route that drops what it carries without an error
(``net/ipv6/route.c``, "We cannot add true routes via loopback here"; the
send succeeds and ``Ip6OutNoRoutes`` counts the drop). A ``local`` one
loops the datagram back through ``lo``, and UDP then delivers it only to
the sockets that joined the group, as on any multicast interface.

Nothing in such a namespace can reach beyond it: it has no interface but
its ``lo``.

Root gets the namespace directly; anyone else through a user namespace
that maps them to root (``--map-root-user``), where the kernel allows one.
Where neither works the test is skipped with ``unshare``'s own message;
``.ci/run`` fails the run on any skip, so CI cannot be such a machine.

Run as a program (``python _netns.py MODULE FUNCTION``) this file is the
child: it expects to be inside the new namespace already.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest
import trio

from trionet.testing import fd_leak_check

_UNSHARE = (
    ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--net"]
)

# iproute2's commands that give the namespace's lo IPv6 multicast (see the top).
_SET_UP_LO = (
    ["ip", "link", "set", "lo", "up", "multicast", "on"],
    ["ip", "-6", "route", "add", "local", "ff00::/8", "dev", "lo", "table", "local"],
)

# Well under pytest-timeout's 60 s, so a hung child fails its own test with its output.
_CHILD_TIMEOUT = 30


def skip_without_namespaces() -> None:
    """Skip unless this process may make a network namespace; fail if iproute2 is missing.

    Call it from a sync fixture: pytest-trio drops the reason of a
    ``pytest.skip`` raised inside the trio run.
    """
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) (util-linux) to make a network namespace")
    probe = subprocess.run(
        [*_UNSHARE, "true"], capture_output=True, text=True, timeout=_CHILD_TIMEOUT, check=False
    )
    if probe.returncode != 0:
        pytest.skip(
            f"cannot make a network namespace: {' '.join(_UNSHARE)}: {probe.stderr.strip()}"
        )
    if shutil.which("ip") is None:
        pytest.fail("the multicast namespace needs ip(8): install iproute2 (.ci/run does)")


def run_in_own_network(body: Callable[[], Awaitable[object]]) -> None:
    """Run the module-level async function ``body`` in a child inside a fresh network namespace.

    The child's traceback, if any, becomes the failure's message.
    """
    child = subprocess.run(
        [*_UNSHARE, sys.executable, "-W", "error", __file__, body.__module__, body.__qualname__],
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT,
        check=False,
    )
    if child.returncode != 0:
        pytest.fail(
            f"{body.__qualname__} failed in its network namespace "
            f"(exit {child.returncode}):\n{child.stdout}{child.stderr}",
            pytrace=False,
        )


def _main(module: str, function: str) -> None:
    for command in _SET_UP_LO:
        subprocess.run(command, check=True, timeout=_CHILD_TIMEOUT)
    body = getattr(importlib.import_module(module), function)
    # The guards conftest gives every test in the parent: no fd leaked, and
    # no ResourceWarning, which -W error turns into an exception that a
    # finalizer can only report to this hook.
    unraisable: list[str] = []
    sys.unraisablehook = lambda report: unraisable.append(
        f"{report.err_msg or 'Exception ignored in'}: {report.object!r}: {report.exc_value!r}"
    )
    with fd_leak_check():
        trio.run(body)
    assert not unraisable, "\n".join(unraisable)


if __name__ == "__main__":
    # Run as a file, its folder (tests/) is sys.path[0]: the test module imports.
    _main(*sys.argv[1:])
