"""tl.expand_dims(x, axis) written as a call (the `x[:, None]` subscript is the `expand` construct).

Both insert a size-1 axis; the call goes through another frontend path (core.expand_dims with
axis normalisation) than the subscript, so kernels that use it are worth generating apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, int_f, register
from generators.constructs.examples import unary_case
from generators.constructs.expand import shape_op
from generators.semantics import Val


@register
class ExpandDimsCall(Construct):
    name = "expand_dims"
    node = "expand_dims"
    fields = {"x": expr_f(), "axis": int_f(0, 3)}
    features = ("expand_dims_call",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        ax = n["axis"]
        if not 0 <= ax <= len(x.shape) or len(x.shape) >= 3:
            raise S.SpecError("expand_dims axis out of range")
        return S.Ty(x.dtype, x.shape[:ax] + (1,) + x.shape[ax:], x.ptr)

    def render(self, n: Node, r: Any) -> str:
        return f"tl.expand_dims({r.e(n['x'])}, {n['axis']})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return shape_op(n, p, lambda t: np.expand_dims(t, n["axis"]))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("expand_dims_call")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield S.expand(n["x"], n["axis"]), "subscript"

    def example(self) -> Any:
        col = {"e": "expand_dims", "x": S.reshape(S.var("x"), [4, 4]), "axis": 2}
        return unary_case(S.reshape(S.reduce_("sum", col, 2), [16]))
