"""``python -m trionet``: the command line (``demo`` for now)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._demo import demo

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``trionet`` command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="trionet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="show trionet's layers talking to each other on loopback")
    args = parser.parse_args(argv)
    if args.command == "demo":
        trio.run(demo, print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
