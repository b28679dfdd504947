"""``VirtualNetwork``: the public face of the simulated kernel (SPEC §9).

Entering the block makes the simulation current for the entering task
(and every task it starts from then on, through ``trionet._core._seam``), sets a
run-local host-name resolver in trio, seeds trio's scheduler's random
choice, and starts the system task that fires the kernel's timers.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import math
import socket as _stdsocket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, final

import trio

from ._core import _seam
from ._vnet_hosts import VIRTUAL_RANGE, Host
from ._vnet_kernel import Kernel, TraceEntry
from ._vnet_links import Link, check_link
from ._vnet_socket import VSocket
from ._vnet_tasks import TaskRunner, TimeKeeper, mock_clock
from ._vnet_tcp import VStream
from ._vnet_trio import Factory
from ._vnet_udp import VDatagram

__all__ = ["VirtualNetwork"]

_LOCALHOST = ("127.0.0.1", "::1")
_LOCALHOST_OUTGOING = "127.77.255.254"


class _Binding:
    """The simulation as the seam sees it: the kernel, acting as one host."""

    def __init__(self, kernel: Kernel, host: Host, block: _Block) -> None:
        self.kernel = kernel
        self.host = host
        self.block = block

    def socket(self, family: int, type: int) -> _seam.SimulatedSocket:
        kind = type & ~(_stdsocket.SOCK_NONBLOCK | _stdsocket.SOCK_CLOEXEC)
        cls: Callable[[Kernel, Host, int, int], VSocket] = (
            VStream if kind == _stdsocket.SOCK_STREAM else VDatagram
        )
        with self.kernel.lock:
            return cls(self.kernel, self.host, family, kind)

    def task_runner(self) -> TaskRunner:
        return TaskRunner(self.block.clock, self.block.keeper, self.block.setup_run)


class _Block:
    """What every run of the block shares: the clock, the time keeper, the run set-up."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.clock = trio.lowlevel.current_clock()
        self.keeper: TimeKeeper | None = None
        clock = mock_clock(self.clock)
        if clock is not None and clock.autojump_threshold < math.inf:
            self.keeper = TimeKeeper(clock)

    def setup_run(self) -> contextlib.ExitStack:
        """Make the calling run resolve names, and DTLS open sockets, on the virtual network.

        Both are trio's run-local hooks; closing the stack restores them.
        """
        stack = contextlib.ExitStack()
        previous = trio.socket.set_custom_hostname_resolver(_Resolver(self.kernel))
        stack.callback(trio.socket.set_custom_hostname_resolver, previous)
        factory = trio.socket.set_custom_socket_factory(Factory())
        stack.callback(trio.socket.set_custom_socket_factory, factory)
        return stack


