"""The demo's ``trionet.net`` scenes: Node's events, TLS with SNI, a multi-task server."""

from __future__ import annotations

import ssl
from collections import Counter
from collections.abc import Callable
from functools import partial

from .. import net, task
from .._certs import DemoCA

__all__ = ["multi_task", "net_events", "tls_sni"]

Say = Callable[[str], object]

_EVENTS: dict[net.SocketEvent, str] = {
    "connect": "connected",
    "data": "the echo came back; the listener calls end()",
    "finish": "end() flushed the queue and sent our FIN",
    "end": "the server's FIN: it ends too (allow_half_open=False)",
    "close": "had_error; always the last event, exactly once",
}


def _echo(say: Say, sock: net.Socket) -> None:
    say(f"server: 'connection' from {sock.remote_address}:{sock.remote_port}")
    sock.on("data", sock.write)


def _narrate(say: Say, event: net.SocketEvent, *args: object) -> None:
    shown = "".join(f" {arg!r}" for arg in args)
    say(f"client: {event!r}{shown} - {_EVENTS[event]}")


async def net_events(say: Say) -> None:
    """A Node-style echo server, and a client that narrates each of its events."""
    say("== net (trionet.net): Node's events, an echo server and a client ==")
    async with net.create_server(partial(_echo, say)) as server:
        await server.listen(0, "127.0.0.1")
        # Node's construction order: every listener is on before connect().
        async with net.Socket() as sock:
            for event in _EVENTS:
                sock.on(event, partial(_narrate, say, event))
            sock.once("data", lambda _chunk: sock.end())
            await sock.connect(server.port(), "127.0.0.1", connect_timeout=2)
            sock.write(b"hello, net")
            await sock.wait_closed()
        server.close()


async def _reply(sock: net.Socket) -> str:
    """Everything the server sends until it closes (pulling: no ``'data'`` listener)."""
    return b"".join([chunk async for chunk in sock]).decode()


def _greet(sock: net.Socket) -> None:
    # Nobody reads it: it still sees the client's FIN, and closes (SPEC rule 12).
    sock.end("hello over TLS")


async def tls_sni(say: Say) -> None:
    """One TLS server, two certificates chosen by the name the client asks for."""
    say("== TLS (net.TlsOptions, server.add_cert): one server, a certificate per name (SNI) ==")
    ca = DemoCA("trionet demo CA")
    alpha, beta = ca.issue("alpha.test"), ca.issue("beta.test")
    say("made in memory: a CA, and certificates for alpha.test and for beta.test")
    tls = net.TlsOptions(cert=alpha.cert, key=alpha.key)
    async with net.create_server(_greet, tls=tls) as server:
        server.add_cert("beta.test", beta.cert, beta.key)
        await server.listen(0, "127.0.0.1")
        say("server: alpha.test's by default, beta.test's by add_cert for SNI 'beta.test'")
        # net has no public peer-certificate accessor; the proof is the
        # client's host-name check: each certificate names one host only, so
        # a handshake that verifies for `name` got the certificate for `name`.
        for name in ("alpha.test", "beta.test", "gamma.test"):
            client_tls = net.TlsOptions(ca=ca.pem, server_name=name)
            try:
                async with net.connect(
                    server.port(), "127.0.0.1", tls=client_tls, connect_timeout=2
                ) as sock:
                    reply = await _reply(sock)
                    say(
                        f"client asking for {name}: got the {name} certificate (verified), "
                        f"encrypted={sock.encrypted}, reply {reply!r}"
                    )
            except ssl.SSLCertVerificationError as exc:
                say(f"client asking for {name}: the default certificate, which fails the check:")
                say(f"  {exc.verify_message}")
        server.close()


def _whoami(sock: net.Socket) -> None:
    sock.end(task.current().name)


async def multi_task(say: Say) -> None:
    """``subs=2``: the master and two sub-server tasks take turns serving."""
    say("== multi-task server (create_server(subs=2)): connections handed round-robin ==")
    async with net.create_server(_whoami, subs=2) as server:
        await server.listen(0, "127.0.0.1")
        say(f"master {server.group_name} listens; 2 sub-servers run in their own tasks")
        served: list[str] = []
        for _ in range(6):
            async with net.connect(server.port(), "127.0.0.1", connect_timeout=2) as sock:
                served.append(await _reply(sock))
        server.close()
    say(f"6 clients, one after another, were served by: {', '.join(served)}")
    counts = ", ".join(f"{name} {n}" for name, n in sorted(Counter(served).items()))
    say(f"distribution: {counts}")
