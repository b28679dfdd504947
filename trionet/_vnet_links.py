"""Links of the virtual network: latency, jitter, loss, bandwidth and partitions.

A link joins two hosts, both directions alike. It decides when a packet
sent now arrives (``arrival``), or that a datagram is lost. TCP never loses
a segment: a lost one arrives later, after retransmission timeouts
(``RTO_MIN`` doubling), as a kernel's retransmission would make it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

__all__ = ["RTO_MAX", "RTO_MIN", "Link", "check_link"]

RTO_MIN: Final = 0.2  # Linux's TCP_RTO_MIN
RTO_MAX: Final = 120.0  # Linux's TCP_RTO_MAX


@dataclass
class Link:
    """The parameters of one link, and the time its wire is busy until (per direction)."""

    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    bandwidth: float | None = None
    busy_until: dict[str, float] = field(default_factory=dict)

    def arrival(
        self, rng: random.Random, now: float, direction: str, nbytes: int, reliable: bool
    ) -> float | None:
        """When a packet of ``nbytes`` sent now arrives; ``None`` if it is lost (datagrams)."""
        start = now
        if self.bandwidth is not None:
            start = max(now, self.busy_until.get(direction, now)) + nbytes / self.bandwidth
            self.busy_until[direction] = start
        delay = self.latency + (rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
        if not self.loss:
            return start + delay
        if not reliable:
            return None if rng.random() < self.loss else start + delay
        rto = RTO_MIN
        while rng.random() < self.loss:
            start += rto
            rto = min(rto * 2, RTO_MAX)
        return start + delay


def check_link(
    latency: object, jitter: object, loss: object, bandwidth: object
) -> tuple[float | None, float | None, float | None, float | None]:
    """Validate link parameters (``None`` keeps a value): seconds, a probability, bytes/s."""
    checked: list[float | None] = []
    for name, value in (("latency", latency), ("jitter", jitter), ("loss", loss)):
        checked.append(
            None if value is None else _number(name, value, 1.0 if name == "loss" else None)
        )
    if bandwidth is not None:
        bw = _number("bandwidth", bandwidth, None)
        if bw <= 0:
            raise ValueError(f"bandwidth must be > 0 bytes per second, got {bandwidth!r}")
        checked.append(bw)
    else:
        checked.append(None)
    return checked[0], checked[1], checked[2], checked[3]


def _number(name: str, value: object, high: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not 0.0 <= number < float("inf") or (high is not None and number > high):
        bound = f"0..{high}" if high is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return number
