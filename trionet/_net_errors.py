"""The error types and the address value of ``trionet.net``."""

from __future__ import annotations

from typing import NamedTuple

import trio

__all__ = [
    "AddressInfo",
    "ServerAlreadyListeningError",
    "ServerNotRunningError",
    "WriteAfterEndError",
]


class WriteAfterEndError(trio.ClosedResourceError):
    """``write()`` after ``end()``: the writable side is already finished.

    A ``trio.ClosedResourceError``, so code written for trio streams
    catches it too.

    Node equivalent: ``ERR_STREAM_WRITE_AFTER_END``.
    """


class ServerAlreadyListeningError(RuntimeError):
    """``listen()`` on a server that is already listening.

    Node equivalent: ``ERR_SERVER_ALREADY_LISTEN``.
    """


class ServerNotRunningError(RuntimeError):
    """``close()`` on a server that is not listening.

    Node equivalent: ``ERR_SERVER_NOT_RUNNING``.
    """


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
