"""One trustme CA for the ecosystem tests: server and client ``TlsOptions`` for loopback."""

from __future__ import annotations

import functools

import trustme

from trionet import net

NAMES = ("localhost", "127.0.0.1", "::1")


@functools.cache
def ca() -> trustme.CA:
    return trustme.CA()


@functools.cache
def server_tls(*alpn: str) -> net.TlsOptions:
    leaf = ca().issue_cert(*NAMES)
    return net.TlsOptions(
        cert=leaf.cert_chain_pems[0].bytes(),
        key=leaf.private_key_pem.bytes(),
        alpn=list(alpn) or None,
    )


@functools.cache
def client_tls(*alpn: str) -> net.TlsOptions:
    return net.TlsOptions(ca=ca().cert_pem.bytes(), alpn=list(alpn) or None)
