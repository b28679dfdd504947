"""Virtual stream sockets: TCP (over links) and Unix-domain streams (within a host).

A connect sends a SYN; the peer host answers with a new socket queued on
its listener (``SYN-ACK``) or, with nothing listening, an RST
(``ECONNREFUSED``). A full accept queue (``backlog + 1``, as Linux) drops
the SYN, which is retransmitted after 1, 2, 4, ... s. Data moves from the
sender's send buffer onto its ``Wire`` as far as the peer's free receive
buffer allows, so a sender blocks (``EAGAIN``) while its peer does not
read; a read opens the window at once. ``shutdown("w")`` and ``close``
send a FIN after the queued data; closing with unread data, or with
``SO_LINGER`` zero, sends an RST instead, as Linux does.
"""

from __future__ import annotations

import errno
import functools
import os
import socket as _stdsocket
import struct
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from ._vnet_hosts import Host
from ._vnet_kernel import Kernel, Wire
from ._vnet_socket import VSocket, check_bufsize, os_error

__all__ = ["VStream"]

_SYN_RTO: Final = 1.0  # Linux's initial SYN retransmission timeout
_SYN_RETRIES: Final = 6  # tcp_syn_retries
_SEGMENT: Final = 65536
_WMEM_DEFAULT: Final = 16384  # tcp_wmem[1]
_WMEM_MAX: Final = 4194304  # tcp_wmem[2]
# Linux's tcpi_state numbers (what get_tcp_state maps to TcpState).
_ESTABLISHED, _SYN_SENT, _FIN_WAIT2, _TIME_WAIT, _CLOSE = 1, 2, 5, 6, 7
_CLOSE_WAIT, _LISTEN = 8, 10
_SOL = _stdsocket.SOL_SOCKET


def _blocked() -> BlockingIOError:
    return BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))


