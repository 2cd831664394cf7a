"""Elementwise library calls: tl.maximum/minimum, tl.abs and the tl.math functions.

Transcendentals are approximate on GPUs: their error bound allows 2^-19 relative error on top of
the two roundings, so no backend's libm choice is a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, enum_f, exprs_f, register
from generators.constructs.examples import unary_case
from generators.semantics import UndefinedBehaviour, Val, fl, int_val
from generators.values import TV, both_q

BINARY_FNS = ("maximum", "minimum")
FNS = BINARY_FNS + S.MATH_FNS


# ---- generation ----
def _minmax(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
    fn = g.ch.pick(["maximum", "minimum"])
    return TV(S.call(fn, a.e, b.e), dt, shape, min(a.lo, b.lo), max(a.hi, b.hi), both_q(a, b, max))


def _abs(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    return TV(S.call("abs", a.e), dt, shape, 0.0, a.mag, a.q)


def _math(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    fn = g.ch.pick(["exp", "log", "sqrt", "sin", "cos"])
    if fn == "exp":
        if a.mag > 8:
            return None
        return TV(S.call("exp", a.e), dt, shape, 0.0, float(np.exp(a.mag)))
    if fn == "log":
        arg_ = S.bin_("+", S.call("abs", a.e), S.const(1.0, "fp32"))
        return TV(S.call("log", arg_), dt, shape, 0.0, float(np.log(a.mag + 1)) + 1)
    if fn == "sqrt":
        return TV(S.call("sqrt", S.call("abs", a.e)), dt, shape, 0.0, float(np.sqrt(a.mag)) + 1)
    if a.mag > 50:
        return None
    return TV(S.call(fn, a.e), dt, shape, -1.0, 1.0)


@register
class Call(Construct):
    name = "call"
    node = "call"
    fields = {"fn": enum_f(FNS), "args": exprs_f(1, 2)}
    features = ("minmax", "math_fn")
    computes = True
    productions = (
        ExprProduction("minmax", 1.0, _minmax, knob="minmax"),
        ExprProduction("abs", 0.5, _abs),
        ExprProduction("math", 1.2, _math, knob="math_fn", dtypes=("fp32",)),
    )

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
