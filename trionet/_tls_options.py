"""TLS options (``net.TlsOptions``) turned into stdlib ``ssl.SSLContext`` objects.

A certificate, key or CA value that contains ``-----BEGIN`` is PEM text;
anything else is a path to a PEM file. The stdlib loads certificates and
keys only from files (``load_cert_chain`` has no in-memory form), so PEM
text is written to an anonymous in-memory file (``memfd_create``, reached
as ``/proc/self/fd/N``) that never touches a disk and is closed as soon as
OpenSSL has read it; where that does not exist, a private temporary file
(mode 0600, from ``mkstemp``) is used and deleted at once. CAs need no
file: ``load_verify_locations(cadata=...)`` takes PEM text.

SNI (``server.add_cert``): ``SniCertificates`` keeps one server
context per name and switches a connection to it from the stdlib's
``sni_callback``; a name it does not know keeps the default context.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import ssl
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Union

from ._core._checks import check_bool

__all__ = ["Pem", "SniCertificates", "TlsOptions", "client_context", "server_context"]

Pem = Union[str, bytes, "os.PathLike[str]"]

_PEM_MARK = "-----BEGIN"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TlsOptions:
    """Certificates, keys and verification for a TLS server or client.

    ``cert``, ``key`` and ``ca`` are PEM text (anything containing
    ``-----BEGIN``) or paths to PEM files; ``cert`` may hold a chain, leaf
    first. Values are checked for type here; files are read when a context
    is built (``client_context`` / ``server_context``), which reports a
    problem as a ``ValueError`` naming the argument.

    Attributes:
        cert: This side's certificate. Required for a server; a client
            sends it when the server asks for one (mutual TLS).
        key: The private key of ``cert`` (given together with ``cert``).
        ca: Certificates to trust, one PEM text or file (it may hold
            several). A client without ``ca`` trusts the system store; a
            server with ``ca`` asks clients for a certificate signed by it.
        passwd: The password of an encrypted ``key``.
        server_name: The name a client sends (SNI) and checks the server's
            certificate against; by default the host it connects to.
        verify: ``False`` turns off certificate and host-name checks on a
            client (testing only); on a server with ``ca`` it makes the
            client certificate optional (checked only when sent).
        alpn: Protocol names to offer (client) or accept (server), in order
            of preference.

    JSRE / Node equivalent: EdgerOS ``tlsOpt`` (``ca``, ``cert``, ``key``,
    ``passwd``, ``server``); Node's ``ca`` / ``cert`` / ``key`` /
    ``passphrase`` / ``servername`` / ``rejectUnauthorized`` /
    ``ALPNProtocols`` options.
    """

    cert: Pem | None = None
    key: Pem | None = None
    ca: Pem | None = None
    passwd: str | bytes | None = None
    server_name: str | None = None
    verify: bool = True
    alpn: Sequence[str] | None = None

    def __post_init__(self) -> None:
        for name in ("cert", "key", "ca"):
            _check_pem(name, getattr(self, name))
        if self.passwd is not None and not isinstance(self.passwd, (str, bytes)):
            raise TypeError(f"passwd must be str or bytes, not {type(self.passwd).__name__}")
        if self.server_name is not None:
            if not isinstance(self.server_name, str):
                name = type(self.server_name).__name__
                raise TypeError(f"server_name must be a str, not {name}")
            if not self.server_name:
                raise ValueError("server_name must not be empty")
        check_bool("verify", self.verify)
        if self.alpn is not None:
            _check_alpn(self.alpn)
        if (self.cert is None) != (self.key is None):
            missing = "key" if self.key is None else "cert"
            raise ValueError(f"{missing}: cert and key must be given together")


def _check_pem(name: str, value: object) -> None:
    if value is not None and not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be PEM text or a path, not {type(value).__name__}")
    if isinstance(value, (str, bytes)) and not value:
        raise ValueError(f"{name} must not be empty")


def _check_alpn(alpn: object) -> None:
    if isinstance(alpn, (str, bytes)) or not isinstance(alpn, Sequence):
        raise TypeError(f"alpn must be a list of str, not {type(alpn).__name__}")
    for item in alpn:
        if not isinstance(item, str):
            raise TypeError(f"alpn entries must be str, not {type(item).__name__}")
        if not 0 < len(item.encode()) < 256:
            raise ValueError(f"alpn entries must be 1..255 bytes long, got {item!r}")


def client_context(tls: TlsOptions | ssl.SSLContext) -> ssl.SSLContext:
    """The context a TLS client uses: ``tls`` itself if it is one, else built from it.

    Built contexts verify the server's certificate and host name unless
    ``verify=False``, trust ``ca`` (else the system store), refuse
    anything older than TLS 1.2 and offer ``alpn``.

    Raises:
        TypeError: ``tls`` is neither ``TlsOptions`` nor ``ssl.SSLContext``.
        ValueError: a certificate, key, CA or password could not be loaded
            (the message names the argument).
    """
    if isinstance(tls, ssl.SSLContext):
        return tls
    options = _check_tls(tls)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.verify:
        if options.ca is None:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    _load(ctx, options)
    return ctx


def server_context(tls: TlsOptions | ssl.SSLContext) -> ssl.SSLContext:
    """The context a TLS server uses: ``tls`` itself if it is one, else built from it.

    Built contexts present ``cert`` / ``key``, refuse anything older than
    TLS 1.2, accept the first of ``alpn`` the client offers and, with
    ``ca``, ask clients for a certificate (required unless ``verify=False``).

    Raises:
        TypeError: ``tls`` is neither ``TlsOptions`` nor ``ssl.SSLContext``.
        ValueError: no ``cert`` and ``key``, or they could not be loaded.
    """
    if isinstance(tls, ssl.SSLContext):
        return tls
    options = _check_tls(tls)
    if options.cert is None:
        raise ValueError("tls: a TLS server needs cert and key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if options.ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED if options.verify else ssl.CERT_OPTIONAL
    _load(ctx, options)
    return ctx


def _check_tls(tls: object) -> TlsOptions:
    if not isinstance(tls, TlsOptions):
        kind = type(tls).__name__
        raise TypeError(f"tls must be TlsOptions or ssl.SSLContext, not {kind}")
    return tls


def _load(ctx: ssl.SSLContext, options: TlsOptions) -> None:
    if options.ca is not None:
        _load_ca(ctx, options.ca)
    if options.cert is not None and options.key is not None:
        _load_chain(ctx, options.cert, options.key, options.passwd)
    if options.alpn:
        ctx.set_alpn_protocols(list(options.alpn))


def _load_ca(ctx: ssl.SSLContext, ca: Pem) -> None:
    try:
        if _is_pem(ca):
            text = ca.decode("ascii") if isinstance(ca, bytes) else str(ca)
            ctx.load_verify_locations(cadata=text)
        elif not os.path.isfile(ca):
            raise ValueError(f"ca: no such file: {os.fsdecode(ca)!r}")  # as cert and key say
        else:
            ctx.load_verify_locations(cafile=ca)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"ca: cannot load the CA certificates: {exc}") from exc


def _no_password() -> str:
    # Without a callback OpenSSL would prompt for the password on the terminal.
    raise ValueError("passwd: the key is encrypted and no passwd was given")


def _load_chain(ctx: ssl.SSLContext, cert: Pem, key: Pem, passwd: str | bytes | None) -> None:
    try:
        with _as_file(cert, "cert") as cert_path, _as_file(key, "key") as key_path:
            ctx.load_cert_chain(cert_path, key_path, passwd if passwd is not None else _no_password)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(f"key: the key does not match cert: {exc}") from exc
        what = "cert, key or passwd" if passwd is not None else "cert or key"
        raise ValueError(f"{what}: cannot load the certificate and key: {exc}") from exc


def _is_pem(value: Pem) -> bool:
    if isinstance(value, str):
        return _PEM_MARK in value
    if isinstance(value, bytes):
        return _PEM_MARK.encode() in value
    return False


@contextlib.contextmanager
def _as_file(value: Pem, name: str) -> Iterator[str | bytes | os.PathLike[str]]:
    """A path OpenSSL can read ``value`` from, valid inside the ``with`` block."""
    if not _is_pem(value):
        if not os.path.isfile(value):
            raise ValueError(f"{name}: no such file: {os.fsdecode(value)!r}")
        yield value
        return
    data = value.encode("ascii") if isinstance(value, str) else value
    assert isinstance(data, bytes)
    if _MEMFD:
        fd = os.memfd_create("trionet-tls-pem", os.MFD_CLOEXEC)
        try:
            _write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="trionet-tls-", suffix=".pem")  # mode 0600
    try:
        _write(fd, data)
        yield path
    finally:
        os.close(fd)
        os.unlink(path)


# memfd_create needs Linux 3.17; /proc is how OpenSSL reaches the file.
_MEMFD = sys.platform == "linux" and os.path.isdir("/proc/self/fd")


def _write(fd: int, data: bytes) -> None:
    with open(fd, "wb", closefd=False) as file:
        file.write(data)


class SniCertificates:
    """Server certificates chosen by the name the client asks for (SNI).

    ``add()`` builds a server context for a name and installs the
    dispatcher as ``default.sni_callback`` (once); a connection whose
    client names a known host switches to that context, any other name
    (or none) keeps ``default``. A name may be a wildcard ``*.example.com``
    (one label). Contexts built here take the default options' ``alpn``,
    ``verify`` and (when ``ca`` is not given) ``ca``.

    JSRE / Node equivalent: EdgerOS ``server.addcert({name, cert, key, ca,
    passwd})``; Node's ``server.addContext(hostname, context)``.
    """

    __slots__ = ("_base", "_contexts", "default")

    def __init__(self, default: ssl.SSLContext, options: TlsOptions | None = None) -> None:
        self.default = default
        self._base = options
        self._contexts: dict[str, ssl.SSLContext] = {}

    def add(
        self,
        name: str,
        cert: Pem,
        key: Pem,
        ca: Pem | None = None,
        passwd: str | bytes | None = None,
    ) -> None:
        """Serve ``cert`` / ``key`` to clients that ask for ``name`` (replacing an earlier one).

        Raises:
            TypeError, ValueError: a bad ``name`` or certificate arguments
                (the message names the argument).
            ValueError: the default context already has another ``sni_callback``.
        """
        host = _normalize(name)
        if cert is None and key is None:
            raise ValueError("cert, key: add_cert needs a certificate and its key")
        base = self._base or _NO_OPTIONS
        options = dataclasses.replace(
            base, cert=cert, key=key, ca=base.ca if ca is None else ca, passwd=passwd
        )
        ctx = server_context(options)
        current = self.default.sni_callback
        if current is None:
            self.default.sni_callback = self._pick
        elif getattr(current, "__self__", None) is not self:
            raise ValueError("tls: the SSLContext already has an sni_callback of its own")
        self._contexts[host] = ctx

    def lookup(self, name: str | None) -> ssl.SSLContext | None:
        """The context added for ``name`` (exact, then wildcard), or ``None``."""
        if not name:
            return None
        host = name.rstrip(".").lower()
        found = self._contexts.get(host)
        if found is None:
            _, dot, parent = host.partition(".")
            if dot:
                found = self._contexts.get("*." + parent)
        return found

    def _pick(self, conn: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: object) -> None:
        found = self.lookup(name)
        if found is not None:
            conn.context = found


_NO_OPTIONS = TlsOptions()


def _normalize(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    host = name.strip().rstrip(".")
    if not host:
        raise ValueError("name must not be empty")
    try:
        # The stdlib hands the callback the IDNA A-label ("xn--..."), lower case.
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"name is not a valid host name: {name!r}") from exc
