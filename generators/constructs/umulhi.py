"""tl.umulhi(a, b): the high half of the unsigned product of two 32- or 64-bit integers.

Triton types it like any binary op (both operands of one dtype among int32/int64/uint32/uint64)
and lowers it to `__nv_umulhi` / `__nv_umul64hi` (cuda) or `mul_hi` (hip): the operands'
bit patterns are multiplied as unsigned numbers and the high half is reinterpreted as the
operands' dtype, signed ones included. Generated inside unsigned computations (wrap.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.constructs.wrap import MUL, as_type, full_range, int_source, narrow, typed_const
from generators.semantics import Val
from generators.values import TV
from generators.wrapping import BITS, as_bits, from_bits

DTYPES = ("int32", "int64", "uint32", "uint64")


def umulhi_bits(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """High `bits` of the 2*bits-bit unsigned product of two uint64 bit patterns."""
    if bits == 32:
        m = np.uint64(0xFFFFFFFF)
        return ((a & m) * (b & m)) >> np.uint64(32)
    # 64 x 64 -> 128 bits from 32-bit halves, all in uint64 without overflow.
    m, s = np.uint64(0xFFFFFFFF), np.uint64(32)
    al, ah, bl, bh = a & m, a >> s, b & m, b >> s
    ll, lh, hl, hh = al * bl, al * bh, ah * bl, ah * bh
    mid = (ll >> s) + (lh & m) + (hl & m)
    return hh + (lh >> s) + (hl >> s) + (mid >> s)


# ---- generation ----
def _umulhi(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """tl.umulhi of a value and a large odd constant (multiplicative hashing), narrowed to dt."""
    h_dt = g.ch.pick(list(DTYPES) + ["uint32", "int32"])
    x = as_type(int_source(g, leaves, dt, shape, depth), h_dt)
    c = g.ch.pick(MUL[h_dt])
    lo, hi = full_range(h_dt)
    if h_dt.startswith("u") and x.lo >= 0:
        hi = float((int(x.hi) * c) >> BITS[h_dt])
    return narrow(g, TV({"e": "umulhi", "a": x.e, "b": typed_const(g, c, h_dt, shape)}, h_dt, shape, lo, hi), dt)


@register
class UMulHi(Construct):
    name = "umulhi"
    node = "umulhi"
    fields = {"a": expr_f(), "b": expr_f()}
    features = ("umulhi",)
    computes = True
    productions = (ExprProduction("umulhi", 0.6, _umulhi, knob="umulhi", floats=False, min_rank=1, exotic=True),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a, b = tc.ty(n["a"]), tc.ty(n["b"])
        if a.ptr or b.ptr or a.dtype != b.dtype or a.dtype not in DTYPES:
            raise S.SpecError("umulhi needs two operands of one dtype among int32/int64/uint32/uint64")
        return S.Ty(a.dtype, S.broadcast_shapes(a.shape, b.shape))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.umulhi({r.e(n['a'])}, {r.e(n['b'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x, y = p.expr(n["a"]), p.expr(n["b"])
        bits = BITS[x.dt]
        a, b = np.broadcast_arrays(as_bits(x), as_bits(y))
        mask = np.uint64((1 << bits) - 1)
        with np.errstate(over="ignore"):
            return from_bits(x.dt, umulhi_bits(a & mask, b & mask, bits))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("umulhi")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # an operand has another range: the reducer's constant moves apply

    def example(self) -> Any:
        u = S.cast(S.var("x"), "uint32")
        hi = {"e": "umulhi", "a": u, "b": S.full([16], 2654435769, "uint32")}
        return unary_case(S.cast(hi, "int32"), in_dt="int32", out_dt="int32")

