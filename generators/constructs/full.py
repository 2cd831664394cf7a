"""tl.full(shape, v, dtype) and tl.zeros(shape, dtype)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, bool_f, dtype_f, num_f, register, shape_f
from generators.constructs.const import CONST_DTYPES, const_val
from generators.constructs.examples import unary_case
from generators.semantics import Val


@register
class Full(Construct):
    name = "full"
    node = "full"
    fields = {"shape": shape_f(min_rank=0), "v": num_f(), "dt": dtype_f(CONST_DTYPES), "zeros": bool_f()}
    features = ("full",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        return S.Ty(n["dt"], tuple(n["shape"]))

    def render(self, n: Node, r: Any) -> str:
        dt = r.tl_dtype(n["dt"])
        if n["v"] == 0 and n.get("zeros", True):
            return f"tl.zeros({n['shape']}, dtype={dt})"
        return f"tl.full({n['shape']}, {r.lit(n['v'], n['dt'])}, {dt})"

    def evaluate(self, n: Node, p: Any) -> Val:
        c = const_val(n["v"], n["dt"])
        a = np.broadcast_to(c.a, tuple(n["shape"])).copy()
        return Val(a, c.dt, np.zeros(a.shape) if c.is_float else None)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("full")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n["v"] not in (0, 1):
            yield {**n, "v": 1 if n["dt"] not in S.FLOAT_DTYPES else 1.0}, "simpler constant"

    def example(self) -> Any:
        return unary_case(S.bin_("+", S.var("x"), S.full([16], 2.0, "fp32")))
