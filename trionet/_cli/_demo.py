"""The scenes of ``python -m trionet demo``: each runs on loopback and narrates."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from importlib import import_module

import trio
import trio.testing

from .. import socket as fd
from .. import task
from .._core._addr import SockAddr
from .._core._timeout import Timeout
from .._tcp import Tcp
from .._udp import Udp
from ._demo_net import multi_task, net_events, tls_sni

__all__ = ["demo"]

Say = Callable[[str], object]


async def fd_level(say: Say) -> None:
    """A listener, a client and a receive that times out, all on plain fds."""
    say("== fd level (trionet.socket): plain int fds, trio underneath ==")
    listener = fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    client = fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    try:
        fd.bind(listener, (fd.INADDR_LOOPBACK, 0))
        fd.listen(listener)
        address = fd.sock_name(listener)
        say(f"listener fd {listener} on {address}")
        await fd.connect(client, address, timeout=2)
        conn, peer = await fd.accept(listener, timeout=2)
        say(f"accepted fd {conn} from {peer}; state {fd.get_tcp_state(conn).name}")
        try:
            await fd.send(client, [b"hello ", b"trionet"])
            say(f"server received {await fd.recv(conn, timeout=2)!r} (one gathered sendmsg)")
            start = trio.current_time()
            try:
                await fd.recv(client, timeout=0.2)
            except Timeout as exc:
                waited = trio.current_time() - start
                say(f"client recv(timeout=0.2) raised Timeout after {waited:.2f} s: {exc}")
            fd.shutdown(conn, "w")
            data = await fd.recv(client, timeout=2)
            say(f"after the server's shutdown('w'): {data!r}, is_eof = {fd.is_eof(client)}")
        finally:
            fd.close(conn)
    finally:
        fd.close(client)
        fd.close(listener)


async def _echo(say: Say, conn: Tcp, remote: SockAddr) -> None:
    """A ``Tcp.serve`` handler: echo until the client closes."""
    say(f"server: connection from {remote}")
    while data := await conn.recv():
        await conn.send_all(data)
    say("server: client closed; the handler returns and serve closes the connection")


async def tcp_echo(say: Say) -> None:
    """A ``Tcp.serve`` echo server and a ``Tcp`` client."""
    say("== Tcp objects (trionet.tcp): serve, create_client, send_all ==")
    async with Tcp.create_server((fd.INADDR_LOOPBACK, 0)) as server, trio.open_nursery() as tasks:
        await tasks.start(server.serve, partial(_echo, say))
        address = server.sock_name()
        async with await Tcp.create_client(("localhost", address.port), timeout=2) as client:
            await client.send_all(b"echo me")
            say(f"client got {await client.recv(timeout=2)!r} back from {address}")
        await trio.testing.wait_all_tasks_blocked()
        tasks.cancel_scope.cancel()


async def udp_round_trip(say: Say) -> None:
    """Two ``Udp`` sockets exchange a datagram."""
    say("== Udp objects (trionet.udp): sendto / recvfrom ==")
    async with (
        Udp.create((fd.INADDR_LOOPBACK, 0)) as one,
        Udp.create((fd.INADDR_LOOPBACK, 0)) as two,
    ):
        await one.sendto(two.sock_name(), b"ping")
        data, sender = await two.recvfrom(timeout=2)
        await two.sendto(sender, data.replace(b"i", b"o"))
        reply, _ = await one.recvfrom(timeout=2)
        say(f"{sender} sent {data!r}; it got {reply!r} back")


async def _echo_worker() -> str:
    """A task's main: adopt the handed-off connection, echo once, report."""
    message, sender = await task.recv()
    assert isinstance(message, task.Handoff)
    async with Tcp.create_by_fd(message.claim()) as conn:
        data = await conn.recv()
        await conn.send_all(data.upper())
    me = task.current()
    return f"task {me.name} (id {me.id}) served a connection handed over by task {sender}"


async def task_handoff(say: Say) -> None:
    """The root accepts a connection and hands its fd to a task in another thread."""
    say("== tasks (trionet.task): a connection handed to another trio.run ==")
    async with (
        Tcp.create_server((fd.INADDR_LOOPBACK, 0)) as server,
        task.open_task(_echo_worker, name="worker") as worker,
    ):
        async with await Tcp.create_client(server.sock_name(), timeout=2) as client:
            conn, _remote = await server.accept(timeout=2)
            handed = conn.fly_away()
            say(f"root: accepted fd {handed}, fly_away() and Handoff to task {worker.id}")
            await worker.send(task.Handoff(handed))
            await client.send_all(b"handed over")
            say(f"client got {await client.recv(timeout=2)!r}")
        say(await worker.join())


def _sync_client(say: Say, address: SockAddr) -> None:
    """Blocking code as a script writes it; its waits block only this thread."""
    # By name: mypy cannot follow the package-dir mapping that installs compat/.
    sync_fd = import_module("trionet.compat.socket")
    conn = sync_fd.socket(fd.AF_INET, fd.SOCK_STREAM)
    try:
        sync_fd.connect(conn, address, timeout=2)
        sync_fd.send(conn, b"from a sync client", timeout=2)
        say(f"sync client got {sync_fd.recv(conn, timeout=2)!r} back")
        start = time.monotonic()
        try:
            sync_fd.recv(conn, timeout=0.2)
        except Timeout as exc:
            waited = time.monotonic() - start
            say(f"sync client recv(timeout=0.2) raised Timeout after {waited:.2f} s: {exc}")
    finally:
        sync_fd.close(conn)


async def sync_client(say: Say) -> None:
    """A compat client in a thread talks to an async server in the same process."""
    say("== compat (trionet.compat.socket): a sync client, an async server, one process ==")
    async with Tcp.create_server((fd.INADDR_LOOPBACK, 0)) as server, trio.open_nursery() as tasks:
        await tasks.start(server.serve, partial(_echo, say))
        await trio.to_thread.run_sync(_sync_client, say, server.sock_name())
        await trio.testing.wait_all_tasks_blocked()
        tasks.cancel_scope.cancel()


SCENES = (
    fd_level,
    tcp_echo,
    udp_round_trip,
    task_handoff,
    sync_client,
    net_events,
    tls_sni,
    multi_task,
)

SCENE_LIMIT = 10.0
"""Seconds any one scene may take: a bug shows up as ``trio.TooSlowError``, not a hang."""


async def demo(say: Say) -> None:
    """Run every scene in turn."""
    for scene in SCENES:
        with trio.fail_after(SCENE_LIMIT):
            await scene(say)
