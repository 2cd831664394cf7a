"""Scans: tl.cumsum, tl.cumprod and tl.associative_scan with a @triton.jit combine function,
along any axis, forward or with reverse=True.

Semantics (Triton's docs and its own tests): a reverse scan is flip, forward scan, flip; a
combine is applied as combine(accumulated, next) so non-commutative combines (the linear
recurrence h = a * h_prev + b of selective-scan kernels) keep their order. The scan's
combination tree is unspecified, so a float sum is exact only when every partial sum is (inputs
on a 2^-8 grid, magnitudes within the significand), else it carries a reassociation bound.
tl.cumsum/tl.cumprod of int8/int16/bf16 change dtype in some releases and not in others, so the
library forms are generated on fp32/fp16/int32/int64 only; combine-function scans keep every dtype.
Every partial result of every sub-range must fit its dtype (the reference checks it; the
generator's ranges avoid it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs._combine import COMBINES, SCALAR_UFUNC, bits_bound, dyadic_bits, exact_sums
from generators.constructs.base import (
    Construct,
    ExprProduction,
    Node,
    bool_f,
    enum_f,
    expr_f,
    int_f,
    register,
)
from generators.constructs.examples import unary_case
from generators.numerics import INT_RANGE, MAX_FINITE, TINY, UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val, fl, int_val
from generators.values import MANTISSA_BITS, MIN_EXP, TV, exact_q, limit

LIBRARY = ("cumsum", "cumprod")
LIBRARY_DTYPES = ("fp32", "fp16", "int32", "int64")
SCAN_COMBINES = ("add", "mul", "max", "min", "xor", "or", "and", "linrec")
FNS = LIBRARY + SCAN_COMBINES
VALUE_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES
SIG_BITS = MANTISSA_BITS  # significand bits per float dtype (one table: generators.values)


def scan(fn: str, x: Node, axis: int, reverse: bool | None = None, y: Node | None = None) -> Node:
    """A scan node; `y` is the second operand of the linear recurrence (h = x * h_prev + y)."""
    return {"e": "scan", "fn": fn, "x": x, "y": y, "axis": axis, "reverse": reverse}


# ---- generation ----
def gate(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int,
         values: tuple[float, ...] = (-1, 0, 1)) -> TV:
    """where(cond, c1, c2) with c1, c2 from `values`: a data-dependent tile of small exact
    values whose products never overflow."""
    c1, c2 = g.ch.pick(values), g.ch.pick(values)
    if dt not in S.FLOAT_DTYPES:
        c1, c2 = int(c1), int(c2)
    cond = g.condition(leaves, shape, max(1, depth - 1))
    a, b = g.const_tile(c1, dt, shape), g.const_tile(c2, dt, shape)
    return TV(S.where(cond, a, b), dt, shape, float(min(c1, c2)), float(max(c1, c2)), 2.0)


def _scan(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    ax = g.ch.integer(0, len(shape) - 1)
    n = shape[ax]
    is_int = dt not in S.FLOAT_DTYPES
    kinds = {"combine": 1.0 * g.weight("scan_combine")}
    if dt in LIBRARY_DTYPES:
        kinds["cumsum"] = 1.6 * g.weight("cumsum")
        kinds["cumprod"] = 1.2 * g.weight("cumprod")
    if not any(w > 0 for w in kinds.values()):
        return None
    kind = g.ch.weighted(kinds)
    rev = g.on("scan_reverse", 0.35) or None
    if kind == "combine":
        fns = {"add": 1.0, "max": 1.0, "min": 1.0, "mul": 0.5, "linrec": 0.8}
        if is_int:
            fns.update({"xor": 0.6, "or": 0.3, "and": 0.3})
        fn = g.ch.weighted(fns)
    else:
        fn = kind
    a = g.sub(leaves, dt, shape, depth)
    if fn in ("cumsum", "add"):
        span = n * a.mag
        if span >= limit(dt):
            return None
        q = exact_q(dt, a.q, span) if not is_int else 1.0
        return TV(scan(fn, a.e, ax, rev), dt, shape, min(a.lo, n * a.lo), max(a.hi, n * a.hi), q)
    if fn in ("max", "min"):
        return TV(scan(fn, a.e, ax, rev), dt, shape, a.lo, a.hi, a.q)
    if fn in ("xor", "or", "and"):
        m = bits_bound(a.mag)
        if m >= limit(dt):
            return None
        return TV(scan(fn, a.e, ax, rev), dt, shape, -m, m)
    if fn == "linrec":
        gates = (-1, 0, 1) if is_int or not g.ch.coin(0.3) else (-1, 0, 1, 0.5, -0.5)
        h = gate(g, leaves, dt, shape, depth, gates)
        span = n * a.mag
        if span >= limit(dt):
            return None
        q = exact_q(dt, a.q, span) if not is_int and max(gates) == 1 and min(gates) == -1 else None
        return TV(scan(fn, h.e, ax, rev, a.e), dt, shape, -span, span, 1.0 if is_int else q)
    # products: magnitudes <= 1 stay <= 1; otherwise a gate of -1/0/1 values
    if a.mag > 1 and n * np.log2(a.mag) >= np.log2(limit(dt)):
        a = gate(g, leaves, dt, shape, depth)
    m = a.mag if a.mag <= 1 else a.mag**n
    q = 1.0 if is_int else (exact_q(dt, a.q**n, m) if a.q is not None and n * np.log2(max(a.q, 1.0)) < 60
                            else None)
    return TV(scan(fn, a.e, ax, rev), dt, shape, -m, m, q)


# ---- reference semantics ----
def _last(a: np.ndarray, ax: int, rev: bool) -> np.ndarray:
    t = np.moveaxis(a, ax, -1)
    return t[..., ::-1] if rev else t


def _back(a: np.ndarray, ax: int, rev: bool) -> np.ndarray:
    t = a[..., ::-1] if rev else a
    return np.ascontiguousarray(np.moveaxis(t, -1, ax))


def _int_sum(dt: str, a: np.ndarray) -> np.ndarray:
    # every partial sum of a sub-range is bounded by the prefix sum of magnitudes
    int_val(dt, np.cumsum(np.abs(a), -1), "scan partial sums")
    return np.cumsum(a, -1)


def _float_sum(dt: str, a: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(1, a.shape[-1] + 1)
    s64 = np.cumsum(a, -1)
    mag = np.cumsum(np.abs(a) + e, -1)
    prop = np.cumsum(e, -1)
    exact = exact_sums(a, dt, prefix=True) & (prop == 0)
    slack = np.where(exact, 0.0, (k + 1) * UNIT_ROUNDOFF[dt] * mag + TINY[dt])
    return s64, prop + slack


def _int_prod(dt: str, a: np.ndarray) -> np.ndarray:
    grow = np.cumprod(np.maximum(np.abs(a).astype(np.float64), 1.0), -1)
    lo, hi = INT_RANGE[dt]
    if grow.size and grow.max() > min(hi, 2.0**62):
        raise UndefinedBehaviour("signed overflow", "scan partial products leave " + dt)
    return np.cumprod(a, -1)


def _float_prod(dt: str, a: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = a.shape[-1]
    k = np.arange(1, n + 1)
    p64 = np.cumprod(a, -1)
    grow = np.cumprod(np.maximum(np.abs(a) + e, 1.0), -1)
    if np.any(grow > MAX_FINITE[dt] / 2):
        raise UndefinedBehaviour("non-finite float", "scan partial products may overflow")
    f, s, dyadic = dyadic_bits(a)
    exact = (np.logical_and.accumulate(dyadic, -1) & (np.cumsum(s, -1) <= SIG_BITS[dt])
             & (np.cumsum(f, -1) <= MIN_EXP[dt]) & (np.cumsum(e, -1) == 0))
    # first-order propagation of input errors through the running product
    prop = np.zeros(a.shape)
    acc_p = np.zeros(a.shape[:-1])
    acc_e = np.zeros(a.shape[:-1])
    for i in range(n):
        ai, ei = a[..., i], e[..., i]
        acc_e = acc_e * (np.abs(ai) + ei) + (np.abs(acc_p) if i else 1.0) * ei
        acc_p = ai if i == 0 else acc_p * ai
        prop[..., i] = acc_e
    slack = (2 * k + 2) * UNIT_ROUNDOFF[dt] * np.abs(p64) + k * TINY[dt] * grow
    return p64, prop + np.where(exact, 0.0, slack)


def _linrec(dt: str, a: np.ndarray, b: np.ndarray, ea: np.ndarray | None, eb: np.ndarray | None,
            is_float: bool) -> tuple[np.ndarray, np.ndarray | None]:
    n = a.shape[-1]
    grow = np.cumprod(np.maximum(np.abs(a).astype(np.float64) + (ea if is_float else 0), 1.0), -1)
    bound = np.cumsum(np.abs(b).astype(np.float64) + (eb if is_float else 0), -1) * grow
    if is_float and np.any(bound > MAX_FINITE[dt] / 2):
        raise UndefinedBehaviour("non-finite float", "linear recurrence may overflow")
    if not is_float and bound.size and bound.max() > INT_RANGE[dt][1]:
        raise UndefinedBehaviour("signed overflow", "linear recurrence partial results leave " + dt)
    h = np.zeros(a.shape, dtype=np.float64 if is_float else np.int64)
    acc = np.zeros(a.shape[:-1], dtype=h.dtype)
    for i in range(n):
        acc = b[..., i] if i == 0 else a[..., i] * acc + b[..., i]
        h[..., i] = acc
    if not is_float:
        return h, None
    assert ea is not None and eb is not None
    prop = np.zeros(a.shape)
    acc_e = np.zeros(a.shape[:-1])
    for i in range(n):
        if i == 0:
            acc_e = eb[..., 0]
        else:
            acc_e = (np.abs(a[..., i]) + ea[..., i]) * acc_e + np.abs(h[..., i - 1]) * ea[..., i] + eb[..., i]
        prop[..., i] = acc_e
    gates_exact = np.all(np.isin(a, (-1.0, 0.0, 1.0))) and not np.any(ea)
    exact = gates_exact & exact_sums(b, dt, prefix=True) & (prop == 0)
    k = np.arange(1, n + 1)
    slack = (2 * k + 2) * UNIT_ROUNDOFF[dt] * bound + k * TINY[dt] * grow
    return h, prop + np.where(exact, 0.0, slack)


def scan_values(fn: str, x: Val, ax: int, rev: bool, y: Val | None = None) -> Val:
    """The reference result of a scan of `fn` over x (and y for linrec) along `ax`."""
    a = _last(x.a, ax, rev)
    e = _last(x.err, ax, rev) if x.is_float else None
    dt = x.dt
    op = {"cumsum": "add", "cumprod": "mul"}.get(fn, fn)
    if op == "add":
        if not x.is_float:
            return int_val(dt, _back(_int_sum(dt, a), ax, rev), "scan")
        r, err = _float_sum(dt, a, e)
        return fl(dt, _back(r, ax, rev), _back(err, ax, rev))
    if op == "mul":
        if not x.is_float:
            return int_val(dt, _back(_int_prod(dt, a), ax, rev), "scan")
        r, err = _float_prod(dt, a, e)
        return fl(dt, _back(r, ax, rev), _back(err, ax, rev))
    if op in ("max", "min"):
        u = SCALAR_UFUNC[op]
        r = _back(u.accumulate(a, -1), ax, rev)
        return Val(r, dt, _back(np.maximum.accumulate(e, -1), ax, rev)) if x.is_float else Val(r, dt)
    if op in ("xor", "or", "and"):
        return Val(_back(SCALAR_UFUNC[op].accumulate(a, -1), ax, rev), dt)
    if op == "linrec":
        assert y is not None
        b = _last(y.a, ax, rev)
        eb = _last(y.err, ax, rev) if y.is_float else None
        h, err = _linrec(dt, a, b, e, eb, x.is_float)
        if err is None:
            return int_val(dt, _back(h, ax, rev), "linear recurrence")
        return fl(dt, _back(h, ax, rev), _back(err, ax, rev))
    raise ValueError(f"scan {fn}")


@register
class Scan(Construct):
    name = "scan"
    node = "scan"
    fields = {"fn": enum_f(FNS), "x": expr_f(), "y": expr_f(optional=True), "axis": int_f(0, 2),
              "reverse": bool_f()}
    features = ("cumsum", "cumprod", "scan_combine", "scan_reverse")
    knobs = ("scan",)
    computes = True
    productions = (ExprProduction("scan", 0.8, _scan, knob="scan", min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        fn = n["fn"]
        if fn not in FNS:
            raise S.SpecError(f"unknown scan {fn!r}")
        if x.ptr or not x.shape or x.dtype not in VALUE_DTYPES:
            raise S.SpecError("scans take a value tensor")
        if not 0 <= n["axis"] < len(x.shape):
            raise S.SpecError("scan axis out of range")
        if fn in LIBRARY and x.dtype not in LIBRARY_DTYPES:
            raise S.SpecError(f"tl.{fn} is generated on {'/'.join(LIBRARY_DTYPES)} only")
        if fn in COMBINES and COMBINES[fn].ints_only and x.is_float:
            raise S.SpecError(f"{fn} scan on floats")
        y = n.get("y")
        if (fn == "linrec") != (y is not None):
            raise S.SpecError("the linear recurrence scan (only) takes a second operand")
        if y is not None and tc.ty(y) != x:
            raise S.SpecError("linear recurrence operands differ in type")
        return x

    def render(self, n: Node, r: Any) -> str:
        fn, ax = n["fn"], n["axis"]
        rev = ", reverse=True" if n.get("reverse") else ""
        if fn in LIBRARY:
            return f"tl.{fn}({r.e(n['x'])}, axis={ax}{rev})"
        c = COMBINES[fn]
        r.helper(c.fn_name, c.text())
        if c.arity == 2:
            return f"tl.associative_scan(({r.e(n['x'])}, {r.e(n['y'])}), {ax}, {c.fn_name}{rev})[1]"
        return f"tl.associative_scan({r.e(n['x'])}, {ax}, {c.fn_name}{rev})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        y = p.expr(n["y"]) if n.get("y") is not None else None
        return scan_values(n["fn"], x, n["axis"], bool(n.get("reverse")), y)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fn = n["fn"]
        fw.found.add(fn if fn in LIBRARY else "scan_combine")
        if n.get("reverse"):
            fw.found.add("scan_reverse")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n["fn"] != "linrec":
            yield n["x"], "operand"
        else:
            yield n["y"], "operand"
        if n.get("reverse"):
            yield {**n, "reverse": None}, "forward scan"
        if n["fn"] not in ("cumsum", "add", "linrec"):
            yield {**n, "fn": "max"}, "max scan"

    def example(self) -> Any:
        x = S.var("x")
        return unary_case(S.bin_("+", scan("cumsum", x, 0, True), scan("max", x, 0)))
