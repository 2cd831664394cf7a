"""tl.clamp(x, lo, hi): min(max(x, lo), hi) on floats (create_clampf, NaNs not propagated).

Triton documents the result as undefined when lo > hi, so the reference refuses that; the
generator builds bounds that cannot cross (constants -c, c, or a and a + |b|). Integer clamp only
exists in recent releases and is not generated. Bounds of a non-fp32 tensor are tl.full of its
dtype, so no release promotes x through a Python float.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import UndefinedBehaviour, Val
from generators.values import TV, both_q, limit


# ---- generation ----
def _clamp(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    x = g.sub(leaves, dt, shape, depth)
    if g.ch.coin(0.5):
        c = g.ch.pick([0.5, 1.0, 2.0, 3.5])
        lo_c = -c if g.ch.coin(0.7) else 0.0
        mk = (lambda v: S.const(v, "fp32")) if dt == "fp32" and g.ch.coin(0.6) else (
            lambda v: S.full(list(shape), v, dt))
        lo, hi = TV(mk(lo_c), dt, shape, lo_c, lo_c, 2.0), TV(mk(c), dt, shape, c, c, 2.0)
    else:  # tensor bounds a and a + |b|: never crossed, whatever the rounding
        a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
        if a.mag + b.mag >= limit(dt):
            return None
        top = S.bin_("+", a.e, S.call("abs", b.e))
        lo, hi = a, TV(top, dt, shape, a.lo, a.hi + b.mag, None)
    # min(max(x, lo), hi): max(x, lo) spans [max(x.lo, lo.lo), max(x.hi, lo.hi)], then min with hi
    rlo, rhi = min(max(x.lo, lo.lo), hi.lo), min(max(x.hi, lo.hi), hi.hi)
    q = both_q(x, lo, max)
    q = None if q is None or hi.q is None else max(q, hi.q)
    return TV({"e": "clamp", "x": x.e, "lo": lo.e, "hi": hi.e}, dt, shape, min(rlo, rhi), max(rlo, rhi), q)


@register
class Clamp(Construct):
    name = "clamp"
    node = "clamp"
    fields = {"x": expr_f(), "lo": expr_f(), "hi": expr_f()}
    features = ("clamp",)
    computes = True
    productions = (ExprProduction("clamp", 0.35, _clamp, knob="clamp", floats=True, min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x, lo, hi = (tc.ty(n[k]) for k in ("x", "lo", "hi"))
        if any(t.ptr for t in (x, lo, hi)) or not x.is_float:
            raise S.SpecError("clamp is generated on floats")
        for b in (lo, hi):
            if b.dtype != x.dtype and not (not b.shape and b.dtype == "fp32"):
                raise S.SpecError("clamp bounds: the operand's dtype (or an fp32 literal)")
        return S.Ty(x.dtype, S.broadcast_shapes(S.broadcast_shapes(x.shape, lo.shape), hi.shape))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.clamp({r.e(n['x'])}, {r.e(n['lo'])}, {r.e(n['hi'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x, lo, hi = (p.expr(n[k]) for k in ("x", "lo", "hi"))
        if np.any(np.broadcast_to(lo.a, np.broadcast(lo.a, hi.a).shape) > hi.a):
            raise UndefinedBehaviour("clamp bounds cross", "lo > hi is undefined")
        a = np.minimum(np.maximum(x.a, lo.a), hi.a)
        err = np.maximum(np.maximum(x.err, lo.err), hi.err)
        return Val(a, x.dt, np.broadcast_to(err, a.shape).astype(np.float64))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("clamp")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "operand"

    def example(self) -> Any:
        return unary_case({"e": "clamp", "x": S.var("x"), "lo": S.const(-1.5, "fp32"), "hi": S.const(2.0, "fp32")})
