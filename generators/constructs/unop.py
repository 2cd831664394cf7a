"""Unary `-x` and `~x` (bitwise not on ints, logical not on int1 masks)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, enum_f, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val, int_val
from generators.values import INT_LIMIT, TV


# ---- generation ----
def _neg(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    if dt not in S.FLOAT_DTYPES and a.lo <= -INT_LIMIT[dt]:
        return None
    return TV(S.un("-", a.e), dt, shape, -a.hi, -a.lo, a.q)


@register
class UnOp(Construct):
    name = "un"
    node = "un"
    fields = {"op": enum_f(("-", "~")), "x": expr_f()}
    features = ("mask_not",)
    computes = True
    productions = (ExprProduction("neg", 0.5, _neg),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if n["op"] not in ("-", "~"):
            raise S.SpecError(f"unknown unary operator {n['op']!r}")
        if n["op"] == "~" and x.is_float:
            raise S.SpecError("~ on floats")
        if x.ptr:
            raise S.SpecError("unary op on a pointer")
        return x

    def render(self, n: Node, r: Any) -> str:
        return f"({n['op']}{r.e(n['x'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        if n["op"] == "-":
            if x.is_float:
                return Val(-x.a, x.dt, x.err)
            if x.dt in S.UINT_DTYPES:  # unsigned negation wraps (0 - x modulo 2^bits), as in Triton
                from generators.wrapping import as_bits, from_bits

                return from_bits(x.dt, np.uint64(0) - as_bits(x))
            return int_val(x.dt, -x.a, "negation")
        return Val(~x.a, x.dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        if n["op"] == "~" and fw.ty(n).dtype == "int1":
            fw.found.add("mask_not")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "operand"

    def example(self) -> Any:
        keep = S.un("~", S.bin_("<", S.var("offs"), S.const(5, "int32")))
        return unary_case(S.where(keep, S.un("-", S.var("x")), S.var("x")))
