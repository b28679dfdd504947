"""The DTLS handshake, with failures reported instead of retried until the timeout.

Theory of operation. ``trio.DTLSChannel.do_handshake`` ignores every
``OpenSSL.SSL.Error`` while it waits for the peer's next flight, because a
forged or corrupted datagram must not kill a handshake. A certificate that
fails verification, or a fatal alert from the peer, is also just an
``SSL.Error`` there, so the handshake would retransmit until its deadline and
the caller would see a bare timeout instead of the reason.

So every trionet DTLS context carries two pyOpenSSL callbacks (the verify
callback of ``_dtls_tls`` and ``info_callback`` here). OpenSSL calls them
synchronously inside ``do_handshake``, in the task that runs the handshake,
so a ``Watch`` published in a context variable for the duration of
``handshake`` tells them whose handshake it is (one server context serves
many associations at once). On a verify failure or a fatal alert the watch
records the error and cancels the handshake's scope; ``handshake`` then
raises the error. When our side is the one that failed, OpenSSL has just put a
fatal alert into the connection's outgoing buffer; the watch takes it out
(trio would be cancelled before sending it) and ``handshake`` sends it, so
the peer fails at once too instead of timing out.

The watch also keeps the ``SSL.Connection`` the callbacks were given, which
is how a channel learns the negotiated ALPN protocol and sends
``close_notify`` without touching trio's private attributes.
"""

from __future__ import annotations

import contextlib
import ssl
from contextvars import ContextVar

import trio
from OpenSSL import SSL

__all__ = ["Watch", "close_notify", "handshake", "info_callback", "report_verify_error", "send_raw"]

_FATAL = 2
_ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    116: "certificate_required",
    120: "no_application_protocol",
}


class Watch:
    """What the OpenSSL callbacks saw during one association's handshake."""

    def __init__(self, sni: str | None = None) -> None:
        self.sni = sni
        self.conn: SSL.Connection | None = None
        self.error: ssl.SSLError | None = None
        self.alert = b""
        self.scope = trio.CancelScope()

    def fail(self, error: ssl.SSLError) -> None:
        # The first failure is the reason; the alert that follows it is a consequence.
        if self.error is None:
            self.error = error
        self.scope.cancel()


_CURRENT: ContextVar[Watch | None] = ContextVar("trionet_dtls_watch", default=None)


def report_verify_error(error: ssl.SSLCertVerificationError) -> None:
    """The verify callback's report of a rejected certificate."""
    watch = _CURRENT.get()
    if watch is not None:
        watch.fail(error)


def info_callback(conn: SSL.Connection, where: int, ret: int) -> None:
    """pyOpenSSL info callback: SNI at the start, fatal alerts either way."""
    watch = _CURRENT.get()
    if watch is None:
        return
    watch.conn = conn
    if where & SSL.SSL_CB_HANDSHAKE_START and watch.sni is not None:
        # The ClientHello is not written yet; trio gives no other way to reach
        # the connection before it is.
        conn.set_tlsext_host_name(watch.sni.encode("idna"))
    if not where & SSL.SSL_CB_ALERT or ret >> 8 != _FATAL:
        return
    name = _ALERTS.get(ret & 0xFF, f"alert {ret & 0xFF}")
    if where & SSL.SSL_CB_WRITE:
        watch.alert += _drain(conn)
        watch.fail(_ssl_error(f"DTLS handshake failed, sent alert {name}", name))
    else:
        watch.fail(_ssl_error(f"DTLS peer refused the handshake: alert {name}", name))


def _ssl_error(message: str, reason: str) -> ssl.SSLError:
    error = ssl.SSLError(1, message)
    error.library = "SSL"
    error.reason = reason.upper()
    return error


def _drain(conn: SSL.Connection) -> bytes:
    chunks = []
    with contextlib.suppress(SSL.WantReadError):
        while True:
            chunks.append(conn.bio_read(65536))
    return b"".join(chunks)


async def send_raw(channel: trio.DTLSChannel, data: bytes) -> None:
    """Best effort: a lost alert or close_notify only costs the peer a timeout."""
    if data:
        with contextlib.suppress(OSError, trio.ClosedResourceError, trio.BusyResourceError):
            await channel.endpoint.socket.sendto(data, channel.peer_address)


async def handshake(channel: trio.DTLSChannel, watch: Watch) -> None:
    """``channel.do_handshake()``, raising the reason a handshake failed.

    Raises:
        ssl.SSLCertVerificationError: The peer's certificate was refused.
        ssl.SSLError: The peer sent a fatal alert (it refused ours), or
            OpenSSL failed the handshake for another reason.
        trio.BrokenResourceError: The peer started a new handshake meanwhile.
    """
    token = _CURRENT.set(watch)
    try:
        with watch.scope:
            await channel.do_handshake()
    finally:
        _CURRENT.reset(token)
    await send_raw(channel, watch.alert)
    if watch.error is not None:
        raise watch.error


def close_notify(watch: Watch) -> bytes:
    """The ``close_notify`` record for the peer, or ``b""`` if there is none to send."""
    conn = watch.conn
    if conn is None:
        return b""
    with contextlib.suppress(SSL.Error):
        conn.shutdown()
    return _drain(conn)
