"""``python -m trionet``: a small netcat built on trionet.

Commands: ``serve`` (echo, discard or print; TCP, TLS or Unix), ``connect``
(stdin to a connection, the connection to stdout), ``bench`` (a load
generator) and ``demo`` (every layer talking to itself on loopback).
"""

from __future__ import annotations

import argparse
import socket as stdsocket
import ssl
import sys
from collections.abc import Callable, Sequence

import trio

from .._core._addr import SockAddr, to_sockaddr
from .._listen_fds import listen_fds
from .._tls_options import TlsOptions, client_context, server_context
from ._args import build_parser
from ._bench import Load, Report, bench, plain_progress
from ._connect import connect
from ._demo import demo
from ._serve import serve

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``trionet`` command line; return the exit status."""
    top, commands = build_parser(__doc__)
    args = top.parse_args(argv)
    try:
        return _run(commands[args.command], args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ssl.SSLError, trio.TooSlowError, trio.BrokenResourceError) as exc:
        print(f"trionet {args.command}: {_one_line(exc, _where(args))}", file=sys.stderr)
        return 1


def _where(args: argparse.Namespace) -> str | None:
    """The address or path the command talks to, for its error messages (SPEC rule 34)."""
    if args.command == "bench":
        return str(args.target)
    if args.command not in ("serve", "connect"):
        return None
    if args.unix is not None:
        return str(args.unix)
    if args.command == "serve":
        return None if args.systemd else f"{args.host or '*'}:{args.port}"
    return f"{args.host}:{args.port}"


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "demo":
        trio.run(demo, print)
    elif args.command == "serve":
        tls = _server_tls(parser, args)
        fds = listen_fds() if args.systemd else []
        if args.systemd and not fds:
            parser.error("--systemd: no sockets were passed (LISTEN_FDS unset, or for another pid)")
        trio.run(
            lambda: serve(
                host=args.host,
                port=args.port,
                unix=args.unix,
                fds=fds,
                mode=args.mode,
                tls=tls,
                subs=args.subs,
                proxy_protocol=args.proxy_protocol,
            )
        )
    elif args.command == "connect":
        if args.unix is None and (args.host is None or args.port is None):
            parser.error("give HOST PORT, or --unix PATH")
        if args.ca is not None and not args.tls:
            parser.error("--ca is for TLS: add --tls (without it the connection is plain text)")
        tls = _client_tls(parser, args)
        trio.run(
            lambda: connect(
                host=args.host, port=args.port, unix=args.unix, timeout=args.timeout, tls=tls
            )
        )
    else:
        load = Load(
            target=_target(parser, args.target),
            connections=args.connections,
            messages=args.messages,
            size=args.size,
            stream_mib=args.stream,
            timeout=args.timeout or None,
        )
        progress = _progress()
        report: Report = trio.run(bench, load, progress)
        progress(report, 1.0)
        print(report.summary())
    return 0


def _server_tls(parser: argparse.ArgumentParser, args: argparse.Namespace) -> object:
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_cert is None:
        return None
    # The context is built here, so a bad file is a usage error, not a traceback.
    try:
        return server_context(TlsOptions(cert=args.tls_cert, key=args.tls_key))
    except (TypeError, ValueError) as exc:
        parser.error(_option_error(exc))


def _client_tls(parser: argparse.ArgumentParser, args: argparse.Namespace) -> object:
    if not args.tls:
        return None
    try:
        return client_context(TlsOptions(ca=args.ca))
    except (TypeError, ValueError) as exc:
        parser.error(_option_error(exc))


# TlsOptions names its fields in its errors; the command line names its options.
_OPTIONS = {"cert": "--tls-cert", "key": "--tls-key", "ca": "--ca"}


def _option_error(exc: Exception) -> str:
    """``cert: no such file: 'x'`` as ``--tls-cert: no such file: 'x'``: one style for all."""
    field, colon, rest = str(exc).partition(":")
    return f"{_OPTIONS[field]}:{rest}" if colon and field in _OPTIONS else str(exc)


def _target(parser: argparse.ArgumentParser, text: str) -> SockAddr:
    host, colon, port = text.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit():
        parser.error(f"TARGET must be HOST:PORT, got {text!r}")
    try:
        return to_sockaddr((host, int(port)), "TARGET")
    except ValueError:
        pass  # a host name: resolve it, as connect does
    try:
        found = stdsocket.getaddrinfo(host, int(port), type=stdsocket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        parser.error(f"TARGET: cannot resolve {host!r}: {exc}")
    # The first address, as the system orders them (IPv6 first where it is routed).
    return to_sockaddr(found[0][4][:2], "TARGET")


def _progress() -> Callable[[Report, float], None]:
    try:
        from ._rich import rich_progress
    except ImportError:
        return plain_progress
    return rich_progress()


def _one_line(exc: BaseException, where: str | None) -> str:
    """The error's first line; one that does not name its address gets ``where``."""
    text = (str(exc) or type(exc).__name__).splitlines()[0]
    if where is not None and getattr(exc, "filename", None) is None and repr(where) not in text:
        text += f": {where!r}"
    return text
