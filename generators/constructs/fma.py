"""tl.fma(x, y, z): x * y + z with a single rounding (llvm.fma), on fp32, fp64, fp16 and bf16.

Triton types it like a ternary op (one float dtype for all three) and lowers it to the fma
intrinsic: the exact x*y + z rounded once. The reference computes it exactly in float64 (products
of fp32 values are exact there) and rounds once more to the dtype; where that is inexact the
usual two-rounding bound covers the double rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val, fl
from generators.values import TV, exact_q, limit, mul_range

DTYPES = ("fp32", "fp64", "fp16", "bf16")


# ---- generation ----
def _fma(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    x, y, z = (g.sub(leaves, dt, shape, depth) for _ in range(3))
    lo, hi = mul_range(x, y)
    lo, hi = lo + z.lo, hi + z.hi
    if max(abs(lo), abs(hi)) >= limit(dt):
        return None
    q = None if x.q is None or y.q is None or z.q is None else max(x.q * y.q, z.q)
    return TV({"e": "fma", "x": x.e, "y": y.e, "z": z.e}, dt, shape, lo, hi, exact_q(dt, q, max(abs(lo), abs(hi))))


@register
class Fma(Construct):
    name = "fma"
    node = "fma"
    fields = {"x": expr_f(), "y": expr_f(), "z": expr_f()}
    features = ("fma",)
    computes = True
    productions = (ExprProduction("fma", 0.35, _fma, knob="fma", dtypes=DTYPES, min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        ts = [tc.ty(n[k]) for k in ("x", "y", "z")]
        if any(t.ptr for t in ts) or len({t.dtype for t in ts}) != 1 or ts[0].dtype not in DTYPES:
            raise S.SpecError("fma takes three operands of one float dtype")
        return S.Ty(ts[0].dtype, S.broadcast_shapes(S.broadcast_shapes(ts[0].shape, ts[1].shape), ts[2].shape))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.fma({r.e(n['x'])}, {r.e(n['y'])}, {r.e(n['z'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x, y, z = (p.expr(n[k]) for k in ("x", "y", "z"))
        with np.errstate(all="ignore"):
            r = x.a * y.a + z.a
            prop = np.abs(x.a) * y.err + np.abs(y.a) * x.err + x.err * y.err + z.err
        return fl(x.dt, r, prop)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("fma")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["z"], "operand"
        yield S.bin_("+", S.bin_("*", n["x"], n["y"]), n["z"]), "unfused"

    def example(self) -> Any:
        return unary_case({"e": "fma", "x": S.var("x"), "y": S.var("x"), "z": S.full([16], 0.5, "fp32")})
