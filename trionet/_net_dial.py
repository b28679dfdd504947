"""Opening a client connection for ``net``: options, lookup, happy eyeballs.

``check_options`` validates every ``connect`` argument before anything
happens (SPEC 8.11). ``dial`` resolves the host (the custom ``lookup``
or ``getaddrinfo`` through trio), reports the result for the ``'lookup'``
event, and connects with RFC 8305 happy eyeballs: addresses are tried in
trio's interleaved order (``reorder_for_rfc_6555_section_5_4``), a new
attempt starts when the previous one failed or has not succeeded within
``ATTEMPT_DELAY``, and the first connection wins; the losers are
cancelled and their fds closed. The result is a connected fd of the fd
level, which the caller owns.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from trio._highlevel_open_tcp_stream import reorder_for_rfc_6555_section_5_4

from . import _fd_basic as fdb
from . import _fd_io as fdio
from ._core._addr import ip_domain
from ._core._args import check_unix_path
from ._core._checks import check_port, check_seconds
from ._core._constants import AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM
from ._core._exception_groups import open_nursery
from ._core._named import getaddrinfo
from ._core._timeout import timeout_scope
from ._net_tls import TlsSetup, client_setup
from ._types import Lookup, OnRead

__all__ = [
    "ATTEMPT_DELAY",
    "ConnectOptions",
    "check_callable",
    "check_onread",
    "check_options",
    "dial",
    "family_number",
]

ATTEMPT_DELAY = 0.25  # RFC 8305's recommended "connection attempt delay"

LookupReport = Callable[[BaseException | None, "str | None", "int | None", str], Awaitable[None]]

_FAMILIES = {0: 0, 4: AF_INET, 6: AF_INET6}


@dataclasses.dataclass(frozen=True)
class ConnectOptions:
    """The validated options of one ``connect``."""

    port: int | None
    host: str
    path: str | None
    family: int
    local_address: str | None
    local_port: int | None
    lookup: Lookup | None
    timeout: float | None
    connect_timeout: float | None
    on_connect: Callable[[], object] | None
    onread: OnRead | None
    tls: TlsSetup | None = None


def check_callable(name: str, value: object) -> None:
    """``TypeError`` naming the argument unless ``value`` is ``None`` or callable."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")


def check_onread(onread: object) -> OnRead | None:
    """Validate ``onread={"buffer": bytearray | callable, "callback": fn}``."""
    if onread is None:
        return None
    if not isinstance(onread, dict):
        raise TypeError(f"onread must be a dict, not {type(onread).__name__}")
    buffer: Any = onread.get("buffer")
    callback: Any = onread.get("callback")
    if not callable(callback):
        raise TypeError("onread['callback'] must be callable")
    if not callable(buffer):
        try:
            view = memoryview(buffer)
        except TypeError:
            raise TypeError("onread['buffer'] must be a writable buffer or a callable") from None
        if view.readonly or not view.nbytes:
            raise ValueError("onread['buffer'] must be writable and not empty")
    return OnRead(buffer=buffer, callback=callback)


def check_options(
    port: object,
    host: object,
    *,
    path: object,
    family: object,
    local_address: object,
    local_port: object,
    lookup: object,
    timeout: object,
    connect_timeout: object,
    tls: object,
    on_connect: object,
    onread: object,
) -> ConnectOptions:
    """Validate the arguments of ``net.connect`` / ``Socket.connect``."""
    checked_port: int | None = None
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or path-like, not {type(path).__name__}")
        path = os.fspath(path)
        assert isinstance(path, str)
        check_unix_path("path", path)
    elif port is None:
        raise TypeError("connect needs a port (or path= for a Unix-domain socket)")
    else:
        checked_port = check_port("port", port)
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    if isinstance(family, bool) or family not in _FAMILIES:
        raise ValueError(f"family must be 0, 4 or 6, got {family!r}")
    if local_address is not None and ip_domain(_str("local_address", local_address)) is None:
        raise ValueError(f"local_address must be a numeric IP address, got {local_address!r}")
    if local_port is not None:
        local_port = check_port("local_port", local_port)
    check_callable("lookup", lookup)
    check_callable("on_connect", on_connect)
    return ConnectOptions(
        port=checked_port,
        host=host,
        path=path,
        family=family,
        local_address=local_address,  # type: ignore[arg-type]
        local_port=local_port,
        lookup=lookup,  # type: ignore[arg-type]
        timeout=None if timeout is None else check_seconds("timeout", timeout),
        connect_timeout=(
            None if connect_timeout is None else check_seconds("connect_timeout", connect_timeout)
        ),
        on_connect=on_connect,  # type: ignore[arg-type]
        onread=check_onread(onread),
        tls=client_setup(tls, host if path is None else None),
    )


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    return value


