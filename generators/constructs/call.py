"""Elementwise library calls: tl.maximum/minimum, tl.abs and the tl.math functions.

Transcendentals are approximate on GPUs: their error bound allows 2^-19 relative error on top of
the two roundings, so no backend's libm choice is a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, enum_f, exprs_f, register
from generators.constructs.examples import unary_case
from generators.semantics import UndefinedBehaviour, Val, fl, int_val

BINARY_FNS = ("maximum", "minimum")
FNS = BINARY_FNS + S.MATH_FNS


@register
class Call(Construct):
    name = "call"
    node = "call"
    fields = {"fn": enum_f(FNS), "args": exprs_f(1, 2)}
    features = ("minmax", "math_fn")
    computes = True

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        fn = n["fn"]
        ts = [tc.ty(a) for a in n["args"]]
        want = 2 if fn in BINARY_FNS else 1
        if fn not in FNS:
            raise S.SpecError(f"unknown function {fn}")
        if len(ts) != want or any(t.ptr for t in ts):
            raise S.SpecError(f"{fn} takes {want} value operand(s)")
        if fn in BINARY_FNS:
            if ts[0].dtype != ts[1].dtype:
                raise S.SpecError("maximum/minimum dtypes differ")
            return S.Ty(ts[0].dtype, S.broadcast_shapes(ts[0].shape, ts[1].shape))
        if fn != "abs" and ts[0].dtype != "fp32":
            raise S.SpecError(f"{fn} is generated on fp32 only")
        return ts[0]

    def render(self, n: Node, r: Any) -> str:
        return f"tl.{n['fn']}({', '.join(r.e(a) for a in n['args'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        fn = n["fn"]
        xs = [p.expr(a) for a in n["args"]]
        x = xs[0]
        if fn in BINARY_FNS:
            y = xs[1]
            f = np.maximum if fn == "maximum" else np.minimum
            if x.is_float:
                return Val(f(x.a, y.a), x.dt, np.maximum(x.err, y.err))
            return Val(f(x.a, y.a), x.dt)
        if fn == "abs":
            if x.is_float:
                return Val(np.abs(x.a), x.dt, x.err)
            return int_val(x.dt, np.abs(x.a), "abs")
        a, ea = x.a, x.err
        approx = 2.0**-19
        with np.errstate(all="ignore"):
            if fn == "exp":
                r = np.exp(a)
                return fl(x.dt, r, r * np.expm1(ea), np.abs(r) * (approx + np.abs(a) * 2.0**-22))
            if fn == "log":
                if np.any(a - ea <= 0):
                    raise UndefinedBehaviour("math domain", "log of a non-positive value")
                return fl(x.dt, np.log(a), ea / (a - ea), approx * np.maximum(1.0, np.abs(np.log(a))))
            if fn == "sqrt":
                if np.any(a < 0):
                    raise UndefinedBehaviour("math domain", "sqrt of a negative value")
                r = np.sqrt(a)
                prop = np.minimum(np.sqrt(ea), ea / (2 * np.sqrt(np.maximum(a - ea, 1e-300))))
                return fl(x.dt, r, prop, approx * r)
            if fn in ("sin", "cos"):
                r = np.sin(a) if fn == "sin" else np.cos(a)
                return fl(x.dt, r, ea, approx * (1.0 + np.abs(a)))
        raise ValueError(f"call {fn}")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("minmax" if n["fn"] in BINARY_FNS else "math_fn")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        for a in n["args"]:
            yield a, "operand"

    def example(self) -> Any:
        return unary_case(S.call("maximum", S.call("exp", S.var("x")), S.call("abs", S.var("x"))))
