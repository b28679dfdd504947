"""``timeout=`` arguments become cancel scopes here, and nowhere else.

A timeout is seconds on trio's clock, so tests under ``MockClock`` are instant.
``None`` adds no limit of its own (enclosing scopes still apply); ``0`` means
"try once without waiting", which callers implement by not waiting at all.
"""

from __future__ import annotations

import contextlib
import errno
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager

import trio

from ._checks import check_seconds

__all__ = ["Timeout", "check_timeout", "poll_ms", "timeout_scope"]


class Timeout(TimeoutError, trio.TooSlowError):
    """An operation ran out of the time its ``timeout=`` gave it.

    Subclasses the builtin ``TimeoutError`` (``errno`` is
    ``errno.ETIMEDOUT``) and ``trio.TooSlowError``, so either ``except``
    clause catches it.

    Attributes:
        bytes_sent: Bytes handed to the kernel before time ran out (``0`` for
            operations that send nothing), so no partial progress is hidden.

    JSRE equivalent: a negative return with ``sys.errno`` set to ``ETIMEDOUT``.
    """

    bytes_sent: int

    def __init__(self, message: str = "operation timed out", *, bytes_sent: int = 0) -> None:
        super().__init__(errno.ETIMEDOUT, message)
        self.bytes_sent = bytes_sent

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_timeout, (self.strerror, self.bytes_sent))


def _rebuild_timeout(message: str, bytes_sent: int) -> Timeout:
    return Timeout(message, bytes_sent=bytes_sent)


def check_timeout(timeout: object) -> float | None:
    """Validate a ``timeout=`` argument: ``None`` or finite seconds ``>= 0``."""
    if timeout is None:
        return None
    return check_seconds("timeout", timeout)


_NO_LIMIT = contextlib.nullcontext()


def timeout_scope(timeout: float | None, what: str = "operation") -> AbstractContextManager[None]:
    """Run the body under a deadline ``timeout`` seconds from now.

    Raises ``Timeout`` if the deadline cancelled the body. ``timeout``
    must already be validated by ``check_timeout``; ``None`` costs
    nothing (a shared null context), since most calls have no timeout.
    """
    if timeout is None:
        return _NO_LIMIT
    return _deadline(timeout, what)


@contextlib.contextmanager
def _deadline(timeout: float, what: str) -> Iterator[None]:
    with trio.move_on_after(timeout) as scope:
        yield
    if scope.cancelled_caught:
        raise Timeout(f"{what} timed out after {timeout:g} s")


_MAX_POLL_MS = 2**31 - 1


def poll_ms(seconds: float) -> int:
    """``seconds`` as ``poll(2)``'s whole milliseconds, for a thread that waits in ``poll``.

    Rounded up (rounding down would wake too early) and clamped to the
    largest timeout ``poll`` takes, before the multiplication: a finite
    timeout near the float maximum would otherwise be infinite in
    milliseconds. A caller waiting longer than that polls again.
    """
    return min(math.ceil(min(seconds, _MAX_POLL_MS / 1000) * 1000), _MAX_POLL_MS)
