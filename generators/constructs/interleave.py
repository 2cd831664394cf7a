"""tl.interleave(a, b): a and b alternating along their last axis (tl.join then a reshape)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.constructs.join import interleave, pair_types, pair_val, split
from generators.semantics import Val


@register
class Interleave(Construct):
    name = "interleave"
    node = "interleave"
    fields = {"a": expr_f(), "b": expr_f()}
    features = ("interleave",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a = pair_types(n, tc, "tl.interleave")
        return S.Ty(a.dtype, a.shape[:-1] + (2 * a.shape[-1],))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.interleave({r.e(n['a'])}, {r.e(n['b'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return pair_val(n, p, lambda x, y: np.stack([x, y], axis=-1).reshape(x.shape[:-1] + (2 * x.shape[-1],)))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("interleave")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the operands have another shape

    def example(self) -> Any:
        x = S.var("x")
        return unary_case(interleave(split(S.reshape(x, [8, 2]), 1), split(S.reshape(x, [8, 2]), 0)))
