"""tl.trans(x) of a 2-D tile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val


@register
class Trans(Construct):
    name = "trans"
    node = "trans"
    fields = {"x": expr_f()}
    features = ("trans",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if len(x.shape) != 2 or x.ptr:
            raise S.SpecError("trans of a non-2-D tensor")
        return S.Ty(x.dtype, (x.shape[1], x.shape[0]))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.trans({r.e(n['x'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        return Val(x.a.T.copy(), x.dt, None if x.err is None else x.err.T.copy())

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("trans")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the operand has the transposed shape

    def example(self) -> Any:
        return unary_case(S.reshape(S.trans(S.reshape(S.var("x"), [2, 8])), [16]))
