"""``python -m trionet``: a small netcat built on trionet.

Commands: ``serve`` (echo, discard or print; TCP, TLS or Unix), ``connect``
(stdin to a connection, the connection to stdout), ``bench`` (a load
generator) and ``demo`` (every layer talking to itself on loopback).
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Callable, Sequence

import trio

from ._addr import SockAddr, to_sockaddr
from ._cli_args import build_parser
from ._cli_bench import Load, Report, bench, plain_progress
from ._cli_connect import connect
from ._cli_serve import serve
from ._demo import demo
from ._listen_fds import listen_fds
from ._tls_options import TlsOptions, client_context, server_context

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``trionet`` command line; return the exit status."""
    parser = build_parser(__doc__)
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ssl.SSLError, trio.TooSlowError, trio.BrokenResourceError) as exc:
        print(f"trionet {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1


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
        parser.error(str(exc))


def _client_tls(parser: argparse.ArgumentParser, args: argparse.Namespace) -> object:
    if not args.tls:
        return None
    try:
        return client_context(TlsOptions(ca=args.ca))
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))


def _target(parser: argparse.ArgumentParser, text: str) -> SockAddr:
    host, _, port = text.rpartition(":")
    try:
        return to_sockaddr((host.strip("[]"), int(port)), "TARGET")
    except ValueError:
        parser.error(f"TARGET must be a numeric HOST:PORT, got {text!r}")


def _progress() -> Callable[[Report, float], None]:
    try:
        from ._cli_rich import rich_progress
    except ImportError:
        return plain_progress
    return rich_progress()


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


if __name__ == "__main__":
    sys.exit(main())
