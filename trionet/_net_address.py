"""The address value of ``trionet.net``: what ``address()`` returns."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["AddressInfo"]


class AddressInfo(NamedTuple):
    """An address as ``Socket.address()`` and ``Server.address()`` return it.

    Node equivalent: the ``{ address, family, port }`` object.

    Attributes:
        address: The numeric IP address.
        family: ``'IPv4'`` or ``'IPv6'``.
        port: The port number.
    """

    address: str
    family: str
    port: int
