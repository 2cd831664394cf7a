"""Value-range and exactness algebra the generator uses to stay UB-free by construction.

Every tile value under construction carries a conservative range (so integer arithmetic never
overflows and divisors never reach zero) and, for floats, an exactness grid: every value is a
multiple of 1/q that its dtype holds exactly. Casts to int, comparisons and argmax are generated
only on exact values, so the reference never has to refuse a case as too close to call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generators import spec as S

INT_LIMIT = {"int8": 100, "int16": 30000, "int32": 2**30, "int64": 2**40}
FLOAT_LIMIT = {"fp32": 1e6, "fp16": 2000.0, "bf16": 2000.0, "fp64": 1e6}
MANTISSA_BITS = {"fp32": 24, "fp16": 11, "bf16": 8, "fp64": 53}
# Binary places below 1 a normal value of the dtype can hold (2**-MIN_EXP is its smallest normal).
MIN_EXP = {"fp32": 126, "fp16": 14, "bf16": 126, "fp64": 1022}


@dataclass
class TV:
    """A tile value under construction: expression, dtype, shape and a conservative value range."""

    e: S.Expr
    dt: str
    shape: tuple[int, ...]
    lo: float
    hi: float
    # Floats: every value is a multiple of 1/q and exact in dt; None once rounding may have happened.
    # Casts to int, comparisons and argmax are only generated on exact values (no ambiguity).
    q: float | None = None

    @property
    def is_float(self) -> bool:
        return self.dt in S.FLOAT_DTYPES

    @property
    def mag(self) -> float:
        return max(abs(self.lo), abs(self.hi))


def limit(dt: str) -> float:
    """Largest magnitude the generator lets a value of `dt` reach."""
    return FLOAT_LIMIT[dt] if dt in FLOAT_LIMIT else INT_LIMIT[dt]


def exact_q(dt: str, q: float | None, mag: float) -> float | None:
    """q if every multiple of 1/q up to `mag` is exact in dt (ints are always exact)."""
    if dt not in MANTISSA_BITS:
        return 1.0
    if q is None or q * max(mag, 1.0) >= 2.0 ** MANTISSA_BITS[dt]:
        return None
    return q


def both_q(a: TV, b: TV, f: Any) -> float | None:
    qa = a.q if a.is_float else 1.0
    qb = b.q if b.is_float else 1.0
    return None if qa is None or qb is None else f(qa, qb)


def mul_range(a: TV, b: TV) -> tuple[float, float]:
    ps = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return min(ps), max(ps)
