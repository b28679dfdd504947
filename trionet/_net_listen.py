"""Making a server's listening socket, and surviving accept errors.

The fd-level half of ``net.Server.listen()`` (a TCP, Unix-domain or adopted
listening fd) and of its accept loop (which errors to retry), kept apart
from the server's life cycle in ``trionet._net_server``.
"""

from __future__ import annotations

import errno
import os
import stat

import trio

from . import _fd_basic as fdb
from . import _fd_options as fdo
from ._core._accept_errors import retry_delay
from ._core._addr import SockAddr, ip_domain
from ._core._constants import AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM
from ._core._fdtable import kind
from ._core._named import getaddrinfo
from ._net_core import LOGGER
from ._net_events import DropInfo

__all__ = [
    "adopt_listener",
    "drop_info",
    "has_ipv6",
    "local_address",
    "survive",
    "tcp_listener",
    "unix_listener",
]


async def survive(exc: OSError) -> None:
    """An accept error: back off or go on (``trionet._core._accept_errors``), or raise it."""
    delay = retry_delay(exc, LOGGER)
    if delay is None:
        raise exc
    if delay:
        await trio.sleep(delay)


def drop_info(fd: int, remote: SockAddr | str) -> DropInfo:
    local = fdb.sock_name(fd)
    info: DropInfo = {}
    if isinstance(local, SockAddr):
        info["local_address"], info["local_port"] = local.addr, local.port
    if isinstance(remote, SockAddr):
        family = "IPv6" if remote.domain == AF_INET6 else "IPv4"
        info["remote_address"], info["remote_port"] = remote.addr, remote.port
        info["remote_family"] = family
    return info


async def local_address(host: str | None, port: int) -> tuple[int, str]:
    """The family and numeric address to listen on."""
    if host is None:
        return (AF_INET6, "::") if has_ipv6() else (AF_INET, "0.0.0.0")
    family = ip_domain(host)
    if family is not None:
        return family, host
    infos = await getaddrinfo(host, port, type=SOCK_STREAM)
    if not infos:
        raise OSError(errno.EADDRNOTAVAIL, f"no address for {host!r}")
    return int(infos[0][0]), str(infos[0][4][0])


def has_ipv6() -> bool:
    try:
        fdb.close(fdb.socket(AF_INET6, SOCK_STREAM))
    except OSError:
        return False
    return True


def tcp_listener(
    family: int, address: tuple[str, int], backlog: int, ipv6_only: bool, reuse_port: bool = False
) -> int:
    fd = fdb.socket(family, SOCK_STREAM)
    try:
        fdo.set_reuse_addr(fd, True)
        if reuse_port:
            fdo.set_reuse_port(fd, True)
        if family == AF_INET6:
            fdo.set_ipv6_only(fd, ipv6_only)
        fdb.bind(fd, address)
        fdb.listen(fd, backlog)
    except BaseException:
        fdb.close(fd)
        raise
    return fd


def unix_listener(path: str, backlog: int, readable_all: bool, writable_all: bool) -> int:
    fd = fdb.socket(AF_UNIX, SOCK_STREAM)
    bound = False
    try:
        fdb.bind(fd, path)
        bound = True
        mode = (stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH) * readable_all | (
            stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        ) * writable_all
        if mode:
            os.chmod(path, os.stat(path).st_mode | mode)
        fdb.listen(fd, backlog)
    except BaseException:
        fdb.close(fd)
        if bound:
            os.unlink(path)
        raise
    return fd


def adopt_listener(fd: int, backlog: int) -> int:
    _family, sock_type = kind(fd)
    if sock_type != SOCK_STREAM:
        raise ValueError(f"fd {fd} is not a stream socket")
    if not fdb.is_listen(fd):
        fdb.listen(fd, backlog)
    return fd
