"""tl.sort(x, descending=...) along the last axis (the only one Triton sorts), of a tile or of
its tl.ravel (a whole-tile sort, reshaped back).

Semantics: Triton's bitonic sort needs power-of-two sizes (every tile dimension is one). Sorting
is order-insensitive in its input, so sorting a ravel is deterministic even in releases whose
ravel may reorder. Sorting is 1-Lipschitz in the max norm, so a sorted float carries the largest
error bound of its row; -0.0 and 0.0 compare equal (the comparator agrees).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, bool_f, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.values import TV

VALUE_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES


def sort(x: Node, descending: bool | None = None) -> Node:
    return {"e": "sort", "x": x, "descending": descending}


def ravel(x: Node) -> Node:
    return {"e": "ravel", "x": x}


def pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


# ---- generation ----
def _sort(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    desc = True if g.on("sort_descending", 0.75) else None
    if len(shape) >= 2 and g.on("ravel", 0.3):
        e = S.reshape(sort(ravel(a.e), desc), list(shape))
    else:
        e = sort(a.e, desc)
    return TV(e, dt, shape, a.lo, a.hi, a.q)


@register
class Sort(Construct):
    name = "sort"
    node = "sort"
    fields = {"x": expr_f(), "descending": bool_f()}
    features = ("sort", "sort_descending")
    knobs = ("sort_tile",)
    computes = True
    productions = (ExprProduction("sort", 0.35, _sort, knob="sort_tile", min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if x.ptr or not x.shape or x.dtype not in VALUE_DTYPES:
            raise S.SpecError("tl.sort takes a value tensor")
        if not all(pow2(d) for d in x.shape):
            raise S.SpecError("tl.sort needs power-of-two dimensions")
        return x

    def render(self, n: Node, r: Any) -> str:
        return f"tl.sort({r.e(n['x'])}{', descending=True' if n.get('descending') else ''})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        a = np.sort(x.a, axis=-1)
        if n.get("descending"):
            a = np.ascontiguousarray(a[..., ::-1])
        if not x.is_float:
            return Val(a, x.dt)
        err = np.broadcast_to(np.max(x.err, axis=-1, keepdims=True), a.shape).copy()
        return Val(a, x.dt, err)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("sort")
        if n.get("descending"):
            fw.found.add("sort_descending")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("descending"):
            yield {**n, "descending": None}, "ascending"
        if n["x"].get("e") != "ravel":  # a ravel's order is only defined under the sort
            yield n["x"], "operand"

    def example(self) -> Any:
        x2 = S.reshape(S.var("x"), [4, 4])
        return unary_case(S.bin_("+", S.reshape(sort(x2, True), [16]), sort(ravel(x2))))
