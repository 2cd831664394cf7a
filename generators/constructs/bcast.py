"""tl.broadcast_to(x, shape): explicit broadcast (pointers too)."""

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
class BroadcastTo(Construct):
    name = "bcast"
    node = "bcast"
    fields = {"x": expr_f(), "shape": shape_f()}
    features = ("broadcast_to",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        src = n["x"]
        if src.get("e") == "const" or src.get("e") == "arg" and tc.params[src["name"]]["kind"] == "constexpr":
            raise S.SpecError("broadcast_to of a compile-time constant (not a tensor in Triton)")
        shape = tuple(n["shape"])
        if S.broadcast_shapes(x.shape, shape) != shape:
            raise S.SpecError("broadcast_to to an incompatible shape")
        return S.Ty(x.dtype, shape, x.ptr)

    def render(self, n: Node, r: Any) -> str:
        return f"tl.broadcast_to({r.e(n['x'])}, {tuple(n['shape'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return shape_op(n, p, lambda t: np.broadcast_to(t, tuple(n["shape"])).copy())

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("broadcast_to")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "operand"

    def example(self) -> Any:
        return unary_case(S.bin_("+", S.var("x"), S.bcast(S.arg("s"), [16])), scalars={"s": ("fp32", 1.5)})
