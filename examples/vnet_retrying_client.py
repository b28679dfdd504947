"""A client with retries and timeouts, tested on a virtual network.

The server, on the virtual host ``db.test``, answers UDP queries
(``"GET key"`` -> ``"VALUE key"``) and TCP requests (a line echoed back in
upper case). The client sits behind a link with 50 ms latency and 10% UDP
loss: each UDP query is retried after 0.25 s without an answer. Halfway,
the network is partitioned for 30 s: the TCP client's request times out,
and it reconnects and retries until the partition heals.

All of it runs on trio's mock clock: minutes of virtual time in a fraction
of a second. The same seed gives the same ``vnet.trace``; another seed
gives another trace and the same outcome.

Run it with ``python examples/vnet_retrying_client.py [SEED]``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import trio
import trio.testing

from trionet import Timeout
from trionet.tcp import Tcp
from trionet.testing import TraceEntry, VirtualNetwork
from trionet.udp import Udp

UDP_PORT = 5353
TCP_PORT = 5432


@dataclass
class Outcome:
    """What the client got done, and what it cost."""

    answers: int
    udp_retries: int
    tcp_retries: int
    virtual_seconds: float
    trace: list[TraceEntry]


async def udp_server(task_status: trio.TaskStatus[Udp]) -> None:
    """Answer ``GET key`` with ``VALUE key`` until cancelled."""
    udp = Udp.create(("0.0.0.0", UDP_PORT))
    try:
        task_status.started(udp)
        while True:
            data, peer = await udp.recvfrom()
            await udp.sendto(peer, b"VALUE " + data.removeprefix(b"GET "))
    finally:
        udp.close()


async def tcp_server(task_status: trio.TaskStatus[None]) -> None:
    """Echo each request back in upper case, one connection at a time in its own task."""

    async def handle(tcp: Tcp, remote: object) -> None:
        while request := await tcp.recv():
            await tcp.send_all(request.upper())

    listener = Tcp.create_server(("0.0.0.0", TCP_PORT))
    try:
        task_status.started()
        await listener.serve(handle)
    finally:
        listener.close()


async def query(udp: Udp, server: str, key: bytes) -> tuple[bytes, int]:
    """Ask ``server`` for ``key`` over UDP, retrying every 0.25 s; the answer and the retries."""
    for retries in range(100):
        await udp.sendto((server, UDP_PORT), b"GET " + key)
        try:
            data = await udp.recv(timeout=0.25)
        except Timeout:
            continue
        if data == b"VALUE " + key:
            return data, retries
    raise RuntimeError(f"no answer for {key!r}")


async def request(line: bytes) -> tuple[bytes, int]:
    """Send ``line`` over TCP and read the answer, reconnecting after each 2 s timeout."""
    for retries in range(100):
        try:
            tcp = await Tcp.create_client(("db.test", TCP_PORT), timeout=2)
        except (Timeout, ConnectionError):
            continue
        try:
            await tcp.send_all(line, timeout=2)
            return await tcp.recv(timeout=2), retries
        except (Timeout, ConnectionError):
            continue
        finally:
            tcp.close()
    raise RuntimeError(f"no answer for {line!r}")


async def main(seed: int) -> Outcome:
    """Run the client against the server on a virtual network seeded with ``seed``."""
    async with VirtualNetwork(seed=seed) as vnet:
        db = vnet.add_host("db.test")
        vnet.set_link("localhost", "db.test", latency=0.050, loss=0.10)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            with vnet.host("db.test"):
                await nursery.start(udp_server)
                await nursery.start(tcp_server)
            answers = udp_retries = tcp_retries = 0
            udp = Udp.create(("0.0.0.0", 0))
            try:
                for number in range(20):
                    _, retries = await query(udp, db.addresses[0], b"key%d" % number)
                    answers += 1
                    udp_retries += retries
            finally:
                udp.close()
            vnet.partition("localhost", "db.test")
            nursery.start_soon(_heal_after, vnet, 30.0)
            for number in range(5):
                answer, retries = await request(b"hello %d" % number)
                assert answer == b"HELLO %d" % number
                answers += 1
                tcp_retries += retries
            nursery.cancel_scope.cancel()
        return Outcome(answers, udp_retries, tcp_retries, trio.current_time() - start, vnet.trace)


async def _heal_after(vnet: VirtualNetwork, seconds: float) -> None:
    await trio.sleep(seconds)
    vnet.heal("localhost", "db.test")


if __name__ == "__main__":
    chosen = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    outcome = trio.run(main, chosen, clock=trio.testing.MockClock(autojump_threshold=0))
    print(
        f"{outcome.answers} answers, {outcome.udp_retries} UDP retries, "
        f"{outcome.tcp_retries} TCP retries, {outcome.virtual_seconds:.1f} virtual seconds, "
        f"{len(outcome.trace)} trace entries"
    )
