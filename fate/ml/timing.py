"""Where a party's time goes: wall seconds per named phase, summed over a run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class PhaseTimer:
    """`with timer("encrypt"): ...` adds the block's wall time to that phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.marks: list[float] = []

    def mark(self) -> None:
        """Note an instant (e.g. an epoch boundary); per-epoch durations are the gaps between marks."""
        self.marks.append(time.perf_counter())

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start

    def merged(self, other: PhaseTimer) -> dict[str, float]:
        out = dict(self.seconds)
        for phase, seconds in other.seconds.items():
            out[phase] = out.get(phase, 0.0) + seconds
        return out
