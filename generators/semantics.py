"""Value algebra of the reference evaluator: values with error bounds, UB, roundings.

Why a module of its own: every construct's reference semantics (generators/constructs/) builds
on these few rules, and the evaluator driver (oracles/reference.py) only walks programs. A value
is a numpy array in a wide type (float64 rounded to its dtype, int64, bool) plus, for floats, a
first-order absolute error bound: zero while the math is exact, grown by two roundings (the
reference's and the backend's) whenever an op's exact result is not representable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generators.numerics import INT_RANGE, MAX_FINITE, TINY, UNIT_ROUNDOFF, round_to, to_storage

MAX_LOOP_TRIPS = 4096


class UndefinedBehaviour(Exception):
    """The case is invalid on its inputs; `reason` is a short category for statistics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class EarlyReturn(Exception):
    """`return` unwinding to the kernel or helper function that runs it (control flow, not an error)."""

    def __init__(self, value: Any = None) -> None:
        super().__init__("return")
        self.value = value


@dataclass
class Val:
    a: np.ndarray  # float64 (floats, rounded to dt), int64 (ints), bool (int1), int64 offsets (ptr)
    dt: str
    err: np.ndarray | None = None  # abs error bound, floats only
    buf: str | None = None  # pointers: the buffer they point into

    @property
    def is_float(self) -> bool:
        return self.dt in UNIT_ROUNDOFF


@dataclass
class Reference:
    """Expected final contents of every buffer, with per-element error bounds."""

    values: dict[str, np.ndarray]  # float64 / int64 / bool, unpadded
    errs: dict[str, np.ndarray]  # float64 abs bound (zeros for ints)
    written: dict[str, np.ndarray]  # bool: element written by some store
    stats: dict[str, Any] = field(default_factory=dict)

    def expected_storage(self, name: str, dtype: str) -> np.ndarray:
        return to_storage(dtype, self.values[name])


def round_term(dt: str, r: np.ndarray, r64: np.ndarray, prop: np.ndarray) -> np.ndarray:
    """Error added by rounding an op's result: none when inputs are exact and r is representable.

    Two roundings, not one: the bound is on |reference - backend|, and both round independently
    (a backend that fuses a*b+c into one FMA rounds once where the reference rounds twice).
    """
    inexact = (prop > 0) | (r != r64)
    return np.where(inexact, 2 * UNIT_ROUNDOFF[dt] * (np.abs(r) + prop) + TINY[dt], 0.0)


def fl(dt: str, r64: np.ndarray, prop: np.ndarray, extra: np.ndarray | float = 0.0) -> Val:
    r64 = np.asarray(r64, dtype=np.float64)
    if not np.all(np.isfinite(r64)) or np.any(np.abs(r64) > MAX_FINITE[dt]):
        raise UndefinedBehaviour("non-finite float", f"{dt} result overflows or is NaN")
    r = round_to(dt, r64)
    err = prop + round_term(dt, r, r64, prop) + extra
    return Val(r, dt, np.broadcast_to(err, r.shape).astype(np.float64))


def int_val(dt: str, r: np.ndarray, what: str) -> Val:
    lo, hi = INT_RANGE[dt]
    r = np.asarray(r)
    if r.size and (r.min() < lo or r.max() > hi):
        raise UndefinedBehaviour("signed overflow", f"{what} leaves {dt}")
    return Val(r.astype(np.int64), dt)


def overflow_guard(dt: str, est: np.ndarray, what: str) -> None:
    """For int64 arithmetic, check in float64 before numpy would silently wrap."""
    if dt == "int64" and est.size and np.max(np.abs(est)) >= 2.0**62:
        raise UndefinedBehaviour("signed overflow", f"{what} may leave int64")


def exact_sum(a: np.ndarray, ax: int, dt: str) -> np.ndarray:
    """True where every partial sum, in any order, is exact: all terms are multiples of 2^-8 and
    the sum of magnitudes fits the significand."""
    q = a * 256.0
    on_grid = np.all(q == np.round(q), axis=ax)
    from generators.values import MANTISSA_BITS

    bits = MANTISSA_BITS[dt]
    return on_grid & (np.sum(np.abs(q), axis=ax) < 2.0**bits)


def exact_dot(terms: list[np.ndarray], mag: np.ndarray) -> np.ndarray:
    """Products and sums of a float dot are exact when inputs sit on a 2^-8 grid and the sum of
    magnitudes (in units of 2^-16) fits fp32's significand."""
    for t in terms:
        q = t * 256.0
        if not np.all(q == np.round(q)):
            return np.zeros(mag.shape, dtype=bool)
    return mag * 65536.0 < 2.0**24


