"""The named types of trionet's public parameters, for the user's type checker.

Functions check their arguments at run time whatever the annotations say
(SPEC rule 8.1), so these aliases describe what is accepted, and a type
checker then reports a wrong argument before the code runs. They are
re-exported where users meet them: ``trionet`` (buffers, data, addresses)
and ``trionet.net`` (``TlsConfig``, ``OnRead``).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias, TypedDict

from ._core._addr import Address
from ._tls_options import TlsOptions

__all__ = [
    "Address",
    "Buffer",
    "Data",
    "FdAddress",
    "Lookup",
    "OnRead",
    "SendData",
    "TlsConfig",
    "WritableBuffer",
]

Buffer: TypeAlias = bytes | bytearray | memoryview
"""A bytes-like object that trionet reads from."""

WritableBuffer: TypeAlias = bytearray | memoryview
"""A bytes-like object that trionet receives into (a ``memoryview`` must be writable)."""

Data: TypeAlias = Buffer | str
"""Outgoing data: bytes-like, or a ``str`` (encoded UTF-8 unless told otherwise)."""

SendData: TypeAlias = Data | Sequence[Buffer]
"""What ``send`` / ``sendto`` take: ``Data``, or a list of buffers sent with one system call."""

FdAddress: TypeAlias = Address | str | bytes | os.PathLike[str]
"""An address on the fd level: an IP ``Address``, or a path for a Unix-domain socket."""

TlsConfig: TypeAlias = TlsOptions | ssl.SSLContext
"""``tls=`` of ``net`` and ``Tcp``: ``net.TlsOptions`` or a ready ``ssl.SSLContext``."""


Lookup: TypeAlias = Callable[[str, int], "str | Sequence[str] | Awaitable[str | Sequence[str]]"]
"""``lookup=`` of ``net.connect``: ``(host, family)`` to numeric addresses, plain or async.

``family`` is ``0``, ``4`` or ``6``, as in Node's ``options.family``.
"""


class OnRead(TypedDict):
    """``onread=`` of ``net.connect``: one buffer, reused for every read.

    ``buffer`` is a ``bytearray`` or a callable returning one (as SPEC
    section 3 has it; a writable ``memoryview`` works at run time too);
    ``callback(nread, buf)`` gets each read, and returning ``False`` pauses.

    Node equivalent: the ``onread`` option of ``net.connect()``.
    """

    buffer: bytearray | Callable[[], bytearray]
    callback: Callable[[int, bytearray], object]
