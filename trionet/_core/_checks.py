"""Argument checks shared by every layer.

Each check runs before any system call and raises ``TypeError`` for a wrong
type or ``ValueError`` for a right type with a bad value, naming the argument
(SPEC 8.1). ``bool`` is never accepted where a number is expected. Every
``check_*`` of trionet takes the argument's name first, then its value.
"""

from __future__ import annotations

import math


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) within ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def check_max_buffer_size(value: object) -> int | None:
    """Return ``value`` if it is ``None`` or a positive write-queue bound in bytes."""
    return None if value is None else check_int("max_buffer_size", value, 1, 2**62)


def check_port(name: str, value: object) -> int:
    """Return ``value`` if it is a port number, ``0..65535``."""
    return check_int(name, value, 0, 65535)


def check_fd(name: str, value: object) -> int:
    """Return ``value`` if it can be a file descriptor."""
    return check_int(name, value, 0, 2**31 - 1)


def check_seconds(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number of seconds ``>= 0``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond any float (10**400): a bad value (rule 33)
        assert isinstance(value, int)  # the only number float() cannot take
        raise ValueError(
            f"{name} must be a finite number of seconds >= 0, got an int of "
            f"{value.bit_length()} bits"  # its repr may be too long to print
        ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return seconds


def whole_seconds(name: str, value: object, high: int) -> int:
    """Seconds rounded up to a whole number, at least 1 and at most ``high``."""
    seconds = max(1, math.ceil(check_seconds(name, value)))
    if seconds > high:
        raise ValueError(f"{name} must be at most {high} seconds, got {value!r}")
    return seconds
