"""More of tl.math: exp2, log2, rsqrt, sqrt_rn, floor, ceil, erf, div_rn and tl.sigmoid.

Triton accepts them on fp32 and fp64 only (math._check_dtype follows libdevice); the generator
uses them on fp16/bf16 values the way kernels do, through `.to(tl.float32)` and back, and builds
softmax-like rows (`e = tl.exp(x - tl.max(x)); e / tl.sum(e)`). Error bounds follow the GPU
implementations: exp2/log2/rsqrt/sigmoid are `ex2/lg2/rsqrt.approx` (or libdevice) with a few ulps
(2^-19 relative allowed, as for tl.exp), erf is libdevice's erff (2 ulps), sqrt_rn and div_rn
are correctly rounded (the usual two roundings), floor and ceil are exact but undefined for the
reference when an input's error bound straddles an integer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, enum_f, exprs_f, register
from generators.constructs.examples import unary_case
from generators.semantics import UndefinedBehaviour, Val, fl
from generators.values import TV

UNARY = ("exp2", "log2", "rsqrt", "sqrt_rn", "floor", "ceil", "erf", "sigmoid")
FNS = UNARY + ("div_rn",)
FP32_ONLY = ("sqrt_rn", "div_rn")  # tl.math checks fp32 only for these
APPROX = 2.0**-19
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _positive(g: Any, x: TV) -> tuple[S.Expr, float, float]:
    """abs(x) + 1: a value >= 1 (log2, rsqrt, sqrt_rn arguments)."""
    return S.bin_("+", S.call("abs", x.e), S.const(1.0, "fp32")), 1.0, x.mag + 1


# ---- generation ----
def _mathx(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """One function on fp32 (fp16/bf16 values go through fp32 and back)."""
    src = "fp32" if dt in ("fp32", "fp16", "bf16") else None
    if src is None:
        return None
    x = g.sub(leaves, src, shape, depth)
    fn = g.ch.pick(list(FNS))
    if fn in ("floor", "ceil"):
        if x.q is None:
            fn = "erf"
        else:
            e = {"e": "mathx", "fn": fn, "args": [x.e]}
            v = TV(e, "fp32", shape, float(np.floor(x.lo)), float(np.ceil(x.hi)), 1.0)
            return v if dt == "fp32" else g.convert(v, dt)
    if fn in ("exp2", "sigmoid") and x.mag > 12:
        return None
    if fn == "exp2":
        e, lo, hi = {"e": "mathx", "fn": fn, "args": [x.e]}, 0.0, 2.0**x.mag
    elif fn == "sigmoid":
        e, lo, hi = {"e": "mathx", "fn": fn, "args": [x.e]}, 0.0, 1.0
    elif fn == "erf":
        e, lo, hi = {"e": "mathx", "fn": fn, "args": [x.e]}, -1.0, 1.0
    elif fn == "div_rn":
        y = g.sub(leaves, "fp32", shape, depth)
        den, _, _ = _positive(g, y)
        e, lo, hi = {"e": "mathx", "fn": fn, "args": [x.e, den]}, -x.mag, x.mag
    else:
        arg, alo, ahi = _positive(g, x)
        e = {"e": "mathx", "fn": fn, "args": [arg]}
        lo, hi = {"log2": (0.0, math.log2(ahi) + 1), "rsqrt": (0.0, 1.0), "sqrt_rn": (1.0, math.sqrt(ahi) + 1)}[fn]
    v = TV(e, "fp32", shape, lo, hi)
    return v if dt == "fp32" else g.convert(v, dt)


def _softmax(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """A softmax along the last axis: exp(x - max(x)) / sum(exp(x - max(x))), or its exp2 form."""
    if dt != "fp32" or not shape:
        return None
    x = g.sub(leaves, "fp32", shape, max(0, depth - 1))
    if x.mag > 30 or x.q is None:  # exact rows: the reference's bound on the sum stays tight
        return None
    ax = len(shape) - 1

    def bcast(r: S.Expr) -> S.Expr:
        return S.expand(r, ax) if len(shape) > 1 else r

    if g.ch.coin(0.35):  # softmin: exp(min(x) - x)
        z = S.bin_("-", bcast(S.reduce_("min", x.e, ax)), x.e)
    else:
        z = S.bin_("-", x.e, bcast(S.reduce_("max", x.e, ax)))
    num = {"e": "mathx", "fn": "exp2", "args": [S.bin_("*", z, S.const(1.4426950408889634, "fp32"))]} \
        if g.ch.coin(0.5) else S.call("exp", z)
    den = bcast(S.reduce_("sum", num, ax))
    if g.ch.coin(0.3):
        return TV({"e": "mathx", "fn": "div_rn", "args": [num, den]}, "fp32", shape, 0.0, 1.0)
    return TV(S.bin_("/", num, den), "fp32", shape, 0.0, 1.0)


@register
class MathX(Construct):
    name = "mathx"
    node = "mathx"
    fields = {"fn": enum_f(FNS), "args": exprs_f(1, 2)}
    features = ("math_ext",)
    computes = True
    productions = (
        ExprProduction("math_ext", 0.45, _mathx, knob="math_ext", floats=True, min_rank=1),
        ExprProduction("softmax", 0.15, _softmax, knob="math_ext", dtypes=("fp32",), min_rank=1),
    )

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        fn = n["fn"]
        ts = [tc.ty(a) for a in n["args"]]
        if fn not in FNS or len(ts) != (2 if fn == "div_rn" else 1):
            raise S.SpecError(f"tl.math.{fn}: wrong arity")
        allowed = ("fp32",) if fn in FP32_ONLY else ("fp32", "fp64")
        if any(t.ptr or t.dtype not in allowed for t in ts) or len({t.dtype for t in ts}) != 1:
            raise S.SpecError(f"tl.math.{fn} takes {'/'.join(allowed)} operands of one dtype")
        shape = ts[0].shape if len(ts) == 1 else S.broadcast_shapes(ts[0].shape, ts[1].shape)
        return S.Ty(ts[0].dtype, shape)

    def render(self, n: Node, r: Any) -> str:
        mod = "tl" if n["fn"] == "sigmoid" else "tl.math"
        return f"{mod}.{n['fn']}({', '.join(r.e(a) for a in n['args'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        fn = n["fn"]
        xs = [p.expr(a) for a in n["args"]]
        x = xs[0]
        a, ea, dt = x.a, x.err, x.dt
        with np.errstate(all="ignore"):
            if fn in ("floor", "ceil"):
                f = np.floor if fn == "floor" else np.ceil
                if np.any((ea > 0) & (f(a - ea) != f(a + ea))):
                    raise UndefinedBehaviour("ambiguous floor/ceil", "value within error of an integer")
                return Val(f(a), dt, np.zeros(a.shape))
            if fn == "exp2":
                r = np.exp2(a)
                return fl(dt, r, r * np.expm1(ea * math.log(2)), np.abs(r) * (APPROX + np.abs(a) * 2.0**-22))
            if fn == "sigmoid":
                r = 1.0 / (1.0 + np.exp(-a))
                return fl(dt, r, ea / 4, APPROX * 4 * np.abs(r) + 2.0**-40)  # |sigmoid'| <= 1/4
            if fn == "erf":
                r = _erf(a)
                return fl(dt, r, ea * 2 / math.sqrt(math.pi), 2.0**-20 * np.abs(r) + 2.0**-40)
            if fn in ("log2", "rsqrt", "sqrt_rn"):
                if np.any(a - ea <= 0):
                    raise UndefinedBehaviour("math domain", f"{fn} of a non-positive value")
                if fn == "log2":
                    r = np.log2(a)
                    return fl(dt, r, ea / ((a - ea) * math.log(2)), APPROX * np.maximum(1.0, np.abs(r)))
                if fn == "rsqrt":
                    r = 1.0 / np.sqrt(a)
                    return fl(dt, r, ea / (2 * (a - ea) ** 1.5), APPROX * r)
                r = np.sqrt(a)
                return fl(dt, r, ea / (2 * np.sqrt(a - ea)))
            y = xs[1]
            b, eb = y.a, y.err
            if np.any(np.abs(b) <= eb) or np.any(b == 0):
                raise UndefinedBehaviour("division by zero", "div_rn divisor may be zero")
            r = a / b
            return fl(dt, r, (ea + np.abs(r) * eb) / (np.abs(b) - eb))
        raise ValueError(f"mathx {fn}")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("math_ext")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        for a in n["args"]:
            yield a, "operand"

    def example(self) -> Any:
        x1 = S.bin_("+", S.call("abs", S.var("x")), S.const(1.0, "fp32"))
        e = S.bin_("+", {"e": "mathx", "fn": "exp2", "args": [S.var("x")]},
                   {"e": "mathx", "fn": "rsqrt", "args": [x1]})
        e = S.bin_("+", e, {"e": "mathx", "fn": "div_rn", "args": [S.var("x"), x1]})
        return unary_case(S.bin_("+", e, {"e": "mathx", "fn": "floor", "args": [S.var("x")]}))
