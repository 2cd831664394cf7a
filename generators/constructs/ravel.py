"""tl.ravel(x): the tile flattened to 1-D, consumed only where element order cannot matter.

Semantics: triton 3.0-3.2 (and triton-ascend 3.2) ravel with can_reorder=True, so the order of
the flattened elements is the compiler's choice; 3.3 made it row-major. The generator therefore
only feeds a ravel to order-insensitive consumers (a whole-tile reduction with an order-free
combine, tl.sort, tl.histogram), and the reducer keeps it under them; the reference evaluates it
row-major.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.constructs.expand import shape_op
from generators.constructs.sort import ravel
from generators.semantics import Val
from generators.values import TV, both_q, exact_q, limit


# ---- generation ----
def _total(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """`a op reduce(ravel(b), 0)`: a whole-tile statistic splatted over the tile."""
    from generators.constructs.reduce_fn import stat

    b = g.sub(leaves, dt, shape, depth)
    n = int(np.prod(shape))
    flat = TV(ravel(b.e), dt, (n,), b.lo, b.hi, b.q)
    s = stat(g, flat, 0, dt, (n,), False, leaves, depth, order_free=True)
    if s is None:
        return None
    a = g.sub(leaves, dt, shape, depth)
    op = g.ch.pick(["+", "-", "maximum", "minimum"])
    lo, hi = ((a.lo + s.lo, a.hi + s.hi) if op == "+" else (a.lo - s.hi, a.hi - s.lo) if op == "-"
              else (min(a.lo, s.lo), max(a.hi, s.hi)))
    if max(abs(lo), abs(hi)) >= limit(dt):
        return None
    q = exact_q(dt, both_q(a, s, max), max(abs(lo), abs(hi))) if dt in S.FLOAT_DTYPES else 1.0
    e = S.bin_(op, a.e, s.e) if op in ("+", "-") else S.call(op, a.e, s.e)
    return TV(e, dt, shape, lo, hi, q)


@register
class Ravel(Construct):
    name = "ravel"
    node = "ravel"
    fields = {"x": expr_f()}
    features = ("ravel",)
    knobs = ("tile_total",)
    productions = (ExprProduction("tile_total", 0.25, _total, knob="tile_total", min_rank=2),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if x.ptr or not x.shape:
            raise S.SpecError("tl.ravel takes a value tensor")
        return S.Ty(x.dtype, (int(np.prod(x.shape)),))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.ravel({r.e(n['x'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return shape_op(n, p, lambda t: np.ravel(t).copy())

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("ravel")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the operand has another shape

    def example(self) -> Any:
        x2 = S.reshape(S.var("x"), [4, 4])
        return unary_case(S.bin_("+", S.var("x"), S.reduce_("max", ravel(x2), 0)))
