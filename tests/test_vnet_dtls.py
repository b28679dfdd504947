"""DTLS on the virtual network: across a slow, lossy link, and in a task."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trustme
from trio.testing import MockClock

from trionet import SockAddr, Timeout, dtls, task
from trionet.testing import VirtualNetwork


@pytest.fixture(scope="module")
def tls() -> tuple[dtls.TlsOptions, dtls.TlsOptions]:
    """The server's and the client's options, for the server ``dtls.test``."""
    ca = trustme.CA()
    leaf = ca.issue_cert("dtls.test")
    server = dtls.TlsOptions(cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes())
    return server, dtls.TlsOptions(ca=ca.cert_pem.bytes(), server_name="dtls.test")


async def echo(channel: dtls.DtlsChannel, remote: SockAddr) -> None:
    async for record in channel:
        await channel.send(record)


async def test_dtls_crosses_a_slow_lossy_link(
    tls: tuple[dtls.TlsOptions, dtls.TlsOptions], autojump_clock: MockClock
) -> None:
    server_tls, client_tls = tls
    async with VirtualNetwork(seed=3, latency=0.05, loss=0.2) as vnet:
        host = vnet.add_host("dtls.test")
        async with contextlib.AsyncExitStack() as stack:
            with vnet.host(host):  # the server binds, and serves, as dtls.test
                serving = dtls.serve(echo, ("0.0.0.0", 4433), tls=server_tls)
                server = await stack.enter_async_context(serving)
            start = trio.current_time()
            async with await dtls.connect((host.addresses[0], 4433), tls=client_tls) as channel:
                # The handshake is at least two round trips of 100 ms; DTLS
                # resends what the link loses (after 1 s, trio's first timeout).
                assert trio.current_time() - start >= 0.2
                # Records themselves are not resent: with 20% loss each way
                # some pings go unanswered, and the answers are still in order.
                answers = []
                for n in range(10):
                    await channel.send(b"record %d" % n)
                    with contextlib.suppress(Timeout):
                        answers.append(await channel.recv(timeout=1))
                assert 0 < len(answers) < 10
                assert answers == sorted(answers)
            server.close()
        kinds = {entry.kind for entry in vnet.trace}
        assert "udp" in kinds
        assert "lost" in kinds  # the seed makes the link drop some of them


async def _dtls_client(port: int, client_tls: dtls.TlsOptions) -> bytes:
    async with await dtls.connect(("127.77.0.1", port), tls=client_tls, timeout=10) as channel:
        await channel.send(b"from a task")
        return await channel.recv(timeout=10)


async def test_dtls_in_a_task_inside_the_block(
    tls: tuple[dtls.TlsOptions, dtls.TlsOptions],
    autojump_clock: MockClock,
    real_sockets: list[object],
) -> None:
    server_tls, client_tls = tls
    async with VirtualNetwork(latency=0.01) as vnet:
        vnet.add_host("dtls.test")
        async with contextlib.AsyncExitStack() as stack:
            with vnet.host("dtls.test"):
                serving = dtls.serve(echo, ("0.0.0.0", 4434), tls=server_tls)
                server = await stack.enter_async_context(serving)
            async with task.open_task(_dtls_client, 4434, client_tls) as client:
                assert await client.join() == b"from a task"
            server.close()
    assert real_sockets == []  # DTLS in the block's run and in the task: all virtual
