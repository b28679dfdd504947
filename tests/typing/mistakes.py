"""Deliberate type mistakes: ``test_typing.py`` expects mypy to report each ``# mistake`` line."""

from __future__ import annotations

import trio

from trionet import net, task
from trionet.tcp import Tcp


def takes_int(n: int) -> None:
    print(n + 1)


async def main(sock: net.Socket, server: net.Server, conn: Tcp) -> None:
    sock.on("data", takes_int)  # mistake: a 'data' listener taking int
    sock.on("dataa", print)  # mistake: a misspelt event
    net.connect(8124, tls=12345)  # mistake: tls= is TlsOptions or an SSLContext
    await conn.send_all(3.14)  # mistake: data is bytes-like or str
    async with task.open_task(trio.sleep, "x"):  # mistake: trio.sleep takes seconds
        pass
    sock.on("close", lambda: None)  # mistake: a 'close' listener gets had_error
    server.on("connection", takes_int)  # mistake: 'connection' gives a Socket
    sock.write(42)  # mistake: write takes bytes-like or str
    await server.listen("8124")  # mistake: a port is an int
