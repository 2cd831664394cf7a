"""A Python literal (int, float, bool) typed as int32/fp32/int1 the way every release types it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, dtype_f, num_f, register
from generators.constructs.examples import unary_case
from generators.numerics import UNIT_ROUNDOFF, round_to
from generators.semantics import Val

CONST_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES + ("int1",) + S.UINT_DTYPES + S.FP8_DTYPES


def const_val(v: Any, dt: str) -> Val:
    if dt in UNIT_ROUNDOFF:
        return Val(round_to(dt, np.asarray(float(v))), dt, np.zeros(()))
    if dt == "int1":
        return Val(np.asarray(bool(v)), dt)
    if dt in S.UINT_DTYPES:  # unsigned values are held as uint64 (generators/wrapping.py)
        return Val(np.asarray(int(v), dtype=np.uint64), dt)
    return Val(np.asarray(int(v), dtype=np.int64), dt)


@register
class Const(Construct):
    name = "const"
    node = "const"
    fields = {"v": num_f(), "dt": dtype_f(CONST_DTYPES)}

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        return S.Ty(n["dt"])

    def render(self, n: Node, r: Any) -> str:
        return r.lit(n["v"], n["dt"])

    def evaluate(self, n: Node, p: Any) -> Val:
        return const_val(n["v"], n["dt"])

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        """Literals are features where they meet a tensor (see bin)."""

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n["v"] not in (0, 1):
            yield {**n, "v": 1 if n["dt"] not in S.FLOAT_DTYPES else 1.0}, "simpler constant"

    def example(self) -> Any:
        return unary_case(S.bin_("+", S.var("x"), S.const(1.5, "fp32")))
