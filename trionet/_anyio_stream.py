"""``net.as_anyio_stream``: a trionet connection as an ``anyio.abc.ByteStream``.

anyio's stream wrappers (``BufferedByteReceiveStream``, ``TextStream``,
``TLSStream``) and libraries written against anyio take an
``anyio.abc.ByteStream``; trionet's connections are trio streams. The
adapter is the whole difference: ``receive`` for ``receive_some``, an
``anyio.EndOfStream`` for trio's ``b""``, and anyio's three resource
errors for trio's (on anyio's trio backend they are different classes).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import final

import anyio
import anyio.abc
import trio

__all__ = ["AnyioStream"]

_ERRORS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (trio.BrokenResourceError, anyio.BrokenResourceError),
    (trio.ClosedResourceError, anyio.ClosedResourceError),
    (trio.BusyResourceError, anyio.BusyResourceError),
)


@contextlib.contextmanager
def _as_anyio_errors() -> Iterator[None]:
    try:
        yield
    except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError) as exc:
        for trio_error, anyio_error in _ERRORS:
            if isinstance(exc, trio_error):
                raise anyio_error(*exc.args) from exc
        raise


@final
class AnyioStream(anyio.abc.ByteStream):
    """A ``trio.abc.HalfCloseableStream`` (a ``net.Socket`` or ``net.Stream``) for anyio.

    Closing it closes the trionet connection.
    """

    def __init__(self, stream: trio.abc.HalfCloseableStream) -> None:
        self.stream = stream

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """The next chunk; ``anyio.EndOfStream`` once the peer has ended."""
        with _as_anyio_errors():
            data = await self.stream.receive_some(max_bytes)
        if not data:
            raise anyio.EndOfStream
        return bytes(data)  # the same object when it is bytes already

    async def send(self, item: bytes) -> None:
        with _as_anyio_errors():
            await self.stream.send_all(item)

    async def send_eof(self) -> None:
        with _as_anyio_errors():
            await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()
