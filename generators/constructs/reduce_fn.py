"""tl.reduce with a @triton.jit combine function, on one tensor or a (value, value) tuple, with
keep_dims; and the `x op reduce(y)` statistics production that broadcasts a reduction back over
its tile (softmax's `x - max(x, 1)[:, None]`), through keep_dims=True, tl.expand_dims, a
subscript, or a second reduction over the now size-1 axis.

Semantics: a reduction combines in an unspecified tree, so every combine used here is associative
and commutative (argmin/argmax tuples are lexicographic minima of (value, index) pairs: the
smaller index wins ties, whatever the index tensor holds). No dtype promotion happens inside
tl.reduce: an int8 sum is an int8 sum, so every partial result of every subset must fit the
dtype (the reference checks the sum of magnitudes). Float sums are exact when every partial sum
is, else they carry a reassociation bound; a float argmin is UB for the reference when another
value is within the error bound of the minimum.
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
from generators.geometry import place
from generators.numerics import INT_RANGE, MAX_FINITE, TINY, UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val, fl, int_val, overflow_guard
from generators.values import MANTISSA_BITS, MIN_EXP, TV, both_q, exact_q, limit

REDUCE_COMBINES = tuple(c.name for c in COMBINES.values() if c.reduce_ok)
VALUE_DTYPES = S.FLOAT_DTYPES + S.INT_DTYPES
SIG_BITS = MANTISSA_BITS  # significand bits per float dtype (one table: generators.values)


def reduce_fn(combine: str, x: Node, axis: int, keep_dims: bool | None = None, y: Node | None = None,
              pick: int | None = None) -> Node:
    """A tl.reduce node; tuple combines take `y` and return component `pick`."""
    return {"e": "reduce_fn", "combine": combine, "x": x, "y": y, "axis": axis, "keep_dims": keep_dims,
            "pick": pick}


def std_reduce(fn: str, x: Node, axis: int, keep_dims: bool | None = None) -> Node:
    """tl.sum/max/min/argmax/argmin/xor_sum (the `reduce` construct)."""
    n: Node = {"e": "reduce", "fn": fn, "x": x, "axis": axis}
    if keep_dims:
        n["keep_dims"] = True
    return n


def expand_call(x: Node, axis: int) -> Node:
    """tl.expand_dims(x, axis) as a call (the `expand_dims` construct)."""
    return {"e": "expand_dims", "x": x, "axis": axis}


# ---- reference semantics ----
def keep(r: np.ndarray | None, ax: int, keep_dims: bool) -> np.ndarray | None:
    return np.expand_dims(r, ax) if keep_dims and r is not None else r


def reduce_values(op: str, x: Val, ax: int) -> Val:
    """Reduction of x along ax with a scalar combine, in x's own dtype."""
    a, dt = x.a, x.dt
    cnt = a.shape[ax]
    if op == "add":
        if not x.is_float:
            overflow_guard("int64", np.sum(np.abs(a).astype(np.float64), axis=ax), "sum")
            int_val(dt, np.sum(np.abs(a), axis=ax), "sum of magnitudes")  # no partial result overflows
            return int_val(dt, np.sum(a, axis=ax), "sum")
        s64 = np.sum(a, axis=ax)
        mag = np.sum(np.abs(a) + x.err, axis=ax)
        prop = np.sum(x.err, axis=ax)
        exact = exact_sums(a, dt, prefix=False, ax=ax) & (prop == 0)
        slack = np.where(exact, 0.0, (cnt + 1) * UNIT_ROUNDOFF[dt] * mag + TINY[dt])
        return fl(dt, s64, prop + slack)
    if op == "mul":
        grow = np.prod(np.maximum(np.abs(a).astype(np.float64) + (x.err if x.is_float else 0), 1.0), axis=ax)
        if not x.is_float:
            if grow.size and grow.max() > min(INT_RANGE[dt][1], 2.0**62):
                raise UndefinedBehaviour("signed overflow", "partial products leave " + dt)
            return Val(np.prod(a, axis=ax), dt)
        if np.any(grow > MAX_FINITE[dt] / 2):
            raise UndefinedBehaviour("non-finite float", "partial products may overflow")
        f, s, dyadic = dyadic_bits(a)
        p64 = np.prod(a, axis=ax)
        prop = np.sum(x.err, axis=ax) * grow
        exact = (np.all(dyadic, axis=ax) & (np.sum(s, axis=ax) <= SIG_BITS[dt]) & (np.sum(f, axis=ax) <= MIN_EXP[dt])
                 & (prop == 0))
        slack = (2 * cnt + 2) * UNIT_ROUNDOFF[dt] * np.abs(p64) + cnt * TINY[dt] * grow
        return fl(dt, p64, prop + np.where(exact, 0.0, slack))
    if op in ("max", "min"):
        r = SCALAR_UFUNC[op].reduce(a, axis=ax)
        return Val(r, dt, np.max(x.err, axis=ax)) if x.is_float else Val(r, dt)
    if op in ("xor", "or", "and"):
        return Val(SCALAR_UFUNC[op].reduce(a, axis=ax), dt)
    raise ValueError(f"reduce combine {op}")