def family_number(domain: int) -> int:
    """``4`` or ``6`` for ``AF_INET`` / ``AF_INET6`` (the ``'lookup'`` event's family)."""
    return 6 if domain == AF_INET6 else 4


async def dial(options: ConnectOptions, report_lookup: LookupReport) -> int:
    """Connect as ``options`` say; return the connected fd (the caller's to close).

    Raises:
        Timeout: ``connect_timeout`` ran out.
        OSError: resolution failed, or every address failed (the first one's error).
    """
    with timeout_scope(options.connect_timeout, "connect"):
        if options.path is not None:
            return await _connect_one(AF_UNIX, options.path, None)
        addresses = await _resolve(options, report_lookup)
        return await _race(addresses, options)


async def _resolve(options: ConnectOptions, report_lookup: LookupReport) -> list[str]:
    host, family = options.host, _FAMILIES[options.family]
    if options.local_address is not None:
        family = ip_domain(options.local_address) or family
    numeric = ip_domain(host)
    if numeric is not None:
        # Node emits no 'lookup' for an IP address: nothing was looked up.
        if family not in (0, numeric):
            raise ValueError(f"host {host!r} is not of the family asked for")
        return [host]
    try:
        addresses = await _lookup(options, family)
    except OSError as exc:
        await report_lookup(exc, None, None, host)
        raise
    first = addresses[0]
    await report_lookup(None, first, family_number(ip_domain(first) or AF_INET), host)
    return addresses


async def _lookup(options: ConnectOptions, family: int) -> list[str]:
    host = options.host
    if options.lookup is None:
        infos = await getaddrinfo(host, options.port, family, SOCK_STREAM)
        ordered = _interleave(infos)
        return list(dict.fromkeys(str(info[4][0]) for info in ordered))
    result = options.lookup(host, {0: 0, AF_INET: 4, AF_INET6: 6}[family])
    if inspect.isawaitable(result):
        result = await result
    found = [result] if isinstance(result, str) else list(result)
    addresses = [a for a in found if isinstance(a, str) and ip_domain(a) in (AF_INET, AF_INET6)]
    if not addresses or len(addresses) != len(found):
        raise TypeError(
            f"lookup must return a numeric IP address or a list of them, got {result!r}"
        )
    if family:
        addresses = [a for a in addresses if ip_domain(a) == family]
    if not addresses:
        raise OSError(f"lookup found no address of the family asked for: {host!r}")
    return addresses


def _interleave(infos: list[Any]) -> list[Any]:
    """trio's interleaving of IPv6 and IPv4 results, on a copy."""
    ordered = list(infos)
    reorder_for_rfc_6555_section_5_4(ordered)
    return ordered


async def _connect_one(domain: int, address: Any, options: ConnectOptions | None) -> int:
    fd = fdb.socket(domain, SOCK_STREAM)
    try:
        if options is not None and (options.local_address or options.local_port):
            local = options.local_address or ("::" if domain == AF_INET6 else "0.0.0.0")
            fdb.bind(fd, (local, options.local_port or 0))
        await fdio.connect(fd, address)
    except BaseException:
        fdb.close(fd)
        raise
    return fd


async def _race(addresses: list[str], options: ConnectOptions) -> int:
    """Happy eyeballs over ``addresses`` (see the module docstring)."""
    port = options.port
    assert port is not None
    if len(addresses) == 1:
        only = addresses[0]
        return await _connect_one(ip_domain(only) or AF_INET, (only, port), options)
    winners: list[int] = []
    errors: list[OSError] = []

    async def attempt(address: str, failed: trio.Event, nursery: trio.Nursery) -> None:
        try:
            fd = await _connect_one(ip_domain(address) or AF_INET, (address, port), options)
        except OSError as exc:
            errors.append(exc)
            failed.set()
            return
        if winners:
            fdb.close(fd)  # lost a photo finish
            return
        winners.append(fd)
        nursery.cancel_scope.cancel()

    try:
        async with open_nursery() as nursery:
            for address in addresses:
                failed = trio.Event()
                nursery.start_soon(attempt, address, failed, nursery)
                with trio.move_on_after(ATTEMPT_DELAY):
                    await failed.wait()
    except BaseException:
        # Cancelled from outside (or an attempt failed oddly) after a winner
        # connected: the nursery's own cancel did not catch it, so the
        # winner's fd is nobody's but ours.
        for fd in winners:
            fdb.close(fd)
        raise
    if winners:
        return winners[0]
    raise errors[0]
