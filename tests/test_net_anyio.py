"""``net.as_anyio_stream``: anyio's own stream wrappers over trionet connections (SPEC 11)."""

from __future__ import annotations

import ssl

import anyio
import anyio.abc
import pytest
import trio
from _net_helpers import serving
from _tls_pair import ca, server_tls
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.text import TextStream
from anyio.streams.tls import TLSStream

from trionet import net

# Each async test runs on real loopback and on trionet.testing.VirtualNetwork.
OVER_VNET = True


async def _echo(sock: net.Socket) -> None:
    sock.on("data", sock.write)


async def test_buffered_and_text_streams_over_a_socket() -> None:
    async with serving(_echo) as served, net.connect(served.port, "127.0.0.1") as sock:
        stream = net.as_anyio_stream(sock)
        assert isinstance(stream, anyio.abc.ByteStream)
        await stream.send(b"line one\r\nline two\r\n")
        buffered = BufferedByteReceiveStream(stream)
        assert await buffered.receive_until(b"\r\n", 100) == b"line one"
        assert await buffered.receive_exactly(5) == b"line "
        text = TextStream(stream)
        await text.send("héllo")
        assert await text.receive() == "héllo"


async def test_end_of_stream_and_errors_are_anyios() -> None:
    async with serving(lambda s: s.end(b"bye")) as served:
        stream = net.as_anyio_stream(await net.open_stream(served.port, "127.0.0.1"))
        async with stream:
            assert await stream.receive() == b"bye"
            with pytest.raises(anyio.EndOfStream):
                await stream.receive()
            await stream.send_eof()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")


async def test_anyio_tls_stream_over_a_plain_socket() -> None:
    """anyio's TLSStream does the TLS; trionet only carries it."""
    async with serving(_echo, tls=server_tls()) as served, trio.open_nursery() as nursery:
        sock = await net.open_socket(served.port, "127.0.0.1", nursery=nursery)
        context = ssl.create_default_context()
        ca().configure_trust(context)
        tls = await TLSStream.wrap(
            net.as_anyio_stream(sock), hostname="localhost", ssl_context=context
        )
        async with tls:
            await tls.send(b"over anyio's TLS")
            assert await tls.receive() == b"over anyio's TLS"


def test_as_anyio_stream_checks_its_argument() -> None:
    with pytest.raises(TypeError, match="stream"):
        net.as_anyio_stream(42)  # type: ignore[arg-type]
