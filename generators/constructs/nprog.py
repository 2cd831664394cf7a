"""tl.num_programs(axis): the launch grid's size along an axis, an int32 scalar known only at run time.

It drives grid-stride (persistent) loops (see while_loop.py); as an expression operand it is a
value in [1, grid] that the generator's range algebra bounds by the grid drawn so far (the
reducer and the persistent rewrite only ever shrink the grid).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, int_f, register
from generators.constructs.examples import make_case
from generators.semantics import Val
from generators.values import TV, limit, mul_range


def nprog(axis: int) -> S.Expr:
    return {"e": "nprog", "axis": axis}


# ---- generation ----
def _nprog(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    ax = g.ch.pick([0, 0, 1, 2])
    n = TV(nprog(ax), "int32", (), 1.0, float(g.grid[ax]))
    if g.ch.coin(0.5):
        lo, hi = mul_range(a, n)
        e = S.bin_("*", a.e, n.e)
    else:
        lo, hi, e = a.lo + 1, a.hi + n.hi, S.bin_("+", a.e, n.e)
    if max(abs(lo), abs(hi)) >= limit(dt):
        return None
    return TV(e, dt, shape, min(lo, a.lo), max(hi, a.hi))


@register
class NumPrograms(Construct):
    name = "nprog"
    node = "nprog"
    fields = {"axis": int_f(0, 2)}
    features = ("num_programs",)
    productions = (ExprProduction("num_programs", 0.1, _nprog, knob="num_programs", dtypes=("int32", "int64")),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        return S.Ty("int32")

    def render(self, n: Node, r: Any) -> str:
        return f"tl.num_programs({n['axis']})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return Val(np.asarray(p.ev.case.grid[n["axis"]], dtype=np.int64), "int32")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("num_programs")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield S.const(1, "int32"), "one program"

    def example(self) -> Any:
        offs = S.bin_("+", S.bin_("*", S.pid(0), S.const(8, "int32")), S.arange(8))
        val = S.bin_("*", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))), nprog(0))
        body = [S.let("offs", offs), S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), val)]
        return make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)}, grid=(2, 1, 1))
