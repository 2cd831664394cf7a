"""x.to(dtype): int narrowing wraps, float->int truncates, float->float rounds to nearest even."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, dtype_f, expr_f, register
from generators.constructs.examples import unary_case
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import INT_RANGE, UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val, fl
from generators.values import TV
from generators.wrapping import cast_int

CAST_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES + ("int1",) + S.UINT_DTYPES + S.FP8_DTYPES


# ---- generation ----
def _cast(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """A value computed in another dtype, converted where its range survives."""
    via = g.pick_dtype(tuple(d for d in DTYPE_WEIGHTS if d != dt))
    a = g.expr(leaves, via, shape, depth - 1)
    return g.convert(a, dt)


@register
class Cast(Construct):
    name = "cast"
    node = "cast"
    fields = {"x": expr_f(), "dt": dtype_f(CAST_DTYPES)}
    features = ("cast",)
    productions = (ExprProduction("cast", 1.0, _cast, knob="cast"),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if x.ptr:
            raise S.SpecError("cast of a pointer")
        floats = (*S.FLOAT_DTYPES, "fp64", *S.FP8_DTYPES)
        if (x.dtype in S.FP8_DTYPES or n["dt"] in S.FP8_DTYPES) and not (x.dtype in floats and n["dt"] in floats):
            # Triton's frontend: "cannot cast fp8e4nv[...] to <..., int32>" (fp8 converts to floats only)
            raise S.SpecError(f"cast between {x.dtype} and {n['dt']}: fp8 converts to and from floats only")
        return S.Ty(n["dt"], x.shape)

    def render(self, n: Node, r: Any) -> str:
        return f"{r.atom(n['x'])}.to({r.tl_dtype(n['dt'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        dt = n["dt"]
        if dt == x.dt:
            return x
        if dt in S.UINT_DTYPES or x.dt in S.UINT_DTYPES:
            return cast_int(x, dt)
        if dt == "int1":
            return Val(x.a != 0, "int1")
        if dt in UNIT_ROUNDOFF:
            if x.dt == "int1":
                return Val(x.a.astype(np.float64), dt, np.zeros(x.a.shape))
            prop = x.err if x.err is not None else np.zeros(x.a.shape)
            return fl(dt, x.a.astype(np.float64), prop)
        lo, hi = INT_RANGE[dt]
        if x.is_float:
            t = np.trunc(x.a)
            if np.any((x.err > 0) & (np.trunc(x.a - x.err) != np.trunc(x.a + x.err))):
                raise UndefinedBehaviour("ambiguous float->int cast", "value within error of an integer")
            if t.size and (t.min() < lo or t.max() > hi):
                raise UndefinedBehaviour("float->int cast overflow", f"to {dt}")
            return Val(t.astype(np.int64), dt)
        if x.dt == "int1":
            return Val(x.a.astype(np.int64), dt)
        bits = int(dt[3:])
        if bits == 64:
            return Val(x.a.astype(np.int64), dt)
        span = 1 << bits
        return Val(((x.a - lo) % span) + lo, dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("cast")
        t, src = fw.ty(n).dtype, fw.ty(n["x"]).dtype
        if "bf16" in (t, src) and {t, src} - {"bf16", "fp32", "fp16"}:
            fw.found.add("bf16_compute")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "operand"

    def example(self) -> Any:
        return unary_case(S.cast(S.var("x"), "int32"), out_dt="int32")