class _Resolver(trio.abc.HostnameResolver):
    """Host names of the virtual network, for ``trio.socket.getaddrinfo``."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    async def getaddrinfo(
        self,
        host: bytes | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> Any:
        await trio.lowlevel.checkpoint()
        name = host.decode("ascii") if isinstance(host, bytes) else (host or "localhost")
        found = self._kernel.hosts.get(name.lower().rstrip("."))
        if found is None:
            raise _stdsocket.gaierror(_stdsocket.EAI_NONAME, "Name or service not known")
        number = int(port) if port is not None else 0
        results: list[Any] = []
        for addr in found.addresses:
            version = ipaddress.ip_address(addr).version
            af = _stdsocket.AF_INET6 if version == 6 else _stdsocket.AF_INET
            if family not in (0, af):
                continue
            for kind in [type] if type else [_stdsocket.SOCK_STREAM, _stdsocket.SOCK_DGRAM]:
                sockaddr = (addr, number, 0, 0) if version == 6 else (addr, number)
                results.append((af, _stdsocket.SocketKind(kind), proto, "", sockaddr))
        if not results:
            raise _stdsocket.gaierror(
                _stdsocket.EAI_ADDRFAMILY, "Address family for hostname not supported"
            )
        return results

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int
    ) -> tuple[str, str]:
        await trio.lowlevel.checkpoint()
        host = self._kernel.by_address.get(sockaddr[0])
        return (host.name if host is not None else sockaddr[0], str(sockaddr[1]))


@final
class VirtualNetwork:
    """A simulated network for deterministic whole-stack tests (SPEC §9).

    Inside ``async with VirtualNetwork(...) as vnet:`` every socket trionet
    opens in this task (and tasks it starts) is virtual: fd level, ``Tcp``,
    ``Udp`` and ``net`` (TLS included). Delivery runs on trio's clock, so
    under ``MockClock(autojump_threshold=0)`` latency costs no real time.

    No JSRE / Node equivalent: this is a test tool (compare Rust's turmoil).

    Args:
        seed: Seeds every random choice (jitter, loss, trio's scheduling).
        latency: Seconds a packet takes on the default link.
        jitter: Up to this many more seconds, uniformly drawn.
        loss: Probability that a UDP datagram is dropped (TCP retransmits).
        bandwidth: Bytes per second of each link direction, or ``None``.
    """

    def __init__(
        self,
        seed: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        loss: float = 0.0,
        bandwidth: float | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        checked = check_link(latency, jitter, loss, bandwidth)
        self._seed = seed
        self._link = Link(checked[0] or 0.0, checked[1] or 0.0, checked[2] or 0.0, checked[3])
        self._kernel: Kernel | None = None
        self._block: _Block | None = None
        self._exit: contextlib.ExitStack | None = None

    # The block --------------------------------------------------------------

    async def __aenter__(self) -> VirtualNetwork:
        if self._kernel is not None:
            raise RuntimeError("a VirtualNetwork can be entered once")
        # The clock's own method, not trio.current_time: tasks' threads read it too.
        now = trio.lowlevel.current_clock().current_time
        kernel = self._kernel = Kernel(self._seed, self._link, now)
        localhost = Host("localhost", _LOCALHOST, _LOCALHOST_OUTGOING)
        kernel.hosts["localhost"] = localhost
        kernel.by_address[_LOCALHOST_OUTGOING] = localhost
        # trio reverses a batch of woken tasks at random (trio/_core/_run.py);
        # seeding that choice makes one seed give one trace.
        scheduler_random = getattr(trio._core._run, "_r", None)
        if scheduler_random is not None:
            scheduler_random.seed(self._seed)
        stack = contextlib.ExitStack()
        self._exit = stack
        try:
            block = self._block = _Block(kernel)
            stack.enter_context(block.setup_run())
            token = _seam.use(_Binding(kernel, localhost, block))
            stack.callback(_seam.reset, token)
            # A system task, not a nursery around the user's block: the
            # block's exceptions must come out bare (SPEC §8.2).
            scope = trio.CancelScope()
            stack.callback(scope.cancel)
            trio.lowlevel.spawn_system_task(self._timers, kernel, scope, name="trionet vnet timers")
            if block.keeper is not None:
                keeping = trio.CancelScope()
                stack.callback(keeping.cancel)
                trio.lowlevel.spawn_system_task(
                    self._keep_time, block.keeper, keeping, name="trionet vnet time keeper"
                )
        except BaseException:
            stack.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        stack, self._exit = self._exit, None
        if stack is not None:
            stack.close()
        if self._kernel is not None:
            self._kernel.end()
        await trio.lowlevel.checkpoint()
        return None

    @staticmethod
    async def _keep_time(keeper: TimeKeeper, scope: trio.CancelScope) -> None:
        with scope:
            await keeper.run()

    @staticmethod
    async def _timers(kernel: Kernel, scope: trio.CancelScope) -> None:
        """Fire the kernel's timers as they fall due, on trio's clock, until ``scope`` ends."""
        wake = trio.Event()
        token = trio.lowlevel.current_trio_token()
        thread = threading.get_ident()

        def set_wake() -> None:
            wake.set()

        def poke() -> None:
            # A task's thread adds a timer: the block's run must hear of it.
            if threading.get_ident() == thread:
                wake.set()
            else:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(set_wake)

        kernel.poke = poke
        with scope:
            while True:
                kernel.run_due()
                wake = trio.Event()
                when = kernel.next_time()
                with trio.move_on_at(when if when is not None else float("inf")):
                    await wake.wait()

    def _require(self) -> Kernel:
        if self._kernel is None:
            raise RuntimeError("enter the VirtualNetwork with 'async with' first")
        return self._kernel

    # Hosts --------------------------------------------------------------------

    def add_host(self, name: str, *, addresses: list[str] | tuple[str, ...] | None = None) -> Host:
        """Add a host; its addresses come from ``127.77.0.0/16`` unless given.

        Raises:
            ValueError: the name is taken, or an address is not a free IP address.
        """
        kernel = self._require()
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str, not {name!r}")
        key = name.lower().rstrip(".")
        if key in kernel.hosts:
            raise ValueError(f"host {name!r} exists already")
        if addresses is None:
            # The first free one: given addresses may have taken any of them.
            free = (str(ip) for ip in VIRTUAL_RANGE.hosts() if str(ip) not in kernel.by_address)
            addresses = (next(free),)
        chosen: list[str] = []
        for addr in addresses:
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                raise ValueError(f"addresses: {addr!r} is not an IP address") from None
            if str(ip) in kernel.by_address or str(ip) in _LOCALHOST or ip.is_unspecified:
                raise ValueError(f"addresses: {addr!r} is taken")
            chosen.append(str(ip))
        host = Host(key, tuple(chosen))
        kernel.hosts[key] = host
        for addr in chosen:
            kernel.by_address[addr] = host
        return host

    def _host(self, name: str | Host) -> Host:
        kernel = self._require()
        key = name.name if isinstance(name, Host) else str(name).lower().rstrip(".")
        found = kernel.hosts.get(key)
        if found is None:
            raise ValueError(f"no host {name!r} in this virtual network")
        return found

    @contextlib.contextmanager
    def host(self, name: str | Host) -> Iterator[Host]:
        """Run the code in the block (and tasks it starts) as host ``name``."""
        found = self._host(name)
        assert self._block is not None
        token = _seam.use(_Binding(self._require(), found, self._block))
        try:
            yield found
        finally:
            _seam.reset(token)

    @property
    def hosts(self) -> dict[str, Host]:
        """The hosts by name (``localhost`` included)."""
        return dict(self._require().hosts)

    @property
    def trace(self) -> list[TraceEntry]:
        """Deliveries and faults so far, in order: ``(time, kind, src, dst, nbytes)``."""
        return list(self._require().trace)

    # Links and faults ----------------------------------------------------------------

    def set_link(
        self,
        a: str | Host,
        b: str | Host,
        *,
        latency: float | None = None,
        jitter: float | None = None,
        loss: float | None = None,
        bandwidth: float | None = None,
    ) -> None:
        """Set the link between two hosts (both directions); ``None`` keeps a value."""
        kernel = self._require()
        first, second = self._host(a), self._host(b)
        new = check_link(latency, jitter, loss, bandwidth)
        key = frozenset((first.name, second.name))
        old = kernel.links.get(key, kernel.default)
        kernel.links[key] = Link(
            old.latency if new[0] is None else new[0],
            old.jitter if new[1] is None else new[1],
            old.loss if new[2] is None else new[2],
            old.bandwidth if new[3] is None else new[3],
        )

    def partition(self, a: str | Host, b: str | Host) -> None:
        """Drop every packet between two hosts until ``heal`` (TCP retransmits meanwhile)."""
        kernel = self._require()
        first, second = self._host(a), self._host(b)
        kernel.partitions.add(frozenset((first.name, second.name)))
        kernel.record("partition", first.name, second.name, 0)

    def heal(self, a: str | Host, b: str | Host) -> None:
        """End a partition."""
        kernel = self._require()
        first, second = self._host(a), self._host(b)
        kernel.partitions.discard(frozenset((first.name, second.name)))
        kernel.record("heal", first.name, second.name, 0)

    def reset(self, a: str | Host, b: str | Host) -> None:
        """Reset every TCP connection between two hosts now (``ECONNRESET`` on both sides)."""
        kernel = self._require()
        first, second = self._host(a), self._host(b)
        with kernel.lock:  # tasks' threads may be calling into the kernel
            kernel.record("reset", first.name, second.name, 0)
            for sock in list(first.sockets) + list(second.sockets):
                if isinstance(sock, VStream) and sock.peer is not None:
                    hosts = {sock.host.name, sock.peer.host.name}
                    if hosts == {first.name, second.name}:
                        sock.fail(errno.ECONNRESET)

    def crash(self, name: str | Host) -> None:
        """The host dies: its connections reset, its sockets are dead until closed."""
        host = self._host(name)
        with self._require().lock:
            self._require().record("crash", host.name, host.name, 0)
            host.crash()

    def restart(self, name: str | Host) -> None:
        """Bring a crashed host back, with nothing bound."""
        host = self._host(name)
        self._require().record("restart", host.name, host.name, 0)
        host.crashed = False
