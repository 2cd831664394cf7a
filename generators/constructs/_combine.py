"""Combine functions shared by scans (tl.associative_scan) and custom reductions (tl.reduce).

Why a module of its own: a combine function is module-level `@triton.jit` source (registered
once per kernel through `Renderer.helper`) plus its numpy meaning, and the scan and reduce
constructs both use the same ones. Every combine here is associative; the ones a reduction may
use are also commutative (reductions combine in a tree of unspecified order), so their results
never depend on that order. Tuple combines take (value, value) pairs: argmin/argmax keep the
smaller index on ties, which makes them commutative and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Combine:
    name: str
    arity: int  # 1: scalar combine (a, b); 2: tuple combine (a0, a1, b0, b1)
    body: str  # the function's return expression(s)
    ints_only: bool = False
    reduce_ok: bool = True  # commutative as well as associative

    @property
    def fn_name(self) -> str:
        return f"_combine_{self.name}"

    def text(self) -> str:
        args = "a, b" if self.arity == 1 else "a0, a1, b0, b1"
        return f"@triton.jit\ndef {self.fn_name}({args}):\n    return {self.body}\n"


COMBINES: dict[str, Combine] = {c.name: c for c in (
    Combine("add", 1, "a + b"),
    Combine("mul", 1, "a * b"),
    Combine("max", 1, "tl.maximum(a, b)"),
    Combine("min", 1, "tl.minimum(a, b)"),
    Combine("xor", 1, "a ^ b", ints_only=True),
    Combine("or", 1, "a | b", ints_only=True),
    Combine("and", 1, "a & b", ints_only=True),
    # (value, index): the smaller (larger) value, on ties the smaller index
    Combine("argmin", 2, "tl.where((a0 < b0) | ((a0 == b0) & (a1 < b1)), a0, b0), "
                         "tl.where((a0 < b0) | ((a0 == b0) & (a1 < b1)), a1, b1)"),
    Combine("argmax", 2, "tl.where((a0 > b0) | ((a0 == b0) & (a1 < b1)), a0, b0), "
                         "tl.where((a0 > b0) | ((a0 == b0) & (a1 < b1)), a1, b1)"),
    # two independent reductions in one pass
    Combine("sum_max", 2, "a0 + b0, tl.maximum(a1, b1)"),
    # first-order linear recurrence h = a * h_prev + b (selective-scan kernels): associative only
    Combine("linrec", 2, "a0 * b0, a1 * b0 + b1", reduce_ok=False),
)}

SCALAR_UFUNC = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum,
                "xor": np.bitwise_xor, "or": np.bitwise_or, "and": np.bitwise_and}


def bits_bound(mag: float) -> float:
    """A bound on |a op b| for bitwise ops of two's-complement values of magnitude <= mag."""
    return float(2 ** (int(mag).bit_length() + 1))


# ---- exactness of products ----
def dyadic_bits(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element: binary digits after the point `f` (<= 24), significand bits `s` of the
    integer |a| * 2^f, and whether such an f exists. A product of values is exact in a dtype with
    m significand bits and normal exponents down to -e when sum(s) <= m and sum(f) <= e."""
    v = np.abs(np.asarray(a, dtype=np.float64))
    f = np.full(v.shape, -1, dtype=np.int64)
    for b in range(25):
        f = np.where((f < 0) & (v * 2.0**b == np.round(v * 2.0**b)), b, f)
    dyadic = f >= 0
    f = np.maximum(f, 0)
    m = np.where(dyadic, v * np.exp2(f), 0.0)
    with np.errstate(divide="ignore"):
        s = np.where(m >= 1, np.floor(np.log2(np.maximum(m, 1.0))) + 1, 0).astype(np.int64)
    return f, s, dyadic


def exact_sums(a: np.ndarray, dt: str, prefix: bool, ax: int = -1) -> np.ndarray:
    """True where every partial sum of the values (in any order) is exact in dt: all are dyadic
    with at most F fraction bits and the sum of magnitudes, in units of 2^-F, fits the
    significand. `prefix`: per prefix along ax (scans); else over the whole axis (reductions)."""
    from generators.values import MANTISSA_BITS

    bits = MANTISSA_BITS[dt]
    f, _, dyadic = dyadic_bits(a)
    v = np.abs(np.asarray(a, dtype=np.float64))
    if prefix:
        frac = np.maximum.accumulate(f, axis=ax)
        on = np.logical_and.accumulate(dyadic, axis=ax)
        mag = np.cumsum(v, axis=ax)
    else:
        frac = np.max(f, axis=ax)
        on = np.all(dyadic, axis=ax)
        mag = np.sum(v, axis=ax)
    return on & (mag * np.exp2(frac) < 2.0**bits)
