"""tl.reshape(x, shape): same element count, row-major order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register, shape_f
from generators.constructs.examples import unary_case
from generators.constructs.expand import shape_op
from generators.semantics import Val


@register
class Reshape(Construct):
    name = "reshape"
    node = "reshape"
    fields = {"x": expr_f(), "shape": shape_f()}
    features = ("reshape",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if int(np.prod(x.shape)) != int(np.prod(n["shape"])) or x.ptr:
            raise S.SpecError("reshape changes element count")
        return S.Ty(x.dtype, tuple(n["shape"]))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.reshape({r.e(n['x'])}, {tuple(n['shape'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return shape_op(n, p, lambda t: np.reshape(t, tuple(n["shape"])))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("reshape")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the operand has another shape

    def example(self) -> Any:
        return unary_case(S.reshape(S.reshape(S.var("x"), [4, 4]), [16]))
