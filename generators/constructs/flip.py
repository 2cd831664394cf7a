"""tl.flip(x, dim): reverse a tile along one axis.

Semantics: the flipped axis must have a power-of-two size (every tile dimension does). Releases
up to 3.3 flip only the last axis (and need a power-of-two element count); 3.4 flips any axis
(`flip_dim`), so a flip of another axis is sent only to releases that have it. Leaving `dim`
out means the last axis. The values move unchanged (the implementations swap bit patterns, or
multiply by 0/1 and add in 3.0-3.3, which only turns -0.0 into 0.0: the comparator equates them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, expr_f, int_f, register
from generators.constructs.examples import unary_case
from generators.constructs.sort import pow2
from generators.semantics import Val
from generators.values import TV

VALUE_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES


def flip(x: Node, dim: int | None = None) -> Node:
    return {"e": "flip", "x": x, "dim": dim}


def _flip(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    rank = len(shape)
    if rank >= 2 and g.on("flip_dim", 0.9):
        d: int | None = g.ch.integer(0, rank - 2)
    else:
        d = rank - 1 if g.ch.coin(0.6) else None
    return TV(flip(a.e, d), dt, shape, a.lo, a.hi, a.q)


@register
class Flip(Construct):
    name = "flip"
    node = "flip"
    fields = {"x": expr_f(), "dim": int_f(0, 2, optional=True)}
    features = ("flip", "flip_dim")
    knobs = ("flip_tile",)
    computes = True  # up to 3.3 tl.flip flips by multiplying and summing (bf16 via fp32)
    # 3.3 and triton-ascend 3.2 assert "Currently only support flipping the last dimension"
    feature_since = {"flip_dim": {"triton": "3.4.0", "triton-ascend": "3.4.0"}}
    productions = (ExprProduction("flip", 0.45, _flip, knob="flip_tile", min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if x.ptr or not x.shape or x.dtype not in VALUE_DTYPES:
            raise S.SpecError("tl.flip takes a value tensor")
        d = n.get("dim")
        d = len(x.shape) - 1 if d is None else d
        if not 0 <= d < len(x.shape) or not pow2(x.shape[d]) or not pow2(int(np.prod(x.shape))):
            raise S.SpecError("tl.flip needs a power-of-two axis of the tensor")
        return x

    def render(self, n: Node, r: Any) -> str:
        d = n.get("dim")
        return f"tl.flip({r.e(n['x'])}{'' if d is None else f', {d}'})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        d = n.get("dim")
        d = x.a.ndim - 1 if d is None else d
        return Val(np.flip(x.a, d).copy(), x.dt, None if x.err is None else np.flip(x.err, d).copy())

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        d = n.get("dim")
        fw.found.add("flip_dim" if d is not None and d != len(fw.ty(n["x"]).shape) - 1 else "flip")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "operand"

    def example(self) -> Any:
        x2 = S.reshape(S.var("x"), [4, 4])
        return unary_case(S.reshape(S.bin_("+", flip(x2, 0), flip(x2)), [16]))
