"""x[:, None] / x[None, :]: insert a size-1 axis (pointers too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, int_f, register
from generators.constructs.examples import make_case
from generators.semantics import Val


def shape_op(n: Node, p: Any, f: Any) -> Val:
    x = p.expr(n["x"])
    return Val(f(x.a), x.dt, None if x.err is None else f(x.err), x.buf)


@register
class ExpandDims(Construct):
    name = "expand"
    node = "expand"
    fields = {"x": expr_f(), "axis": int_f(0, 3)}
    features = ("expand_dims",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        ax = n["axis"]
        if not 0 <= ax <= len(x.shape) or len(x.shape) >= 3:
            raise S.SpecError("expand axis out of range")
        return S.Ty(x.dtype, x.shape[:ax] + (1,) + x.shape[ax:], x.ptr)

    def render(self, n: Node, r: Any) -> str:
        rank = len(r.ty(n["x"]).shape)
        idx = [":"] * rank
        idx.insert(n["axis"], "None")
        return f"{r.atom(n['x'])}[{', '.join(idx)}]"

    def evaluate(self, n: Node, p: Any) -> Val:
        return shape_op(n, p, lambda t: np.expand_dims(t, n["axis"]))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("expand_dims")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # dropping an axis changes the rank: never well-typed

    def example(self) -> Any:
        r = S.arange(4)
        off = S.bin_("+", S.bin_("*", S.expand(r, 1), S.const(4, "int32")), S.expand(r, 0))
        body = [S.let("off", off),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("off")), S.load(S.bin_("+", S.arg("x_ptr"), S.var("off"))))]
        return make_case(body, {"x_ptr": ("fp32", [float(i) for i in range(16)])}, {"o_ptr": ("fp32", 16)})
