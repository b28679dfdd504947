"""compat inside a ``VirtualNetwork``: sync code in a plain-function task opened in the block."""

from __future__ import annotations

import time

from trionet.compat import socket as cs

from trionet import socket as s
from trionet import task
from trionet.testing import VirtualNetwork


def _compat_client(port: int) -> tuple[bytes, float]:
    """A plain-function task: ping the peer with compat calls; the thread's CPU time too."""
    cpu = time.thread_time()
    fd = cs.socket(cs.AF_INET, cs.SOCK_STREAM)
    try:
        cs.connect(fd, ("127.77.0.1", port), timeout=5)
        cs.send(fd, b"sync ping")
        answer = cs.recv(fd, timeout=5)
    finally:
        cs.close(fd)
    return answer, time.thread_time() - cpu


async def test_compat_in_a_task_waits_for_a_slow_connect_without_spinning() -> None:
    # The real clock: the connect is in flight for a 100 ms round trip, a
    # state the fd cannot show; compat's poll must sleep through it.
    async with VirtualNetwork(latency=0.05) as vnet:
        vnet.add_host("peer.test")
        with vnet.host("peer.test"):
            listener = s.socket(s.AF_INET, s.SOCK_STREAM)
        try:
            s.bind(listener, ("0.0.0.0", 7400))
            s.listen(listener, 5)
            async with task.open_task(_compat_client, 7400) as client:
                conn, _ = await s.accept(listener)
                await s.send(conn, await s.recv(conn))
                answer, cpu = await client.join()
                s.close(conn)
        finally:
            s.close(listener)
    assert answer == b"sync ping"
    assert cpu < 0.05  # spinning through the connect took about 0.1 s of CPU
