"""Hosts of the virtual network: names, addresses and what is bound on each.

Every host has its own loopback (``127.0.0.0/8`` but the virtual range, ``::1``), its own ports
(per socket type and family) and its own Unix-domain paths. The host
``localhost`` has only the loopback, and talks to other hosts from
``127.77.255.254``; other hosts get addresses from ``127.77.0.0/16``.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from typing import Final, Protocol, final

__all__ = ["VIRTUAL_RANGE", "WILDCARDS", "Bindable", "Host", "is_loopback"]

_LOOPBACK_NET: Final = ipaddress.ip_network("127.0.0.0/8")
# Host addresses come from here, unless given (SPEC 9).
VIRTUAL_RANGE: Final = ipaddress.ip_network("127.77.0.0/16")
WILDCARDS: Final = frozenset({"0.0.0.0", "::", ""})
_EPHEMERAL_LOW: Final = 49152
_EPHEMERAL_HIGH: Final = 65535


def is_loopback(addr: str) -> bool:
    """Whether ``addr`` means "this host": ``::1``, or ``127.0.0.0/8`` outside the virtual range.

    Linux routes the whole of ``127.0.0.0/8`` to ``lo``, so ``127.0.0.2`` is
    as much the host's own as ``127.0.0.1``; ``127.77.0.0/16`` names hosts.
    """
    if addr == "::1":
        return True
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return ip.version == 4 and ip in _LOOPBACK_NET and ip not in VIRTUAL_RANGE


class Bindable(Protocol):
    """What a host's tables hold: a virtual socket (see ``_vnet_socket``)."""

    def crash(self) -> None:
        """The host crashed under the socket."""


@final
class Host:
    """A host of a ``VirtualNetwork``: a name and its addresses.

    Attributes:
        name: The host name, resolvable inside the block.
        addresses: Its IP addresses (``localhost``: ``127.0.0.1`` and ``::1``).
    """

    def __init__(self, name: str, addresses: tuple[str, ...], outgoing: str | None = None) -> None:
        self.name = name
        self.addresses = addresses
        # localhost's 127.0.0.1 means "myself" on every host: what it sends
        # to other hosts leaves from an address of the virtual range instead.
        self.outgoing = outgoing
        self.crashed = False
        self._next_port = _EPHEMERAL_LOW
        # (type, family, address, port) -> the socket bound there.
        self.bound: dict[tuple[int, int, str, int], Bindable] = {}
        # (type, path) -> the Unix-domain socket bound there.
        self.paths: dict[tuple[int, str], Bindable] = {}
        self.sockets: set[Bindable] = set()

    def __repr__(self) -> str:
        return f"Host({self.name!r}, addresses={self.addresses!r})"

    def owns(self, addr: str) -> bool:
        """Whether ``addr`` is one of this host's own (loopback and wildcard included)."""
        if addr in WILDCARDS or is_loopback(addr):
            return True
        return addr in self.addresses or addr == self.outgoing

    def first_address(self, family: int) -> str:
        """The address a connection from this host to another one leaves from."""
        version = 6 if family == 10 else 4
        if version == 4 and self.outgoing is not None:
            return self.outgoing
        for addr in self.addresses:
            if ipaddress.ip_address(addr).version == version:
                return addr
        return "::1" if version == 6 else "127.0.0.1"

    def bind_port(self, key: tuple[int, int, str, int], owner: Bindable) -> int:
        """Take ``key`` (port ``0``: an ephemeral one); the port taken."""
        kind, family, addr, port = key
        if port == 0:
            port = self._ephemeral(kind, family)
        if self._taken(kind, family, addr, port):
            code = errno.EADDRINUSE
            raise OSError(code, os.strerror(code))
        self.bound[(kind, family, addr, port)] = owner
        return port

    def _taken(self, kind: int, family: int, addr: str, port: int) -> bool:
        for other_kind, other_family, other_addr, other_port in self.bound:
            if (other_kind, other_family, other_port) != (kind, family, port):
                continue
            if other_addr == addr or other_addr in WILDCARDS or addr in WILDCARDS:
                return True
        return False

    def _ephemeral(self, kind: int, family: int) -> int:
        for _ in range(_EPHEMERAL_HIGH - _EPHEMERAL_LOW + 1):
            port = self._next_port
            self._next_port = port + 1 if port < _EPHEMERAL_HIGH else _EPHEMERAL_LOW
            if not self._taken(kind, family, "", port):
                return port
        code = errno.EADDRINUSE
        raise OSError(code, "no ephemeral port left on the virtual host")

    def unbind(self, owner: Bindable) -> None:
        """Free whatever ``owner`` holds."""
        for key in [key for key, held in self.bound.items() if held is owner]:
            del self.bound[key]
        for path in [path for path, held in self.paths.items() if held is owner]:
            del self.paths[path]

    def find(self, kind: int, family: int, addr: str, port: int) -> Bindable | None:
        """The socket that receives at ``addr:port``: bound to it, or to the wildcard."""
        found = self.bound.get((kind, family, addr, port))
        if found is not None:
            return found
        wildcard = "::" if family == 10 else "0.0.0.0"
        return self.bound.get((kind, family, wildcard, port))

    def crash(self) -> None:
        """Every socket of the host dies; the tables are emptied (for ``restart``)."""
        self.crashed = True
        for sock in list(self.sockets):
            sock.crash()
        self.sockets.clear()
        self.bound.clear()
        self.paths.clear()
