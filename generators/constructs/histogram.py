"""tl.histogram(x, num_bins): counts of the values 0..num_bins-1 in a 1-D int32 tensor.

Semantics: bins have width 1 and start at 0; the result is int32 of shape [num_bins]. Values
outside [0, num_bins) are dropped by triton 3.9 but were undefined before (and the 3.0-3.2
interpreter counts them into the edge bins), so they are UB for the reference and the production
keeps its inputs in range (`abs(e) % num_bins`). Counting is order-insensitive, so the
histogram of a 2-D/3-D tile goes through tl.ravel and comes back as a tile by tl.reshape or
as a broadcast row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, int_f, register
from generators.constructs.examples import unary_case
from generators.constructs.sort import pow2, ravel
from generators.semantics import UndefinedBehaviour, Val
from generators.values import TV, limit


def histogram(x: Node, bins: int) -> Node:
    return {"e": "histogram", "x": x, "bins": bins}


def _histogram(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    rank = len(shape)
    numel = int(np.prod(shape))
    a = g.expr(leaves, "int32", shape, max(0, depth - 1))
    flat = a.e if rank == 1 else ravel(a.e)
    if rank == 1 or g.ch.coin(0.5):
        bins = numel
    else:
        bins = shape[-1]
    idx = S.bin_("%", S.call("abs", flat), S.const(bins, "int32"))
    h = histogram(idx, bins)
    count = float(numel)
    if bins == numel:
        e = h if rank == 1 else S.reshape(h, list(shape))
        return TV(e, "int32", shape, 0.0, count, 1.0)
    row = S.expand(h, 0) if rank == 2 else S.expand(S.expand(h, 0), 0)
    b = g.sub(leaves, "int32", shape, depth)
    if b.mag + count >= limit("int32"):
        return None
    return TV(S.bin_("+", b.e, row), "int32", shape, b.lo, b.hi + count, 1.0)


@register
class Histogram(Construct):
    name = "histogram"
    node = "histogram"
    fields = {"x": expr_f(), "bins": int_f(1, 4096)}
    features = ("histogram",)
    knobs = ("histogram_tile",)
    productions = (ExprProduction("histogram", 0.45, _histogram, knob="histogram_tile", dtypes=("int32",),
                                  min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        bins = n["bins"]
        if x.ptr or len(x.shape) != 1 or x.dtype != "int32":
            raise S.SpecError("tl.histogram takes a 1-D int32 tensor")
        if not isinstance(bins, int) or not pow2(bins):
            raise S.SpecError("tl.histogram is generated with power-of-two bin counts")
        return S.Ty("int32", (bins,))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.histogram({r.e(n['x'])}, {n['bins']})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        bins = n["bins"]
        a = np.asarray(x.a)
        if a.size and (a.min() < 0 or a.max() >= bins):
            raise UndefinedBehaviour("histogram value out of range", f"{a.min()}..{a.max()} for {bins} bins")
        return Val(np.bincount(a.astype(np.int64), minlength=bins).astype(np.int64), "int32")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("histogram")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the operand has another shape

    def example(self) -> Any:
        idx = S.bin_("%", S.call("abs", S.var("x")), S.const(16, "int32"))
        return unary_case(S.bin_("+", histogram(idx, 16), S.var("x")), in_dt="int32")
