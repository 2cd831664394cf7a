"""tl.gather(src, index, axis): out[..., i, ...] = src[..., index[..., i, ...], ...] within a tile
(a register/shared-memory gather; the `gather` feature is the pointer gather of a load).

Semantics (triton 3.3's semantic.gather, numpy's take_along_axis): index has src's rank and
matches it on every other axis; its values must lie in [0, src.shape[axis]) — anything else is
UB for the reference. The production's indices are a reversal, a rotation or a data-dependent
`abs(e) % n`, all in range by construction. Triton 3.0-3.2 and triton-ascend 3.2 have no tl.gather.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, int_f, register
from generators.constructs.examples import unary_case
from generators.geometry import place
from generators.semantics import UndefinedBehaviour, Val
from generators.values import TV

VALUE_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES


def tgather(src: Node, index: Node, axis: int) -> Node:
    return {"e": "tgather", "src": src, "index": index, "axis": axis}


def in_range_index(g: Any, leaves: list[TV], shape: tuple[int, ...], ax: int, n: int, depth: int) -> S.Expr:
    """An int32 tile of `shape` whose values lie in [0, n), for positions along `ax`."""
    rank = len(shape)
    kind = g.ch.weighted({"reverse": 1.0, "rotate": 1.0, "data": 2.0})
    if kind == "data":
        e = g.expr(leaves, "int32", shape, max(0, depth - 2))
        return S.bin_("%", S.call("abs", e.e), S.const(n, "int32"))
    ar = place(S.arange(n), ax, rank) if rank > 1 else S.arange(n)
    if kind == "reverse":
        idx = S.bin_("-", S.const(n - 1, "int32"), ar)
    else:
        idx = S.bin_("%", S.bin_("+", ar, g.int_value("shift", g.ch.integer(1, 2 * n))), S.const(n, "int32"))
    ones = tuple(n if i == ax else 1 for i in range(rank))
    return idx if ones == shape else S.bcast(idx, list(shape))


def _gather(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    ax = g.ch.integer(0, len(shape) - 1)
    src = g.sub(leaves, dt, shape, depth)
    idx = in_range_index(g, leaves, shape, ax, shape[ax], depth)
    if g.ch.coin(0.2):
        idx = S.cast(idx, "int64")
    return TV(tgather(src.e, idx, ax), dt, shape, src.lo, src.hi, src.q)


@register
class TlGather(Construct):
    name = "tgather"
    node = "tgather"
    fields = {"src": expr_f(), "index": expr_f(), "axis": int_f(0, 2)}
    features = ("tl_gather",)
    knobs = ("gather_tile",)
    since = {"triton": "3.3.0", "triton-ascend": "3.3.0"}
    productions = (ExprProduction("tgather", 0.3, _gather, knob="gather_tile", min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        src, idx = tc.ty(n["src"]), tc.ty(n["index"])
        ax = n["axis"]
        rank = len(src.shape)
        if src.ptr or idx.ptr or not rank or src.dtype not in VALUE_DTYPES or not idx.is_int:
            raise S.SpecError("tl.gather takes a value tensor and an integer index tensor")
        if len(idx.shape) != rank or not 0 <= ax < rank or any(
                idx.shape[d] != src.shape[d] for d in range(rank) if d != ax):
            raise S.SpecError("tl.gather index must match the source on every other axis")
        return S.Ty(src.dtype, idx.shape)

    def render(self, n: Node, r: Any) -> str:
        return f"tl.gather({r.e(n['src'])}, {r.e(n['index'])}, {n['axis']})"

    def evaluate(self, n: Node, p: Any) -> Val:
        src, idx = p.expr(n["src"]), p.expr(n["index"])
        ax = n["axis"]
        size = src.a.shape[ax]
        i = np.asarray(idx.a)
        if i.size and (i.min() < 0 or i.max() >= size):
            raise UndefinedBehaviour("out-of-range gather index", f"{i.min()}..{i.max()} of {size}")
        i = i.astype(np.int64)
        a = np.take_along_axis(src.a, i, ax)
        return Val(a, src.dt, None if src.err is None else np.take_along_axis(src.err, i, ax))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("tl_gather")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["src"], "source"  # well-typed when the index has the source's shape

    def example(self) -> Any:
        rev = S.bin_("-", S.const(15, "int32"), S.var("offs"))
        return unary_case(S.bin_("+", tgather(S.var("x"), rev, 0), S.var("x")))

