"""The suite resolves no name off this machine.

A name that is neither an address literal nor in ``/etc/hosts`` would send a
DNS query to the configured name server, which is not loopback: the fuzzing
in ``test_fuzz.py`` passes arbitrary text as host names. While the suite
runs, such a lookup fails at once with ``EAI_NONAME``, as an unknown name
does, and sends nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

REFUSAL = "Name or service not known (the test suite looks up no name off this machine)"


def _local_names() -> frozenset[str]:
    names = set()
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        names.update(line.partition("#")[0].split()[1:])
    return frozenset(name.lower() for name in names | {"localhost"})


_LOCAL = _local_names()
_real_getaddrinfo = socket.getaddrinfo


def _resolves_here(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str) or host == "":
        # The real call rejects these itself, without a query.
        return True
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host.lower() in _LOCAL
    return True


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if not _resolves_here(host):
        raise socket.gaierror(socket.EAI_NONAME, REFUSAL)
    return _real_getaddrinfo(host, port, *args, **kwargs)


def install() -> None:
    """Route every ``socket.getaddrinfo`` of this process through the guard."""
    socket.getaddrinfo = _getaddrinfo
