from __future__ import annotations

import trionet
from trionet import socket as s


async def test_echo_roundtrip() -> None:
    listener = s.socket(s.AF_INET, s.SOCK_STREAM)
    client = s.socket(s.AF_INET, s.SOCK_STREAM)
    try:
        s.bind(listener, ("127.0.0.1", 0))
        s.listen(listener)
        address = s.sock_name(listener)
        assert isinstance(address, trionet.SockAddr)
        await s.connect(client, address, timeout=5)
        conn, _peer = await s.accept(listener, timeout=5)
        try:
            assert await s.send(client, b"ping") == 4
            assert await s.recv(conn, timeout=5) == b"ping"
        finally:
            s.close(conn)
    finally:
        s.close(client)
        s.close(listener)
