"""Sizes at the edges: a huge finite timeout waits, a typed view counts its bytes."""

from __future__ import annotations

import array
import socket as _stdsocket
import threading

from trionet.compat import socket as fd

from trionet._core._timeout import poll_ms
from trionet._net_transport import _nbytes


def test_a_huge_finite_timeout_waits_for_the_data() -> None:
    ours, theirs = _stdsocket.socketpair()
    # compat adopts the number: it is closed through compat, not behind its back.
    number = ours.detach()
    with theirs:
        # The sender starts only once the receive is about to wait, so the
        # receive goes through the driver's poll, where milliseconds are made.
        timer = threading.Timer(0.05, theirs.send, (b"late",))
        timer.start()
        try:
            assert fd.recv(number, 16, timeout=1e306) == b"late"
        finally:
            timer.join()
            fd.close(number)


def test_poll_milliseconds_round_up_and_stay_in_range() -> None:
    assert poll_ms(0.0001) == 1
    assert poll_ms(1e306) == poll_ms(float("inf")) == 2**31 - 1


def test_a_sends_size_counts_bytes_of_a_typed_view() -> None:
    wide = array.array("i", [1, 2, 3])
    assert _nbytes(memoryview(wide)) == 3 * wide.itemsize
    assert _nbytes([b"ab", memoryview(wide)]) == 2 + 3 * wide.itemsize
