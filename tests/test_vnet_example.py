"""examples/vnet_retrying_client.py: retries through loss and a partition, deterministically."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import trio
import trio.testing

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vnet_retrying_client.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vnet_retrying_client", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_same_seed_same_trace_other_seed_same_outcome() -> None:
    example = _example()

    def run(seed: int) -> tuple[object, float]:
        start = time.perf_counter()
        outcome = trio.run(example.main, seed, clock=trio.testing.MockClock(autojump_threshold=0))
        return outcome, time.perf_counter() - start

    (first, real_first), (again, _), (other, _) = run(7), run(7), run(8)
    assert first.trace == again.trace  # type: ignore[attr-defined]
    assert first.trace != other.trace  # type: ignore[attr-defined]
    for outcome in (first, other):
        assert outcome.answers == 25  # type: ignore[attr-defined]
        assert outcome.udp_retries > 0  # type: ignore[attr-defined]  # 10% loss
        assert outcome.tcp_retries > 0  # type: ignore[attr-defined]  # the partition
        assert outcome.virtual_seconds > 30  # type: ignore[attr-defined]
    kinds = {entry.kind for entry in first.trace}  # type: ignore[attr-defined]
    assert {"lost", "partition", "heal", "retransmit", "udp", "data"} <= kinds
    assert real_first < 1.0
