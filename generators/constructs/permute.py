"""tl.permute(x, dims): reorder the axes of a tile (tl.trans generalised to 3-D tiles).

The production computes a sub-expression in the permuted space (every tile leaf permuted by the
inverse permutation) and permutes the result back, so layouts change twice around real work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Field, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.values import TV


def permute(x: Node, dims: list[int]) -> Node:
    return {"e": "permute", "x": x, "dims": list(dims)}


def _permute(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    rank = len(shape)
    perms = [p for p in ([1, 0],) if rank == 2] or [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
    p = g.ch.pick(perms)
    inv = [p.index(i) for i in range(rank)]
    inner = tuple(shape[i] for i in inv)  # permute(y, p) has shape `shape` when y has shape `inner`
    moved = [x for x in leaves if not x.shape]
    moved += [TV(permute(x.e, inv), x.dt, inner, x.lo, x.hi, x.q) for x in leaves if x.shape == shape]
    if len(moved) == sum(1 for x in leaves if not x.shape):
        return None
    a = g.expr(moved, dt, inner, depth - 1)
    return TV(permute(a.e, p), dt, shape, a.lo, a.hi, a.q)


@register
class Permute(Construct):
    name = "permute"
    node = "permute"
    fields = {"x": expr_f(), "dims": Field("shape", lo=0, hi=2, values=(3,))}
    features = ("permute",)
    knobs = ("permute_tile",)
    productions = (ExprProduction("permute", 0.4, _permute, knob="permute_tile", min_rank=2),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        dims = n["dims"]
        if (x.ptr or not isinstance(dims, list) or not all(isinstance(d, int) for d in dims)
                or sorted(dims) != list(range(len(x.shape))) or len(dims) < 2):
            raise S.SpecError("tl.permute needs a permutation of the tensor's axes")
        return S.Ty(x.dtype, tuple(x.shape[d] for d in dims))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.permute({r.e(n['x'])}, {tuple(n['dims'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        d = tuple(n["dims"])
        return Val(np.transpose(x.a, d).copy(), x.dt, None if x.err is None else np.transpose(x.err, d).copy())

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("permute")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        x = n["x"]
        if x.get("e") == "permute" and [x["dims"][d] for d in n["dims"]] == list(range(len(n["dims"]))):
            yield x["x"], "inverse permutations"

    def example(self) -> Any:
        x3 = S.reshape(S.var("x"), [2, 2, 4])
        return unary_case(S.reshape(permute(S.bin_("*", permute(x3, [2, 0, 1]), S.const(2.0, "fp32")), [1, 2, 0]),
                                    [16]))
