"""tl.where(c, a, b): select by an int1 condition, broadcasting all three."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.values import TV, both_q


# ---- generation ----
def _where(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
    c = g.condition(leaves, shape, depth)
    return TV(S.where(c, a.e, b.e), dt, shape, min(a.lo, b.lo), max(a.hi, b.hi), both_q(a, b, max))


@register
class Where(Construct):
    name = "where"
    node = "where"
    fields = {"c": expr_f(), "a": expr_f(), "b": expr_f()}
    features = ("where",)
    computes = True
    productions = (ExprProduction("where", 1.0, _where, knob="where"),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        c, a, b = (tc.ty(n[x]) for x in ("c", "a", "b"))
        if c.dtype != "int1" or a.dtype != b.dtype or a.ptr or b.ptr:
            raise S.SpecError("where needs an int1 condition and equal branch dtypes")
        return S.Ty(a.dtype, S.broadcast_shapes(c.shape, S.broadcast_shapes(a.shape, b.shape)))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.where({r.e(n['c'])}, {r.e(n['a'])}, {r.e(n['b'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        c, x, y = p.expr(n["c"]), p.expr(n["a"]), p.expr(n["b"])
        a = np.where(c.a, x.a, y.a)
        if x.is_float:
            return Val(a, x.dt, np.where(c.a, x.err, y.err))
        return Val(a, x.dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("where")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["a"], "operand"
        yield n["b"], "operand"

    def example(self) -> Any:
        return unary_case(S.where(S.bin_("<", S.var("x"), S.const(0.0, "fp32")), S.var("x"), S.const(0.0, "fp32")))
