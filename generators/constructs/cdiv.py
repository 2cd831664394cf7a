"""tl.cdiv(x, d): ceiling division, defined in Triton's standard library as (x + d - 1) // d.

So it inherits `//`'s truncation toward zero (for negative x it is not a ceiling) and the
overflow of x + d - 1, both modelled exactly; d >= 1 by construction (a constant, or
maximum(b, 1)). Also used for loop trip counts (`range(0, tl.cdiv(n, BLOCK))`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.binop import int_bin
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.values import TV, limit


# ---- generation ----
def _cdiv(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    x = g.sub(leaves, dt, shape, depth)
    if g.ch.coin(0.6):
        d = g.ch.integer(1, 9)
        den = S.const(d, "int32") if dt == "int32" and g.ch.coin(0.6) else S.full(list(shape), d, dt)
        dlo, dhi = float(d), float(d)
    else:
        b = g.sub(leaves, dt, shape, depth)
        den = S.call("maximum", b.e, g.const_tile(1, dt, shape))
        dlo, dhi = 1.0, max(1.0, b.hi)
    if x.mag + dhi >= limit(dt):
        return None
    return TV({"e": "cdiv", "x": x.e, "d": den}, dt, shape, -(x.mag / dlo) - 1, (x.mag + dhi) / dlo + 1)


def cdiv_val(x: Val, d: Val) -> Val:
    """(x + d - 1) // d with Triton's integer semantics (truncation, overflow checks)."""
    if x.dt != d.dt:  # int32 meets int64: int64 wins
        x, d = Val(x.a, "int64"), Val(d.a, "int64")
    one = Val(np.asarray(1, dtype=np.int64), x.dt)
    return int_bin("//", int_bin("-", int_bin("+", x, d), one), d)


@register
class CDiv(Construct):
    name = "cdiv"
    node = "cdiv"
    fields = {"x": expr_f(), "d": expr_f()}
    features = ("cdiv",)
    computes = True
    productions = (ExprProduction("cdiv", 0.3, _cdiv, knob="cdiv", dtypes=S.INT_DTYPES, min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x, d = tc.ty(n["x"]), tc.ty(n["d"])
        if x.ptr or d.ptr or x.dtype not in S.INT_DTYPES or S.promote(x.dtype, d.dtype) is None:
            raise S.SpecError("cdiv takes signed integer operands of one dtype")
        return S.Ty(S.promote(x.dtype, d.dtype) or x.dtype, S.broadcast_shapes(x.shape, d.shape))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.cdiv({r.e(n['x'])}, {r.e(n['d'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return cdiv_val(p.expr(n["x"]), p.expr(n["d"]))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("cdiv")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "operand"
        yield S.bin_("//", n["x"], n["d"]), "floor division"

    def example(self) -> Any:
        return unary_case({"e": "cdiv", "x": S.var("x"), "d": S.const(3, "int32")}, in_dt="int32")
