"""Integer semantics that wrap: unsigned ints, deliberate signed wrap-around, int1 arithmetic.

Why a module of its own: the bin, cast, const, wrap and umulhi constructs share these rules and
they differ from the signed no-overflow rules of generators/semantics.py. Checked against
Triton's frontend (language/semantic.py) and its lowering to LLVM:

- `+ - *` on any integer type are plain `arith.addi/subi/muli` without overflow flags: they wrap
  modulo 2^bits (signed ones too; only `debug=True` adds an overflow assert). int1 is a 1-bit
  integer: `+` and `-` are xor, `*` is and.
- on unsigned types `//` is `arith.divui`, `%` is `arith.remui`, `>>` is a logical shift,
  comparisons and `maximum`/`minimum` are unsigned; division by zero and shifts by >= bits are
  undefined (LLVM poison).
- int->int casts sign-extend a signed source and zero-extend an unsigned or int1 one, then
  truncate: the result is the source's mathematical value modulo 2^bits of the target.
- uint->float is `uitofp`, float->uint `fptoui` (undefined below 0 or beyond the range).

Unsigned values are held as numpy uint64 arrays (the true value, < 2^bits), signed ones as int64.
"""

from __future__ import annotations

import numpy as np

from generators.numerics import INT_RANGE, UINTS, UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val, fl

SIGNED = ("int8", "int16", "int32", "int64")
BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "uint8": 8, "uint16": 16, "uint32": 32,
        "uint64": 64, "int1": 1}


def mask_of(dt: str) -> np.uint64:
    return np.uint64((1 << BITS[dt]) - 1)


def as_bits(v: Val) -> np.ndarray:
    """The value's two's-complement bit pattern as uint64 (signed values reinterpret)."""
    a = np.asarray(v.a)
    if a.dtype == np.bool_:
        return a.astype(np.uint64)
    if a.dtype == np.uint64:
        return a
    return a.astype(np.int64).astype(np.uint64)


def from_bits(dt: str, bits: np.ndarray) -> Val:
    """A uint64 bit pattern, reduced modulo 2^bits(dt), as a value of `dt`."""
    if dt == "int1":
        return Val((np.asarray(bits) & np.uint64(1)).astype(np.bool_), dt)
    b = np.asarray(bits, dtype=np.uint64) & mask_of(dt)
    if dt in UINTS:
        return Val(b, dt)
    n = BITS[dt]
    s = b.astype(np.int64)  # reinterprets for 64 bits
    if n < 64:
        s = np.where(s >= (1 << (n - 1)), s - (1 << n), s)
    return Val(s.astype(np.int64), dt)


def wrap_arith(op: str, x: Val, y: Val, dt: str) -> Val:
    """`+ - *` modulo 2^bits of `dt` (int1: xor, xor, and)."""
    a, b = as_bits(x), as_bits(y)
    with np.errstate(over="ignore"):
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "<<":
            amt = np.asarray(y.a).astype(np.int64)
            if np.any(amt < 0) or np.any(amt >= BITS[dt]):
                raise UndefinedBehaviour("shift out of range", f"<< by {amt.min()}..{amt.max()}")
            r = a << amt.astype(np.uint64)
        else:
            raise ValueError(f"wrapping op {op}")
    return from_bits(dt, r)


def uint_bin(op: str, x: Val, y: Val) -> Val:
    """A binary operator on two values of one unsigned dtype (bin nodes on unsigned ints)."""
    dt = x.dt
    if op in ("+", "-", "*", "<<"):
        return wrap_arith(op, x, y, dt)
    a, b = as_bits(x) & mask_of(dt), as_bits(y) & mask_of(dt)
    if op in ("//", "%"):
        if np.any(b == 0):
            raise UndefinedBehaviour("division by zero", f"unsigned {op}")
        safe = np.where(b == 0, np.uint64(1), b)
        return Val(a // safe if op == "//" else a % safe, dt)
    if op == ">>":
        amt = np.asarray(y.a).astype(np.int64) if np.asarray(y.a).dtype != np.uint64 else b.astype(np.int64)
        if np.any(amt < 0) or np.any(amt >= BITS[dt]):
            raise UndefinedBehaviour("shift out of range", f">> by {amt.min()}..{amt.max()}")
        return Val(a >> amt.astype(np.uint64), dt)
    if op in ("&", "|", "^"):
        f = {"&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor}[op]
        return Val(f(a, b), dt)
    cmp = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
           "==": np.equal, "!=": np.not_equal}
    if op in cmp:
        return Val(cmp[op](a, b), "int1")
    raise ValueError(f"unsigned op {op}")


def cast_int(x: Val, dt: str) -> Val:
    """Casts where the source or the target is unsigned (see the module docstring)."""
    if dt == "int1":
        return Val(np.asarray(x.a) != 0, "int1")
    if dt in UNIT_ROUNDOFF:  # uint -> float: uitofp, exact below 2^53 in float64
        a = np.asarray(x.a)
        if a.size and a.max() >= 2**53:
            raise UndefinedBehaviour("inexact int->float cast", "unsigned value beyond 2^53")
        return fl(dt, a.astype(np.float64), np.zeros(a.shape))
    if x.is_float:  # float -> uint: fptoui, undefined outside [0, 2^bits)
        t = np.trunc(x.a)
        if np.any((x.err > 0) & (np.trunc(x.a - x.err) != np.trunc(x.a + x.err))):
            raise UndefinedBehaviour("ambiguous float->int cast", "value within error of an integer")
        lo, hi = INT_RANGE[dt]
        if t.size and (t.min() < lo or t.max() > hi):
            raise UndefinedBehaviour("float->int cast overflow", f"to {dt}")
        return from_bits(dt, t.astype(np.uint64))
    return from_bits(dt, as_bits(x))
