"""tl.split(x)[k]: half k of a tensor whose last axis has size 2 (the inverse of tl.join)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, int_f, register
from generators.constructs.examples import unary_case
from generators.constructs.join import join, split
from generators.semantics import Val


@register
class Split(Construct):
    name = "split"
    node = "split"
    fields = {"x": expr_f(), "pick": int_f(0, 1)}
    features = ("split",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if x.ptr or len(x.shape) < 2 or x.shape[-1] != 2 or n["pick"] not in (0, 1):
            raise S.SpecError("tl.split needs a last axis of size 2 (and picks half 0 or 1)")
        return S.Ty(x.dtype, x.shape[:-1])

    def render(self, n: Node, r: Any) -> str:
        return f"tl.split({r.e(n['x'])})[{n['pick']}]"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        k = n["pick"]
        return Val(x.a[..., k].copy(), x.dt, None if x.err is None else x.err[..., k].copy())

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("split")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        x = n["x"]
        if x.get("e") == "join":
            yield x["a" if n["pick"] == 0 else "b"], "split of a join"

    def example(self) -> Any:
        x = S.var("x")
        odd = split(S.reshape(x, [8, 2]), 1)
        return unary_case(S.reshape(join(odd, split(S.reshape(x, [8, 2]), 0)), [16]))
