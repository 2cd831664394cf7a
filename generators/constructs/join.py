"""tl.join(a, b): stack two tensors of one shape along a new last axis of size 2; and the
"pairs" production that splits a tile into its even and odd columns (tl.split of a reshape),
computes on the halves and puts them back together with tl.join + reshape or tl.interleave
(the rotary-embedding pattern), or joins two full tiles and reduces or splits the pair axis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.values import TV, both_q

VALUE_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES


def join(a: Node, b: Node) -> Node:
    return {"e": "join", "a": a, "b": b}


def split(x: Node, pick: int) -> Node:
    return {"e": "split", "x": x, "pick": pick}


def interleave(a: Node, b: Node) -> Node:
    return {"e": "interleave", "a": a, "b": b}


def pair_types(n: Node, tc: Any, what: str) -> S.Ty:
    a, b = tc.ty(n["a"]), tc.ty(n["b"])
    if a != b or a.ptr or not a.shape or a.dtype not in VALUE_DTYPES:
        raise S.SpecError(f"{what} takes two value tensors of one type and shape")
    return a


def pair_val(n: Node, p: Any, f: Any) -> Val:
    x, y = p.expr(n["a"]), p.expr(n["b"])
    return Val(f(x.a, y.a), x.dt, None if x.err is None else f(x.err, y.err))


# ---- generation ----
def _pairs(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    rank = len(shape)
    last = shape[-1]
    if rank > 2:
        return None
    if g.ch.coin(0.25) or last < 2:
        # join two full tiles, then undo the pair axis: a reduction over it or a split
        a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
        j = join(a.e, b.e)
        if g.ch.coin(0.5) or dt not in ("fp32", "int32"):
            k = g.ch.integer(0, 1)
            v = (a, b)[k]
            return TV(split(j, k), dt, shape, v.lo, v.hi, v.q)
        fn = g.ch.pick(["max", "min"])
        return TV(S.reduce_(fn, j, rank), dt, shape, min(a.lo, b.lo), max(a.hi, b.hi), both_q(a, b, max))
    half = shape[:-1] + (last // 2,)
    halves: list[TV] = [x for x in leaves if not x.shape]
    for x in leaves:
        if x.shape == shape:
            pairs = S.reshape(x.e, list(half) + [2])
            for k in (0, 1):
                halves.append(TV(split(pairs, k), x.dt, half, x.lo, x.hi, x.q))
    if not any(h.shape for h in halves):
        return None
    a = g.expr(halves, dt, half, depth - 1)
    b = g.expr(halves, dt, half, depth - 1)
    if g.on("interleave", 0.6):
        e = interleave(a.e, b.e)
    else:
        e = S.reshape(join(a.e, b.e), list(shape))
    return TV(e, dt, shape, min(a.lo, b.lo), max(a.hi, b.hi), both_q(a, b, max))


@register
class Join(Construct):
    name = "join"
    node = "join"
    fields = {"a": expr_f(), "b": expr_f()}
    features = ("join",)
    # the halves a tile is split into are its own construct modules: split.py, interleave.py
    knobs = ("pairs",)
    productions = (ExprProduction("pairs", 0.45, _pairs, knob="pairs", min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a = pair_types(n, tc, "tl.join")
        if len(a.shape) >= 3:
            raise S.SpecError("tl.join is generated on tensors of rank <= 2")
        return S.Ty(a.dtype, a.shape + (2,))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.join({r.e(n['a'])}, {r.e(n['b'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return pair_val(n, p, lambda x, y: np.stack([x, y], axis=-1))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("join")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the operands have another shape

    def example(self) -> Any:
        x = S.var("x")
        return unary_case(S.reduce_("max", join(x, S.un("-", x)), 1))
