"""The suite's DNS guard (tests/_no_dns.py): no lookup leaves this machine."""

from __future__ import annotations

import socket

import _no_dns
import pytest

from trionet import net


def test_a_name_not_in_etc_hosts_is_refused_without_a_query() -> None:
    with pytest.raises(socket.gaierror, match="looks up no name") as caught:
        socket.getaddrinfo("rw", 1)
    assert caught.value.errno == socket.EAI_NONAME


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "::1", "fe80::1%lo"])
def test_local_names_and_literals_still_resolve(host: str) -> None:
    assert socket.getaddrinfo(host, 1, type=socket.SOCK_STREAM)


async def test_trionet_lookups_go_through_the_guard() -> None:
    with pytest.raises(socket.gaierror, match=_no_dns.REFUSAL[:20]) as caught:
        async with net.connect(1, "rw"):
            pass
    assert caught.value.filename == "rw"
