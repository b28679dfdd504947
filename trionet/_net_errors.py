"""The error types of ``trionet.net``."""

from __future__ import annotations

import trio

__all__ = [
    "ServerAlreadyListeningError",
    "BufferLimitError",
    "ServerNotRunningError",
    "WriteAfterEndError",
]


class WriteAfterEndError(trio.ClosedResourceError):
    """``write()`` after ``end()``: the writable side is already finished.

    A ``trio.ClosedResourceError``, so code written for trio streams
    catches it too.

    Node equivalent: ``ERR_STREAM_WRITE_AFTER_END``.
    """


class BufferLimitError(trio.BrokenResourceError):
    """A socket's write queue grew past its ``max_buffer_size``: it was destroyed.

    The peer did not read, and the writer ignored ``write()`` returning
    ``False``. It reaches the ``'error'`` listeners and the callbacks of
    the queued writes, as a reset would (SPEC rule 30); a server logs it
    and goes on. A ``trio.BrokenResourceError``: the connection is gone
    because of its peer.

    Node equivalent: none (Node's queue has no bound).

    Attributes:
        max_buffer_size: The bound that was passed.
        buffer_size: The bytes queued when it was passed.
    """

    def __init__(self, max_buffer_size: int, buffer_size: int) -> None:
        super().__init__(
            f"{buffer_size} bytes queued to write exceed max_buffer_size={max_buffer_size}"
            " (the peer is not reading): the socket was destroyed"
        )
        self.max_buffer_size = max_buffer_size
        self.buffer_size = buffer_size

    def __reduce__(self) -> tuple[type[BufferLimitError], tuple[int, int]]:
        return type(self), (self.max_buffer_size, self.buffer_size)


class ServerAlreadyListeningError(RuntimeError):
    """``listen()`` on a server that is already listening.

    Node equivalent: ``ERR_SERVER_ALREADY_LISTEN``.
    """


class ServerNotRunningError(RuntimeError):
    """``close()`` on a server that is not listening.

    Node equivalent: ``ERR_SERVER_NOT_RUNNING``.
    """
