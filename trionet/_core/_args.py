"""Checks of fd-level arguments that depend on the socket: addresses, data, buffers."""

from __future__ import annotations

import os
import socket as _stdsocket
from collections.abc import Sequence

from .._types import Buffer
from ._addr import to_sockaddr
from ._attempts import OsAddress
from ._fdtable import Entry

__all__ = ["check_unix_path", "os_address", "outgoing", "writable_view"]

_FAMILY_NAMES = {
    _stdsocket.AF_INET: "an IPv4",
    _stdsocket.AF_INET6: "an IPv6",
    _stdsocket.AF_UNIX: "a Unix-domain",
}


def os_address(entry: Entry, addr: object, name: str = "addr") -> OsAddress:
    """Validate ``addr`` for ``entry``'s family and return it in the stdlib's form."""
    family = entry.sock.family
    if family == _stdsocket.AF_UNIX:
        if isinstance(addr, (str, bytes, os.PathLike)):
            return check_unix_path(name, os.fspath(addr))
        raise TypeError(f"{name} of a Unix-domain socket must be a path, not {type(addr).__name__}")
    sockaddr = to_sockaddr(addr, name)
    if sockaddr.domain != family:
        raise ValueError(
            f"{name} {sockaddr.addr!r} does not fit fd {entry.fd}, {_FAMILY_NAMES[family]} socket"
        )
    return sockaddr.to_os()


# sockaddr_un's sun_path on Linux: 108 bytes, a path's last one its NUL (an
# abstract name, starting with NUL, may use all 108).
_SUN_PATH = 108


def check_unix_path(name: str, path: str | bytes) -> str | bytes:
    """``path`` if the kernel can take it as a Unix-domain address (SPEC rule 33).

    Raises:
        ValueError: it is longer than the kernel's limit (the stdlib would
            raise a bare ``OSError`` with no errno, after no system call).
    """
    raw = os.fsencode(path)
    limit = _SUN_PATH if raw.startswith(b"\0") else _SUN_PATH - 1
    if len(raw) > limit:
        raise ValueError(
            f"{name} is {len(raw)} bytes long; a Unix-domain path may be at most "
            f"{limit} bytes (the kernel's limit): {os.fsdecode(raw[:40])!r}..."
        )
    return path


def outgoing(data: object, name: str = "data") -> Buffer | Sequence[Buffer]:
    """Outgoing data as a buffer (``str`` encoded UTF-8) or a list of buffers."""
    if type(data) is bytes or isinstance(data, (bytearray, memoryview)):
        return data
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, (list, tuple)):
        for index, item in enumerate(data):
            if not isinstance(item, (bytes, bytearray, memoryview)):
                raise TypeError(f"{name}[{index}] must be bytes-like, not {type(item).__name__}")
        return data
    raise TypeError(
        f"{name} must be bytes-like, str or a list of bytes-like objects, not {type(data).__name__}"
    )


def writable_view(buffer: object, offset: object, length: object) -> memoryview:
    """The slice ``buffer[offset:offset + length]`` as a writable byte view."""
    if type(buffer) is bytearray and type(offset) is int and offset == 0 and length is None:
        return memoryview(buffer)
    try:
        view = memoryview(buffer)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"buffer must be a writable bytes-like object, not {type(buffer).__name__}"
        ) from None
    if view.readonly:
        raise TypeError("buffer must be writable (a bytearray or a writable memoryview)")
    view = view.cast("B")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, not {type(offset).__name__}")
    if not 0 <= offset <= len(view):
        raise ValueError(f"offset must be in 0..{len(view)}, got {offset}")
    if length is None:
        return view[offset:]
    if isinstance(length, bool) or not isinstance(length, int):
        raise TypeError(f"length must be an int or None, not {type(length).__name__}")
    if not 0 <= length <= len(view) - offset:
        raise ValueError(f"length must be in 0..{len(view) - offset}, got {length}")
    return view[offset : offset + length]
