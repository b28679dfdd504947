"""Churn loopback ports, to show the suite has no port races.

Run it in the background while the suite runs::

    python bench/port_churn.py --seconds 600 &
    python -m pytest -q

It sweeps the kernel's ephemeral port range (``ip_local_port_range``) again
and again, binding each port on ``127.0.0.1`` or ``::1`` (TCP, listening or
only bound, or UDP, in turn) and holding it for ``--hold`` seconds. A port
that a test found free and means to bind or connect to "in a moment" is
taken within one sweep, so a test that picks a port and binds it later, or
expects a connect to a closed port to be refused, fails under this churn
where it passes alone. The sweep is stricter than other programs using
ports at random: with the defaults (a sweep every ~3 s, half the binds TCP
on 127.0.0.1) a TCP port a test leaves free for a second is taken about
one time in six. Tests that bind port 0 and read
the port back, or hold a bound socket, are not disturbed.

The loop ends after ``--seconds`` (bounded, so a forgotten background run
stops by itself) or on SIGINT/SIGTERM, and prints what it did.
"""

from __future__ import annotations

import argparse
import collections
import errno
import signal
import socket
import time
from types import FrameType

# Most tests use TCP on 127.0.0.1, so half the binds are that kind.
_KINDS = (
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", True),
    (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", False),
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", False),
    (socket.AF_INET6, socket.SOCK_STREAM, "::1", True),
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", True),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::1", False),
)


def _port_range() -> range:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = (int(x) for x in f.read().split())
    return range(low, high + 1)


def churn(seconds: float, rate: int, hold: float) -> dict[str, int]:
    """Sweep the ephemeral range binding ``rate`` ports a second; return counts."""
    stop = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    held: collections.deque[tuple[float, socket.socket]] = collections.deque()
    counts = {"bound": 0, "in_use": 0}
    ports = _port_range()
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    start = time.monotonic()
    deadline = start + seconds
    i = 0
    try:
        while not stop and time.monotonic() < deadline:
            now = time.monotonic()
            while held and held[0][0] <= now:
                held.popleft()[1].close()
            for _ in range(per_tick):
                sweep, at = divmod(i, len(ports))
                i += 1
                # Each sweep shifts the kinds by one, so every port gets each kind in turn.
                family, kind, host, listening = _KINDS[(at + sweep) % len(_KINDS)]
                port = ports[at]
                sock = socket.socket(family, kind)
                try:
                    sock.bind((host, port))
                    if listening:
                        sock.listen(1)
                except OSError as exc:
                    sock.close()
                    if exc.errno != errno.EADDRINUSE:
                        raise
                    counts["in_use"] += 1
                    continue
                held.append((now + hold, sock))
                counts["bound"] += 1
            time.sleep(max(0.0, tick - (time.monotonic() - now)))
    finally:
        for _, sock in held:
            sock.close()
    counts["sweeps"] = i // len(ports)
    counts["seconds"] = round(time.monotonic() - start)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    parser.add_argument("--rate", type=int, default=10_000, help="ports bound per second")
    parser.add_argument("--hold", type=float, default=0.5, help="seconds each port is held")
    args = parser.parse_args()
    print("port_churn:", churn(args.seconds, args.rate, args.hold), flush=True)


if __name__ == "__main__":
    main()
