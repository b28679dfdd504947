"""The system-call attempts (``trionet/_core/_attempts.py``) say themselves when they would block.

A driver may retry an attempt after any wake-up, not only after the
socket's own readiness event: compat's threads are woken by a close or a
failing handler too. So no attempt may report success from what is only
an absence of news.
"""

from __future__ import annotations

import pytest
from _compat_net import SHORT
from _fds import Fds
from trionet.compat import socket as csocket

import trionet
from trionet import socket as s
from trionet._core._attempts import Connect
from trionet._core._fdtable import entry


def connect_in_progress(fds: Fds) -> tuple[int, tuple[str, int]]:
    """A client whose connect stays in ``SYN_SENT`` (the queue is full), and its target."""
    listener = fds.socket(s.AF_INET, s.SOCK_STREAM)
    csocket.bind(listener, ("127.0.0.1", 0))
    csocket.listen(listener, 0)
    for _ in range(8):
        client = fds.socket(s.AF_INET, s.SOCK_STREAM)
        try:
            csocket.connect(client, csocket.sock_name(listener), timeout=SHORT)
        except trionet.Timeout:
            if s.get_tcp_state(client) == trionet.TcpState.SYN_SENT:
                return client, entry(listener).sock.getsockname()
    pytest.fail("no connect stayed in SYN_SENT with the backlog full")


def test_a_connect_still_in_progress_would_block_when_tried_again(fds: Fds) -> None:
    client, target = connect_in_progress(fds)
    attempt = Connect(entry(client), target)
    with pytest.raises(BlockingIOError):
        attempt()  # the connect is already under way: EALREADY
    with pytest.raises(BlockingIOError):
        attempt()  # SO_ERROR is 0, yet there is no peer: not connected
    assert s.get_tcp_state(client) == trionet.TcpState.SYN_SENT
