"""The base of every virtual socket: its eventfd, its readiness, its options.

A virtual socket's fd number is a real ``eventfd`` it owns. ``sync()``
sets the counter so that the fd is readable exactly when the socket is,
and unwritable when it is readable but cannot take data (an eventfd cannot
be neither: that state shows as writable, an extra failed attempt for an
edge-triggered waiter). Every change reads and rewrites the counter, which
wakes the fd's waiters: an edge for trionet's readiness layer.

Tasks opened inside the block call into the kernel from their own threads,
so every method of a virtual socket holds the kernel's lock (the
subclasses' too: ``__init_subclass__`` wraps them), as does the block's
timer task while it delivers.
"""

from __future__ import annotations

import errno
import functools
import inspect
import operator
import os
import socket as _stdsocket
import struct
from collections.abc import Callable
from typing import Any, Final, SupportsIndex

from ._core._seam import SimulatedSocket
from ._vnet_hosts import WILDCARDS, Host
from ._vnet_kernel import Kernel

__all__ = ["VSocket", "check_bufsize", "os_error"]

_FULL: Final = 2**64 - 2  # the largest counter: readable, and no write fits
_SO_BINDTODEVICE: Final = (_stdsocket.SOL_SOCKET, 25)
_SO_MARK: Final = (_stdsocket.SOL_SOCKET, 36)
_CAP_NET_ADMIN: Final = 12
_CAP_NET_RAW: Final = 13
_INTERFACES: Final = frozenset({b"lo"})  # a virtual host has no other (no routing either)
_LINUX_DEFAULTS: Final = {
    (_stdsocket.SOL_SOCKET, _stdsocket.SO_RCVBUF): 131072,
    (_stdsocket.SOL_SOCKET, _stdsocket.SO_SNDBUF): 16384,
    (_stdsocket.IPPROTO_IP, _stdsocket.IP_TTL): 64,
    (_stdsocket.IPPROTO_IP, _stdsocket.IP_MULTICAST_TTL): 1,
    (_stdsocket.IPPROTO_IP, _stdsocket.IP_MULTICAST_LOOP): 1,
    (_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_MULTICAST_LOOP): 1,
    (_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_UNICAST_HOPS): 64,
    (_stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_MULTICAST_HOPS): 1,
}


def os_error(code: int, what: str = "") -> OSError:
    """The ``OSError`` subclass a kernel's ``code`` becomes, as the stdlib raises it."""
    message = os.strerror(code) + (f" ({what})" if what else "")
    return OSError(code, message)


@functools.cache
def _capabilities() -> int:
    """The process's effective capabilities (what the real kernel would grant it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def _capable(capability: int) -> bool:
    return bool(_capabilities() >> capability & 1)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(self: VSocket, *args: Any, **kwargs: Any) -> Any:
        with self.kernel.lock:
            return method(self, *args, **kwargs)

    return locked


def _lock_methods(cls: type) -> None:
    """Make every method ``cls`` defines hold the kernel's lock (not the dunders)."""
    for name, value in list(vars(cls).items()):
        if inspect.isfunction(value) and not name.startswith("__"):
            setattr(cls, name, _locked(value))


def check_bufsize(bufsize: SupportsIndex, what: str = "recv") -> int:
    """The stdlib socket's own check of a receive size, made before any other."""
    size = operator.index(bufsize)  # TypeError for a float, as the C method raises
    if size < 0:
        raise ValueError(f"negative buffersize in {what}")
    return size