class VStream(VSocket):
    """A virtual ``SOCK_STREAM`` socket."""

    def __init__(self, kernel: Kernel, host: Host, family: int, type: int) -> None:
        super().__init__(kernel, host, family, type)
        self.listening = False
        self.backlog = 0
        self.queue: deque[VStream] = deque()
        self.connecting = False
        self.connected = False
        self.peer: VStream | None = None
        self.peer_addr: Any = None
        self.remote: Any = None
        self.rbuf = bytearray()
        self.eof = False  # the peer's FIN arrived (or a reset was reported)
        self.rd_shut = False
        self.sndq = bytearray()
        self.inflight = 0
        self.wr_shut = False
        self.fin_sent = False
        self.shut_first = False
        self.wire: Wire | None = None
        self._syn_tries = 0
        # The send buffer while SO_SNDBUF is not set: Linux's tcp_wmem[1],
        # until the connection is established (see _autotune).
        self.autotuned = _WMEM_DEFAULT

    # Readiness and state ----------------------------------------------------

    def readable(self) -> bool:
        if self.listening:
            return bool(self.queue)
        return bool(self.rbuf) or self.eof or self.rd_shut

    def writable(self) -> bool:
        if self.connecting or self.listening:
            return False
        if self.connected and not self.wr_shut:
            # Linux's poll (sk_stream_is_writeable): writable once the free
            # space is at least half what is queued, not at the first free
            # byte; a send takes any free space all the same.
            queued = len(self.sndq)
            return self.option(_SOL, _stdsocket.SO_SNDBUF) - queued >= queued >> 1
        return True

    def getsockopt(self, level: int, option: int, buflen: int | None = None) -> Any:
        if (level, option) == (_SOL, _stdsocket.SO_ERROR) and self.connecting and not self.error:
            # Still connecting: the fd looked writable only because an eventfd
            # cannot be neither readable nor writable. The connect waits on.
            raise _blocked()
        if (level, option) == (_SOL, _stdsocket.SO_ACCEPTCONN):
            return int(self.listening)
        if (level, option) == (_stdsocket.IPPROTO_TCP, _stdsocket.TCP_INFO):
            return bytes([self._tcp_state()]).ljust(buflen or 1, b"\0")
        return super().getsockopt(level, option, buflen)

    def _tcp_state(self) -> int:
        if self.listening:
            return _LISTEN
        if self.connecting:
            return _SYN_SENT
        if not self.connected:
            return _CLOSE
        if self.eof and self.wr_shut:
            return _TIME_WAIT if self.shut_first else _CLOSE
        if self.wr_shut:
            return _FIN_WAIT2
        if self.eof:
            return _CLOSE_WAIT
        return _ESTABLISHED

    def pending(self) -> int:
        return len(self.rbuf)

    def disconnect(self) -> None:
        raise ValueError("disconnect applies to datagram (UDP) sockets only")

    # Connecting -------------------------------------------------------------

    def listen(self, backlog: int = 128) -> None:
        self._check_alive()
        if self.connected or self.connecting:
            raise os_error(errno.EINVAL)
        if self.local is None:
            if self._family == _stdsocket.AF_UNIX:
                raise os_error(errno.EINVAL, "bind a path first")
            self.autobind(None)
        self.listening = True
        self.backlog = backlog
        self.sync()

    def connect(self, address: Any) -> None:
        code = self.connect_ex(address)
        if code:
            raise os_error(code)

    def connect_ex(self, address: Any) -> int:
        if self.dead:
            return errno.EBADF
        if self.listening:
            return errno.EINVAL
        if self.connected:
            return errno.EISCONN
        if self.connecting:
            return errno.EALREADY
        if self.error:
            code, self.error = self.error, 0
            return code
        if self._family == _stdsocket.AF_UNIX:
            return self._connect_unix(os.fsdecode(address))
        addr, port = address[0], address[1]
        dst = self.target_host(addr)
        self.autobind(addr)
        if dst is None:
            return errno.ECONNREFUSED
        self.connecting = True
        self.remote = self._address(addr, port)
        self.wire = self._wire(dst, f"{dst.name}:{port}")
        self.wire.push("syn", 0, lambda: self._syn(dst, addr, port), rto=_SYN_RTO)
        self.sync()
        return errno.EINPROGRESS

    def _wire(self, dst: Host, label: str) -> Wire:
        wire = Wire(self.kernel, self.host, dst, lambda: self.fail(errno.ETIMEDOUT))
        wire.labels = (self.label(), label)
        return wire

    def _syn(self, dst: Host, addr: str, port: int) -> None:
        """The SYN reached ``dst``: queue a connection, refuse, or drop it (queue full)."""
        if not self.connecting or self.dead:
            return
        found = dst.find(_stdsocket.SOCK_STREAM, self._family, addr, port)
        if found is None and self._family == _stdsocket.AF_INET:
            found = _dual_stack(dst, port)
        listener = found if isinstance(found, VStream) and found.listening else None
        if listener is None:
            back = Wire(self.kernel, dst, self.host, lambda: None)
            back.labels = (f"{dst.name}:{port}", self.label())
            back.push("rst", 0, lambda: self.fail(errno.ECONNREFUSED))
            return
        if len(listener.queue) > listener.backlog:
            self._syn_tries += 1
            if self._syn_tries > _SYN_RETRIES:
                self.fail(errno.ETIMEDOUT)
                return
            delay = _SYN_RTO * 2 ** (self._syn_tries - 1)
            self.kernel.record("retransmit", self.label(), f"{dst.name}:{port}", 0)
            self.kernel.call_at(self.kernel.now() + delay, lambda: self._syn(dst, addr, port))
            return
        child = self._accepted(listener, dst, self._address(addr, port))
        child.wire = child._wire(self.host, self.label())
        child.wire.push("synack", 0, lambda: self._established(child))

    def _accepted(self, listener: VStream, host: Host, local: Any) -> VStream:
        child = VStream(self.kernel, host, listener._family, _stdsocket.SOCK_STREAM)
        peer_addr = self.source(host, local if isinstance(local, str) else local[0]) or ""
        if listener._family != self._family:  # an IPv4 client of a dual-stack listener
            local, peer_addr = _mapped(local), _mapped(peer_addr)
        child.local = local
        child.connected = True
        child._autotune()
        child.peer = self
        child.peer_addr = peer_addr
        child.options.update(listener.options)
        listener.queue.append(child)
        listener.sync()
        return child

    def _established(self, child: VStream) -> None:
        if self.dead or not self.connecting:
            child.fail(errno.ECONNRESET)
            return
        self.connecting = False
        self.connected = True
        self._autotune()
        self.peer = child
        self.peer_addr = self.remote
        self.sync()

    def _connect_unix(self, path: str) -> int:
        found = self.host.paths.get((_stdsocket.SOCK_STREAM, path))
        if found is None:
            return errno.ENOENT
        if not isinstance(found, VStream) or not found.listening:
            return errno.ECONNREFUSED
        if len(found.queue) > found.backlog:
            return errno.EAGAIN
        child = self._accepted(found, self.host, path)
        child.wire = child._wire(self.host, self.label())
        self.connected = True
        self.peer = child
        self.peer_addr = path
        self.wire = self._wire(self.host, path)
        self.sync()
        return 0

    def accept(self) -> tuple[VStream, Any]:
        self._check_alive()
        if not self.listening:
            raise os_error(errno.EINVAL)
        if not self.queue:
            raise _blocked()
        child = self.queue.popleft()
        self.sync()
        return child, child.peer_addr

    def getpeername(self) -> Any:
        if not self.connected:
            raise os_error(errno.ENOTCONN)
        return self.peer_addr

    # Data -----------------------------------------------------------------------

    def send(self, data: Any, flags: int = 0) -> int:
        self._check_alive()
        self._raise_error()
        if self.wr_shut:
            raise os_error(errno.EPIPE)
        if not self.connected:
            if self.connecting:
                raise _blocked()
            raise os_error(errno.EPIPE if self.eof else errno.ENOTCONN)
        view = memoryview(data).cast("B")
        space = self.option(_SOL, _stdsocket.SO_SNDBUF) - len(self.sndq)
        if space <= 0:
            raise _blocked()
        count = min(space, len(view))
        self.sndq += view[:count]
        self.pump()
        return count

    def _autotune(self) -> None:
        """Linux sizes a new TCP connection's send buffer from its window (tcp_sndbuf_expand).

        On loopback (a 64 KiB MSS) that is ``tcp_wmem[2]``, 4 MiB, at once:
        a sender whose peer never reads queues about 4 MiB before it
        blocks. The virtual kernel does the same on every link. Unix
        sockets keep their size.
        """
        if self._family != _stdsocket.AF_UNIX:
            self.autotuned = _WMEM_MAX

    def value(self, level: int, option: int) -> Any:
        if (level, option) == (_SOL, _stdsocket.SO_SNDBUF) and (level, option) not in self.options:
            return self.autotuned
        return super().value(level, option)

    def sendall(self, data: Any, flags: int = 0) -> None:
        raise os_error(errno.EOPNOTSUPP, "virtual sockets are non-blocking")

    def sendmsg(self, buffers: Sequence[Any], *args: Any) -> int:  # type: ignore[override]
        return self.send(b"".join(bytes(memoryview(item)) for item in buffers))

    def sendto(self, data: Any, *args: Any) -> int:
        return self.send(data)

    def _raise_error(self) -> None:
        if self.error:
            code, self.error = self.error, 0
            self.eof = True
            self.sync()
            raise os_error(code)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        bufsize = check_bufsize(bufsize)
        self._check_alive()
        self._raise_error()
        if self.listening:
            raise os_error(errno.ENOTCONN)
        if self.rbuf and bufsize:
            data = bytes(self.rbuf[:bufsize])
            del self.rbuf[:bufsize]
            if self.peer is not None:
                self.peer.pump()  # the window opened
            self.sync()
            return data
        if self.eof or self.rd_shut or not bufsize:
            return b""
        if not self.connected and not self.connecting:
            raise os_error(errno.ENOTCONN)
        raise _blocked()

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view))
        view[: len(data)] = data
        return len(data)

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        return self.recv(bufsize), None

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        return self.recv_into(buffer, nbytes), None

    def pump(self) -> None:
        """Move queued data onto the wire as far as the peer's window allows; then the FIN."""
        peer, wire = self.peer, self.wire
        if self.connected and peer is not None and wire is not None:
            while self.sndq:
                window = peer.option(_SOL, _stdsocket.SO_RCVBUF) - len(peer.rbuf) - self.inflight
                if window <= 0:
                    break
                chunk = bytes(self.sndq[: min(window, _SEGMENT)])
                del self.sndq[: len(chunk)]
                self.inflight += len(chunk)
                wire.push("data", len(chunk), functools.partial(self._arrive, peer, chunk))
            if not self.sndq and self.wr_shut and not self.fin_sent:
                self.fin_sent = True
                wire.push("fin", 0, peer._fin)
        self.sync()

    def _arrive(self, peer: VStream, chunk: bytes) -> None:
        self.inflight -= len(chunk)
        if peer.dead or peer.rd_shut or not peer.connected:
            self._reset_peer(peer)
            return
        peer.rbuf += chunk
        peer.sync()

    def _fin(self) -> None:
        if not self.dead:
            self.eof = True
            self.sync()

    def _reset_peer(self, peer: VStream) -> None:
        """``peer`` is gone: its host answers with an RST."""
        if self.dead or not self.connected:
            return
        back = Wire(self.kernel, peer.host, self.host, lambda: None)
        back.labels = (peer.label(), self.label())
        back.push("rst", 0, lambda: self.fail(errno.ECONNRESET))

    def fail(self, code: int) -> None:
        """An RST (or a timeout) ended the connection: the next call raises ``code``."""
        if self.dead or not (self.connected or self.connecting):
            return
        was_connected = self.connected
        self.error = code
        self.connecting = self.connected = False
        self.eof = was_connected
        self.rbuf.clear()
        self.sndq.clear()
        if self.wire is not None:
            self.wire.clear()
        self.peer = None
        self.sync()

    def shutdown(self, how: int) -> None:
        self._check_alive()
        if not self.connected:
            raise os_error(errno.ENOTCONN)
        if how in (_stdsocket.SHUT_RD, _stdsocket.SHUT_RDWR):
            self.rd_shut = True
        if how in (_stdsocket.SHUT_WR, _stdsocket.SHUT_RDWR) and not self.wr_shut:
            self.wr_shut = True
            self.shut_first = not self.eof
            self.pump()
        self.sync()

    # Closing --------------------------------------------------------------------

    def _lingers_zero(self) -> bool:
        value = self.options.get((_SOL, _stdsocket.SO_LINGER))
        if not isinstance(value, bytes) or len(value) < 8:
            return False
        on, seconds = struct.unpack("ii", value[:8])
        return bool(on) and seconds == 0

    def teardown(self, crashed: bool) -> None:
        super().teardown(crashed)
        self.listening = False
        for child in self.queue:
            child.abort()
            child.close()
        self.queue.clear()
        peer = self.peer
        if not self.connected or peer is None:
            return
        if crashed:
            peer.fail(errno.ECONNRESET)
        elif self.rbuf or self._lingers_zero():
            self.abort()
        else:
            self.wr_shut = True
            self.pump()

    def abort(self) -> None:
        """Send an RST to the peer, dropping what is queued (close with unread data)."""
        peer, wire = self.peer, self.wire
        if peer is None or wire is None:
            return
        self.sndq.clear()
        wire.clear()
        wire.push("rst", 0, lambda: peer.fail(errno.ECONNRESET))
        self.connected = False


def _dual_stack(host: Host, port: int) -> VStream | None:
    """A listener on ``[::]:port`` without ``IPV6_V6ONLY``: it takes IPv4 connections too."""
    found = host.bound.get((_stdsocket.SOCK_STREAM, _stdsocket.AF_INET6, "::", port))
    if isinstance(found, VStream) and not found.option(
        _stdsocket.IPPROTO_IPV6, _stdsocket.IPV6_V6ONLY
    ):
        return found
    return None


def _mapped(address: Any) -> Any:
    """An IPv4 address as a dual-stack socket reports it (``::ffff:a.b.c.d``)."""
    return (f"::ffff:{address[0]}", address[1], 0, 0)
