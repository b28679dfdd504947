"""The command line's arguments: one parser, with ``--help`` on every command."""

from __future__ import annotations

import argparse

__all__ = ["build_parser"]


def _number(text: str, kind: type[int] | type[float], what: str) -> float:
    # argparse names the type function in its own message ("invalid _port
    # value"): the message says what was expected instead.
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _port(text: str) -> int:
    value = int(_number(text, int, "a port number 0..65535"))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, got {value}")
    return value


def _positive(text: str) -> int:
    value = int(_number(text, int, "a whole number >= 1"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(_number(text, int, "a whole number >= 0"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _mib(text: str) -> float:
    value = _number(text, float, "a number of MiB")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 (ping-pong) or a number of MiB, got {text}")
    return value


def _seconds(text: str) -> float:
    value = _number(text, float, "a number of seconds")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def build_parser(
    description: str | None,
) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``trionet`` parser, and the parser of each of its four commands by name.

    A command's own parser reports its errors, so its usage is printed.
    """
    # The description is a docstring: its reST literals read as plain text here.
    text = None if description is None else description.replace("``", "")
    parser = argparse.ArgumentParser(prog="trionet", description=text)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="show trionet's layers talking to each other on loopback"
    )

    serve = commands.add_parser("serve", help="listen and echo, discard or print what comes")
    serve.add_argument("--host", default=None, help="address to listen on (default: all)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--port", type=_port, default=0, help="TCP port (default: any free one)")
    where.add_argument("--unix", metavar="PATH", help="listen on a Unix-domain socket")
    where.add_argument(
        "--systemd", action="store_true", help="serve the sockets systemd passed (LISTEN_FDS)"
    )
    serve.add_argument(
        "--proxy-protocol", action="store_true", help="read a PROXY v1/v2 header first (HAProxy)"
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain: serve TLS")
    serve.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    serve.add_argument(
        "--mode",
        choices=("echo", "discard", "print"),
        default="echo",
        help="echo what comes back (default), discard it, or print it on stdout",
    )
    serve.add_argument(
        "--subs", type=_count, default=0, metavar="N", help="also serve from N sub-server tasks"
    )

    connect = commands.add_parser("connect", help="stdin to a connection, the connection to stdout")
    connect.add_argument("host", nargs="?", help="host name or address")
    connect.add_argument("port", nargs="?", type=_port, help="TCP port")
    connect.add_argument("--unix", metavar="PATH", help="connect to a Unix-domain socket")
    connect.add_argument("--tls", action="store_true", help="speak TLS, verifying the server")
    connect.add_argument("--ca", metavar="FILE", help="PEM CA certificates to trust (needs --tls)")
    connect.add_argument("--timeout", type=_seconds, default=None, help="connect timeout, seconds")

    bench = commands.add_parser("bench", help="load an echo server and measure it")
    bench.add_argument(
        "target", metavar="TARGET", help="the echo server, as HOST:PORT (a name or an address)"
    )
    bench.add_argument(
        "--connections", type=_positive, default=50, metavar="N", help="connections (default 50)"
    )
    bench.add_argument(
        "--messages",
        type=_positive,
        default=2000,
        metavar="M",
        help="round trips per connection (default 2000)",
    )
    bench.add_argument(
        "--size", type=_positive, default=64, metavar="B", help="message size, bytes (default 64)"
    )
    bench.add_argument(
        "--stream",
        type=_mib,
        default=0.0,
        metavar="MIB",
        help="instead of ping-pong, stream MIB per connection and read the echo back"
        " (0, the default: ping-pong)",
    )
    bench.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="give up when nothing is echoed for this long (default 10; 0: never)",
    )
    return parser, {"demo": demo, "serve": serve, "connect": connect, "bench": bench}