class VSocket(SimulatedSocket):
    """What stream and datagram virtual sockets share."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _lock_methods(cls)

    def __init__(self, kernel: Kernel, host: Host, family: int, type: int) -> None:
        # socket.socket.__init__ is never called: no real socket exists.
        self.kernel = kernel
        self.host = host
        self._family = family
        self._type = type & ~(_stdsocket.SOCK_NONBLOCK | _stdsocket.SOCK_CLOEXEC)
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._counter = 0
        self._wfd: int | None = None  # see write_fd
        self._wfull = False
        self.options: dict[tuple[int, int], Any] = {}
        self.local: Any = None
        self.dead = False  # closed, or its host crashed
        self.released = False  # closed by its owner: the eventfd is gone
        self.error = 0  # what SO_ERROR (and the next call) reports
        # Waiters that do not use the fd (trio's sockets, _vnet_trio): called
        # once at the next change of state.
        self.watchers: list[Callable[[], None]] = []
        host.sockets.add(self)

    # What the stdlib's socket object answers ------------------------------

    @property
    def family(self) -> _stdsocket.AddressFamily:
        return _stdsocket.AddressFamily(self._family)

    @property
    def type(self) -> _stdsocket.SocketKind:
        return _stdsocket.SocketKind(self._type)

    @property
    def proto(self) -> int:
        return 0

    def fileno(self) -> int:
        return -1 if self.released else self._efd

    def setblocking(self, flag: bool) -> None:
        """Virtual sockets never block."""

    def settimeout(self, value: float | None) -> None:
        """Virtual sockets never block."""

    def gettimeout(self) -> float | None:
        return 0.0

    def __repr__(self) -> str:
        return f"<virtual socket fd={self.fileno()} host={self.host.name!r} local={self.local!r}>"

    def detach(self) -> int:
        raise os_error(errno.EOPNOTSUPP, "a virtual socket cannot be detached")

    def getsockname(self) -> Any:
        if self.local is not None:
            return self.local
        if self._family == _stdsocket.AF_UNIX:
            return ""
        if self._family == _stdsocket.AF_INET6:
            return ("::", 0, 0, 0)
        return ("0.0.0.0", 0)

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        if (level, option) == (_stdsocket.SOL_SOCKET, _stdsocket.SO_ERROR):
            code, self.error = self.error, 0
            return code
        if (level, option) == (_stdsocket.SOL_SOCKET, _stdsocket.SO_TYPE):
            return self._type
        value = self.value(level, option)
        if buflen is not None:
            if isinstance(value, bytes):
                return value[:buflen]
            return struct.pack("i", int(value))[:buflen]
        return value

    def setsockopt(self, level: int, option: int, value: Any, optlen: int | None = None) -> None:
        self._check_alive()
        if (level, option) == _SO_BINDTODEVICE:
            self._bind_to_device(bytes(value).split(b"\0", 1)[0])
            return
        if (level, option) == _SO_MARK and not _capable(_CAP_NET_ADMIN):
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        if (level, option) in (
            (_stdsocket.SOL_SOCKET, _stdsocket.SO_RCVBUF),
            (_stdsocket.SOL_SOCKET, _stdsocket.SO_SNDBUF),
        ):
            value = int(value) * 2  # Linux doubles what it is given
        self.options[(level, option)] = value
        self.on_option(level, option)

    def _bind_to_device(self, name: bytes) -> None:
        # Linux: the name is looked up first (ENODEV); a first binding is
        # free, changing or removing one needs CAP_NET_RAW (since 5.7).
        if name and name not in _INTERFACES:
            raise os_error(errno.ENODEV)
        if self.options.get(_SO_BINDTODEVICE) and not _capable(_CAP_NET_RAW):
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        self.options[_SO_BINDTODEVICE] = name

    def on_option(self, level: int, option: int) -> None:
        """An option changed (a buffer size, a multicast group)."""

    def value(self, level: int, option: int) -> Any:
        """An option's value: what was set, or Linux's default."""
        return self.options.get((level, option), _LINUX_DEFAULTS.get((level, option), 0))

    def option(self, level: int, option: int) -> int:
        value = self.value(level, option)
        return int(value) if not isinstance(value, bytes) else len(value)

    # Addresses ------------------------------------------------------------

    def label(self) -> str:
        """How the trace names this end: ``host:port``, or a path."""
        local = self.local
        if isinstance(local, str):
            return local
        port = 0 if local is None else local[1]
        return f"{self.host.name}:{port}"

    def bind(self, address: Any) -> None:
        self._check_alive()
        if self.local is not None:
            raise os_error(errno.EINVAL, "already bound")
        if self._family == _stdsocket.AF_UNIX:
            path = os.fsdecode(address)
            key = (self._type, path)
            if key in self.host.paths:
                raise os_error(errno.EADDRINUSE)
            self.host.paths[key] = self
            self.local = path
            return
        addr, port = address[0], address[1]
        if not self.host.owns(addr):
            raise os_error(errno.EADDRNOTAVAIL)
        taken = self.host.bind_port((self._type, self._family, addr, port), self)
        self.local = self._address(addr, taken)

    def _address(self, addr: str, port: int) -> Any:
        if self._family == _stdsocket.AF_INET6:
            return (addr, port, 0, 0)
        return (addr, port)

    def autobind(self, toward: str | None) -> None:
        """Bind to an ephemeral port before a connect or send (as the kernel does)."""
        if self.local is not None or self._family == _stdsocket.AF_UNIX:
            return
        if toward is None or toward in WILDCARDS:
            addr = "::" if self._family == _stdsocket.AF_INET6 else "0.0.0.0"
        elif self.host.owns(toward):
            addr = toward
        else:
            addr = self.host.first_address(self._family)
        port = self.host.bind_port((self._type, self._family, addr, 0), self)
        self.local = self._address(addr, port)

    def source(self, dst: Host, toward: str) -> Any:
        """The address the peer sees: a wildcard binding takes the outgoing address."""
        local = self.local
        if isinstance(local, str) or local is None or local[0] not in WILDCARDS:
            return local
        if dst is self.host:
            addr = toward if self.host.owns(toward) and toward not in WILDCARDS else "127.0.0.1"
        else:
            addr = self.host.first_address(self._family)
        return self._address(addr, local[1])

    def target_host(self, addr: str) -> Host | None:
        """The host that ``addr`` names, seen from this socket's host."""
        if self.host.owns(addr):
            return self.host
        return self.kernel.by_address.get(addr)

    # Readiness -----------------------------------------------------------

    def readable(self) -> bool:
        raise NotImplementedError

    def writable(self) -> bool:
        raise NotImplementedError

    def sync(self) -> None:
        """Make the eventfd show the socket's readiness, with an edge for its waiters."""
        if self.released:
            return
        readable = self.ready_to_read()
        writable = self.ready_to_write()
        if self._wfd is not None:
            self._show_writable(writable)
        if not readable and not writable and not self._counter:
            # Still showing "not readable" and now unwritable too: no edge.
            # Linux wakes nobody here (a send buffer draining below the
            # point where poll says writable, a connect in flight), and an
            # edge would make a writer try a send the kernel takes.
            return
        counter = (1 if writable else _FULL) if readable else 0
        # Every change is an edge, even when the counter stays the same: a
        # partial write, say, cleared the readiness layer's bit and waits
        # for one. A read and a write of the counter make it.
        if self._counter:
            os.eventfd_read(self._efd)
        else:
            os.eventfd_write(self._efd, 1)
            os.eventfd_read(self._efd)
        if counter:
            os.eventfd_write(self._efd, counter)
        self._counter = counter
        self.wake_watchers()

    def ready_to_read(self) -> bool:
        """What poll says: readable (a failed or dead socket is, so its call can fail)."""
        return self.readable() or self.dead or bool(self.error)

    def ready_to_write(self) -> bool:
        """What poll says: writable."""
        return self.writable() or self.dead or bool(self.error)

    def wake_watchers(self) -> None:
        """The state changed: every waiter that does not use the fd looks again."""
        watchers, self.watchers = self.watchers, []
        for wake in watchers:
            wake()

    def _check_alive(self) -> None:
        if self.dead:
            raise os_error(errno.EBADF, "the virtual host crashed")

    # Closing ---------------------------------------------------------------

    def crash(self) -> None:
        """Its host crashed: every later call fails as on a closed fd."""
        if not self.dead:
            self.dead = True
            self.teardown(crashed=True)
            self.sync()

    def write_fd(self) -> int:
        # Made on first use (compat's driver), so async code pays nothing.
        if self._wfd is None:
            self._wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._wfull = False
            self._show_writable(self.writable() or self.dead or bool(self.error))
        return self._wfd

    def _show_writable(self, writable: bool) -> None:
        """The write fd polls writable exactly when the socket is (a full counter is not)."""
        assert self._wfd is not None
        if writable == self._wfull:
            if writable:
                os.eventfd_read(self._wfd)
            else:
                os.eventfd_write(self._wfd, _FULL)
            self._wfull = not writable

    def close(self) -> None:
        if self.released:
            return
        if not self.dead:
            self.dead = True
            self.teardown(crashed=False)
        self.host.unbind(self)
        self.host.sockets.discard(self)
        self.released = True
        os.close(self._efd)
        if self._wfd is not None:
            os.close(self._wfd)

    def teardown(self, crashed: bool) -> None:
        """Let the peer know (FIN or RST) and free what the socket holds."""
        self.host.unbind(self)

    def __del__(self) -> None:
        if not getattr(self, "released", True):
            os.close(self._efd)
            if self._wfd is not None:
                os.close(self._wfd)


_lock_methods(VSocket)
