"""Certificates and keys for DTLS: ``TlsOptions`` turned into pyOpenSSL contexts.

trio's DTLS speaks pyOpenSSL, not the stdlib ``ssl`` module, so the
``TlsOptions`` that ``net`` turns into an ``ssl.SSLContext`` are turned into
an ``OpenSSL.SSL.Context`` here, with the same rules: a value that contains
``-----BEGIN`` is PEM text, anything else is a path, read when the context is
built (before any socket exists); a load failure is a ``ValueError`` naming
the argument. pyOpenSSL takes PEM from memory, so no file is needed.

pyOpenSSL checks the chain but has no host-name check, so the verify callback
below adds one for the certificate at depth 0 (RFC 6125: subjectAltName only,
a wildcard only as the whole leftmost label).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL, crypto

from ._tls_options import Pem, TlsOptions

__all__ = ["client_context", "server_context"]

OnVerifyError = Callable[[ssl.SSLCertVerificationError], None]

_SigningKey: TypeAlias = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | dsa.DSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
_SIGNING_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


def _pem_bytes(value: Pem, name: str) -> bytes:
    if isinstance(value, bytes) and b"-----BEGIN" in value:
        return value
    if isinstance(value, str) and "-----BEGIN" in value:
        return value.encode("ascii")
    try:
        with open(value, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {os.fsdecode(value)!r}: {exc}") from exc


def _certificates(value: Pem, name: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(_pem_bytes(value, name))
    except ValueError as exc:
        raise ValueError(f"{name}: cannot load the certificates: {exc}") from exc


def _private_key(value: Pem, passwd: str | bytes | None) -> _SigningKey:
    password = passwd.encode() if isinstance(passwd, str) else passwd
    try:
        key = load_pem_private_key(_pem_bytes(value, "key"), password)
    except (TypeError, ValueError) as exc:
        # cryptography says TypeError for a missing or needless password.
        what = "key or passwd" if passwd is not None or isinstance(exc, TypeError) else "key"
        raise ValueError(f"{what}: cannot load the private key: {exc}") from exc
    if not isinstance(key, _SIGNING_KEYS):
        # The PEM text holds the wrong kind of key: a bad value, so not TypeError.
        raise ValueError(f"key: a {type(key).__name__} cannot sign a handshake")  # noqa: TRY004
    return key


def _new_context(options: TlsOptions) -> SSL.Context:
    ctx = SSL.Context(SSL.DTLS_METHOD)
    if options.cert is not None and options.key is not None:
        chain = _certificates(options.cert, "cert")
        ctx.use_certificate(chain[0])
        for extra in chain[1:]:
            ctx.add_extra_chain_cert(extra)
        ctx.use_privatekey(_private_key(options.key, options.passwd))
        try:
            ctx.check_privatekey()
        except SSL.Error as exc:
            raise ValueError(f"key: the key does not match cert: {exc}") from exc
    if options.ca is not None:
        store = ctx.get_cert_store()
        assert store is not None  # a fresh context always has one
        for cert in _certificates(options.ca, "ca"):
            store.add_cert(crypto.X509.from_cryptography(cert))
    return ctx


def server_context(options: TlsOptions, on_error: OnVerifyError) -> SSL.Context:
    """A server context: ``cert`` and ``key`` required; ``ca`` asks clients for theirs."""
    if options.cert is None:
        raise ValueError("tls: a DTLS server needs cert and key")
    ctx = _new_context(options)
    if options.ca is not None:
        # As for net: verify=False makes the client certificate optional, checked when sent.
        required = SSL.VERIFY_FAIL_IF_NO_PEER_CERT if options.verify else 0
        ctx.set_verify(SSL.VERIFY_PEER | required, _verifier(None, on_error))
    if options.alpn:
        accepted = [name.encode() for name in options.alpn]
        ctx.set_alpn_select_callback(lambda _conn, offered: _pick(accepted, offered))
    return ctx


def _pick(accepted: list[bytes], offered: list[bytes]) -> bytes | SSL._NoOverlappingProtocols:
    # No overlap answers "no ALPN" (NOACK) rather than failing, as the stdlib does.
    return next((name for name in accepted if name in offered), SSL.NO_OVERLAPPING_PROTOCOLS)


def client_context(options: TlsOptions, host: str, on_error: OnVerifyError) -> SSL.Context:
    """A client context that checks the server's chain and its name (``host`` by default)."""
    ctx = _new_context(options)
    if options.verify:
        if options.ca is None:
            ctx.set_default_verify_paths()
        ctx.set_verify(SSL.VERIFY_PEER, _verifier(options.server_name or host, on_error))
    if options.alpn:
        ctx.set_alpn_protos([name.encode() for name in options.alpn])
    return ctx


_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_IP_ADDRESS_MISMATCH = 64  # X509_V_ERR_IP_ADDRESS_MISMATCH


def _verifier(
    name: str | None, on_error: OnVerifyError
) -> Callable[[SSL.Connection, crypto.X509, int, int, int], bool]:
    """OpenSSL's chain verdict, plus the name check at depth 0.

    A failure is reported through ``on_error`` (to the handshake watch) and
    returned as ``False``, so OpenSSL sends the peer an alert; raising here
    would skip the alert.
    """

    def verify(_conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
        if not ok:
            on_error(_verify_error(errnum, _describe(errnum)))
            return False
        if depth == 0 and name is not None and not _matches(cert.to_cryptography(), name):
            code = _IP_ADDRESS_MISMATCH if _ip(name) else _HOSTNAME_MISMATCH
            on_error(_verify_error(code, f"certificate is not valid for {name!r}"))
            return False
        return True

    return verify


def _verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


_MESSAGES = {
    2: "unable to get issuer certificate",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    21: "unable to verify the first certificate",
}


def _describe(errnum: int) -> str:
    return _MESSAGES.get(errnum, f"X509 verify error {errnum}")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.partition("%")[0])
    except ValueError:
        return None


def _matches(cert: x509.Certificate, name: str) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    ip = _ip(name)
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    wanted = name.rstrip(".").lower()
    return any(
        _dns_match(pattern.lower(), wanted) for pattern in san.get_values_for_type(x509.DNSName)
    )


def _dns_match(pattern: str, name: str) -> bool:
    if not pattern.startswith("*."):
        return pattern == name
    head, dot, rest = name.partition(".")
    return bool(head) and bool(dot) and rest == pattern[2:] and "." in rest