def arg_extreme(op: str, x: Val, idx: np.ndarray, ax: int) -> tuple[Val, np.ndarray]:
    """Lexicographic min (argmin) / max-then-min-index (argmax) of (x, idx) pairs along ax."""
    a = x.a
    best = np.min(a, axis=ax, keepdims=True) if op == "argmin" else np.max(a, axis=ax, keepdims=True)
    big = np.iinfo(np.int64).max
    pick = np.min(np.where(a == best, idx, big), axis=ax, keepdims=True)
    if x.is_float:
        chosen = (a == best) & (idx == pick)
        eb = np.max(np.where(chosen, x.err, 0.0), axis=ax, keepdims=True)
        tol = x.err + eb
        if np.any(~chosen & (tol > 0) & (np.abs(a - best) <= tol)):
            raise UndefinedBehaviour("ambiguous argmin/argmax", "a value within error bound of the extreme")
    err = np.max(x.err, axis=ax) if x.is_float else None
    return Val(np.squeeze(best, ax), x.dt, err), np.squeeze(pick, ax)


def _exact_argmin_ok(x: TV) -> bool:
    return not x.is_float or x.q is not None


# ---- generation ----
def stat(g: Any, b: TV, ax: int, dt: str, shape: tuple[int, ...], keep_dims: bool,
         leaves: list[TV], depth: int, order_free: bool = False) -> TV | None:
    """A reduction of b along ax (keep_dims or not), as a TV of the reduced shape, in dtype dt.

    `order_free`: only combines whose result ignores element order (b may be a ravel)."""
    n = shape[ax]
    rshape = tuple(1 if i == ax else s for i, s in enumerate(shape)) if keep_dims else shape[:ax] + shape[ax + 1:]
    std_ok = dt in ("fp32", "int32")
    kinds = {"custom": 2.6 * g.weight("reduce_combine")}
    if std_ok:
        kinds.update({"sum": 0.7, "max": 0.5, "min": 0.4})
        if not order_free:
            kinds.update({"argmin": 3.6 * g.weight("argmin"), "argmax": 0.4 * g.weight("argmax")})
    if dt in ("int8", "int16", "int32", "int64"):
        kinds["xor_sum"] = 8.0 * g.weight("xor_sum")
    if not any(w > 0 for w in kinds.values()):
        return None
    kind = g.ch.weighted(kinds)
    kd = True if keep_dims else None
    if kind in ("argmin", "argmax") and not _exact_argmin_ok(b):
        kind = "max"
    if kind == "sum":
        if n * b.mag >= limit(dt):
            return None
        q = exact_q(dt, b.q, n * b.mag) if b.is_float else 1.0
        return TV(std_reduce("sum", b.e, ax, kd), dt, rshape, min(b.lo, n * b.lo), max(b.hi, n * b.hi), q)
    if kind in ("max", "min"):
        return TV(std_reduce(kind, b.e, ax, kd), dt, rshape, b.lo, b.hi, b.q)
    if kind == "xor_sum":
        m = bits_bound(b.mag)
        return TV(std_reduce("xor_sum", b.e, ax, kd), dt, rshape, -m, m) if m < limit(dt) else None
    if kind in ("argmin", "argmax"):
        r = TV(std_reduce(kind, b.e, ax, kd), "int32", rshape, 0.0, float(n - 1), 1.0)
        return g.convert(r, dt)
    # tl.reduce with a combine function
    is_int = dt not in S.FLOAT_DTYPES
    fns = {"add": 0.7, "max": 0.4, "min": 0.4, "argmin": 2.2, "argmax": 1.2, "sum_max": 1.5, "mul": 0.3}
    if is_int:
        fns.update({"xor": 0.5, "or": 0.3, "and": 0.3})
    if order_free:
        for k in ("argmin", "argmax", "sum_max"):
            fns.pop(k)
    fn = g.ch.weighted(fns)
    if fn in ("argmin", "argmax") and not _exact_argmin_ok(b):
        fn = "sum_max"  # ties would be too close to call; the (sum, max) pair is still a tuple
    if fn == "add":
        if n * b.mag >= limit(dt):
            return None
        q = exact_q(dt, b.q, n * b.mag) if not is_int else 1.0
        return TV(reduce_fn("add", b.e, ax, kd), dt, rshape, min(b.lo, n * b.lo), max(b.hi, n * b.hi), q)
    if fn in ("max", "min"):
        return TV(reduce_fn(fn, b.e, ax, kd), dt, rshape, b.lo, b.hi, b.q)
    if fn in ("xor", "or", "and"):
        m = bits_bound(b.mag)
        return TV(reduce_fn(fn, b.e, ax, kd), dt, rshape, -m, m) if m < limit(dt) else None
    if fn == "mul":
        from generators.constructs.scan import gate

        c = b if b.mag <= 1 and (not b.is_float or b.q is not None) else gate(g, leaves, dt, shape, depth)
        q = exact_q(dt, c.q**n, 1.0) if c.is_float and c.q is not None and n * np.log2(max(c.q, 1.0)) < 60 else (
            1.0 if not c.is_float else None)
        return TV(reduce_fn("mul", c.e, ax, kd), dt, rshape, -c.mag, c.mag, q)
    if fn == "sum_max":
        other = g.pick_dtype(("fp32", "int32", "fp16", "int16", "int64"))
        c = g.expr(leaves, other, shape, max(0, depth - 2))
        if g.ch.coin(0.5) and n * b.mag < limit(dt):  # the sum component
            q = exact_q(dt, b.q, n * b.mag) if not is_int else 1.0
            return TV(reduce_fn("sum_max", b.e, ax, kd, c.e, 0), dt, rshape, min(b.lo, n * b.lo),
                      max(b.hi, n * b.hi), q)
        if n * c.mag >= limit(other):
            return None
        r = TV(reduce_fn("sum_max", c.e, ax, kd, b.e, 1), dt, rshape, b.lo, b.hi, b.q)
        return r
    # (value, index) tuples
    if g.ch.coin(0.7):
        ar = place(S.arange(n), ax, len(shape))
        idx = TV(S.bcast(ar, list(shape)) if shape != tuple(1 if i != ax else n for i in range(len(shape))) else ar,
                 "int32", shape, 0.0, float(n - 1), 1.0)
    else:
        idx = g.expr(leaves, "int32", shape, max(0, depth - 2))
    if g.ch.coin(0.6):
        r = TV(reduce_fn(fn, b.e, ax, kd, idx.e, 1), "int32", rshape, idx.lo, idx.hi, 1.0)
        return g.convert(r, dt)
    return TV(reduce_fn(fn, b.e, ax, kd, idx.e, 0), dt, rshape, b.lo, b.hi, b.q)


