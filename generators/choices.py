"""Choice sources: the one interface every generator decision goes through.

A seeded `random.Random` drives campaigns; Hypothesis (`generators.strategies`) drives shrinkable
property tests; a byte-stream source serves coverage-guided fuzzers such as atheris'
FuzzedDataProvider. Same decisions in, same kernel out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Choices(Protocol):
    def integer(self, lo: int, hi: int) -> int:
        """Uniform in [lo, hi]."""
        ...


class ChoiceSource:
    """Derived helpers on top of a single primitive: an integer in a closed range."""

    def __init__(self, integer: Callable[[int, int], int]) -> None:
        self.integer = integer

    def pick(self, seq: Sequence[T]) -> T:
        return seq[self.integer(0, len(seq) - 1)]

    def coin(self, p: float) -> bool:
        return self.integer(0, 9999) < int(p * 10000)

    def weighted(self, options: dict[str, float]) -> str:
        items = [(k, w) for k, w in options.items() if w > 0]
        if not items:
            raise ValueError("every option has weight 0")
        total = sum(w for _, w in items)
        r = self.integer(0, 10**6 - 1) / 10**6 * total
        for k, w in items:
            r -= w
            if r < 0:
                return k
        return items[-1][0]


def seeded(seed: int) -> ChoiceSource:
    rng = random.Random(seed)
    return ChoiceSource(rng.randint)


def from_bytes(data: bytes) -> ChoiceSource:
    """Decisions read from a byte string (coverage-guided fuzzers); zeros once exhausted."""
    pos = 0

    def integer(lo: int, hi: int) -> int:
        nonlocal pos
        span = hi - lo + 1
        nbytes = max(1, (span.bit_length() + 7) // 8)
        chunk = data[pos:pos + nbytes]
        pos += nbytes
        return lo + int.from_bytes(chunk.ljust(nbytes, b"\0"), "little") % span

    return ChoiceSource(integer)