def _row_stat(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """`a op stat(b)`: a reduction of b broadcast back over the tile."""
    rank = len(shape)
    ax = g.ch.integer(0, rank - 1)
    form = g.ch.weighted({"keep_dims": 1.0 * g.weight("keep_dims"),
                          "expand_call": 0.7 * g.weight("expand_dims_call") if rank < 3 else 0.0,
                          "subscript": 0.4 if rank < 3 else 0.0,
                          "size1": 0.8 * g.weight("reduce_size1")})
    b = g.sub(leaves, dt, shape, depth)
    if form == "size1":
        # reduce over an axis of size 1: of b[..., None, ...] (rank < 3) or of a keep_dims result
        if rank < 3 and g.ch.coin(0.5):
            ax1 = g.ch.integer(0, rank)
            b1 = TV(expand_call(b.e, ax1) if g.ch.coin(0.5) else S.expand(b.e, ax1), dt,
                    shape[:ax1] + (1,) + shape[ax1:], b.lo, b.hi, b.q)
            s = stat(g, b1, ax1, dt, b1.shape, False, leaves, depth)
        else:
            s0 = stat(g, b, ax, dt, shape, True, leaves, depth)
            if s0 is None:
                return None
            s = stat(g, s0, ax, dt, s0.shape, True, leaves, depth)
    elif form == "keep_dims":
        s = stat(g, b, ax, dt, shape, True, leaves, depth)
    else:
        s = stat(g, b, ax, dt, shape, False, leaves, depth)
        if s is not None:
            e = expand_call(s.e, ax) if form == "expand_call" else S.expand(s.e, ax)
            s = TV(e, s.dt, shape[:ax] + (1,) + shape[ax + 1:], s.lo, s.hi, s.q)
    if s is None:
        return None
    a = g.sub(leaves, dt, shape, depth)
    op = g.ch.pick(["+", "-", "maximum", "minimum"] if dt != "int1" else ["maximum"])
    if op == "+":
        lo, hi = a.lo + s.lo, a.hi + s.hi
    elif op == "-":
        lo, hi = a.lo - s.hi, a.hi - s.lo
    else:
        lo, hi = min(a.lo, s.lo), max(a.hi, s.hi)
    if max(abs(lo), abs(hi)) >= limit(dt):
        return None
    q = both_q(a, s, max)
    q = exact_q(dt, q, max(abs(lo), abs(hi))) if dt in S.FLOAT_DTYPES else 1.0
    e = S.bin_(op, a.e, s.e) if op in ("+", "-") else S.call(op, a.e, s.e)
    return TV(e, dt, shape, lo, hi, q)


@register
class ReduceFn(Construct):
    name = "reduce_fn"
    node = "reduce_fn"
    fields = {"combine": enum_f(REDUCE_COMBINES), "x": expr_f(), "y": expr_f(optional=True), "axis": int_f(0, 2),
              "keep_dims": bool_f(), "pick": int_f(0, 1, optional=True)}
    features = ("reduce_combine", "reduce_tuple", "keep_dims", "reduce_size1")
    knobs = ("row_stat",)
    computes = True
    productions = (ExprProduction("row_stat", 1.2, _row_stat, knob="row_stat", min_rank=1),)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        c = COMBINES.get(n["combine"])
        if c is None or not c.reduce_ok:
            raise S.SpecError(f"unknown reduction combine {n['combine']!r}")
        if x.ptr or not x.shape or x.dtype not in VALUE_DTYPES:
            raise S.SpecError("tl.reduce takes value tensors")
        ax = n["axis"]
        if not 0 <= ax < len(x.shape):
            raise S.SpecError("reduce axis out of range")
        shape = x.shape[:ax] + ((1,) if n.get("keep_dims") else ()) + x.shape[ax + 1:]
        if c.arity == 1:
            if n.get("y") is not None or n.get("pick") is not None:
                raise S.SpecError(f"{c.name} reduces one tensor")
            if c.ints_only and x.is_float:
                raise S.SpecError(f"{c.name} reduction of floats")
            return S.Ty(x.dtype, shape)
        if n.get("y") is None or n.get("pick") not in (0, 1):
            raise S.SpecError(f"{c.name} reduces a pair and picks one component")
        y = tc.ty(n["y"])
        if y.ptr or y.shape != x.shape or y.dtype not in VALUE_DTYPES:
            raise S.SpecError("tuple reduction operands differ in shape")
        if c.name in ("argmin", "argmax") and not y.is_int:
            raise S.SpecError("argmin/argmax tuples carry an integer index")
        return S.Ty((x, y)[n["pick"]].dtype, shape)

    def render(self, n: Node, r: Any) -> str:
        c = COMBINES[n["combine"]]
        r.helper(c.fn_name, c.text())
        kd = ", keep_dims=True" if n.get("keep_dims") else ""
        if c.arity == 1:
            return f"tl.reduce({r.e(n['x'])}, {n['axis']}, {c.fn_name}{kd})"
        return f"tl.reduce(({r.e(n['x'])}, {r.e(n['y'])}), {n['axis']}, {c.fn_name}{kd})[{n['pick']}]"

    def evaluate(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        ax, kd, op = n["axis"], bool(n.get("keep_dims")), n["combine"]
        if COMBINES[op].arity == 1:
            v = reduce_values(op, x, ax)
        else:
            y = p.expr(n["y"])
            if op == "sum_max":
                v = reduce_values("add", x, ax) if n["pick"] == 0 else reduce_values("max", y, ax)
            else:
                best, idx = arg_extreme(op, x, y.a, ax)
                v = best if n["pick"] == 0 else Val(idx, y.dt)
        return Val(keep(v.a, ax, kd), v.dt, keep(v.err, ax, kd))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        f = fw.found
        f.add("reduce_tuple" if COMBINES[n["combine"]].arity == 2 else "reduce_combine")
        if n.get("keep_dims"):
            f.add("keep_dims")
        x = fw.ty(n["x"])
        if x.shape[n["axis"]] == 1:
            f.add("reduce_size1")
        if x.dtype == "bf16" or n.get("y") is not None and fw.ty(n["y"]).dtype == "bf16":
            f.add("bf16_compute")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        c = COMBINES[n["combine"]]
        if c.arity == 2:
            yield reduce_fn("max" if n["pick"] == 0 or n["combine"] == "sum_max" else "min",
                            n["x"] if n["pick"] == 0 else n["y"], n["axis"], n.get("keep_dims")), "single reduction"
        elif n["combine"] != "max":
            yield {**n, "combine": "max"}, "max reduction"

    def example(self) -> Any:
        x = S.var("x")
        ar = S.arange(16)
        arg = reduce_fn("argmin", x, 0, True, ar, 1)
        return unary_case(S.bin_("+", S.bin_("+", x, reduce_fn("add", x, 0, True)), S.cast(arg, "fp32")))
