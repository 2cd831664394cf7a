"""Integer arithmetic that deliberately wraps: `a + b`, `a - b`, `a * b`, `a << b` modulo 2^bits.

Triton lowers integer `+ - * <<` to LLVM without overflow flags, so they wrap on every integer
type (generators/wrapping.py has the rules and their evidence); the plain `bin` node keeps its
no-overflow ranges and refuses signed overflow, while this node is where the generator means to
wrap: hash-like mixing (`x * 1103515245 + 12345`), unsigned arithmetic, int1 arithmetic (`+`/`-`
are xor, `*` is and). The productions here also build the unsigned computations (uint8..uint64
through casts, unsigned `//`, `%`, `>>`, compares and min/max) and boolean (int1) algebra, and
bring their result back into a small tracked range (`& mask`, `% m`, `>> k`) so the rest of the
expression stays UB-free by construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, enum_f, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.values import INT_LIMIT, TV, both_q, limit
from generators.wrapping import BITS, wrap_arith

OPS = ("+", "-", "*", "<<")
UMAX = {u: float(2 ** BITS[u] - 1) for u in S.UINT_DTYPES}
SMAX = {"int8": 127.0, "int16": 32767.0, "int32": 2.0**31 - 1, "int64": 2.0**63 - 1}
# Multipliers and increments of classic linear congruential generators, per type (each fits it).
MUL = {"int8": [37, 101, 77], "int16": [31421, 12829, 25173], "int32": [1103515245, 1664525, 22695477, 69069],
       "int64": [6364136223846793005, 2862933555777941757], "uint8": [37, 101, 197],
       "uint16": [31421, 40503, 25173], "uint32": [2654435769, 1664525, 2246822507, 3266489909],
       "uint64": [6364136223846793005, 2685821657736338717]}
ADD = {"int8": [17, 91], "int16": [6927, 13849], "int32": [12345, 1013904223], "int64": [1442695040888963407, 1],
       "uint8": [17, 233], "uint16": [6927, 52831], "uint32": [12345, 1013904223, 374761393],
       "uint64": [1442695040888963407, 1]}


def full_range(dt: str) -> tuple[float, float]:
    if dt in UMAX:
        return 0.0, UMAX[dt]
    if dt == "int1":
        return 0.0, 1.0
    return -SMAX[dt] - 1, SMAX[dt]


def typed_const(g: Any, v: int, dt: str, shape: tuple[int, ...]) -> S.Expr:
    """A constant of exactly dtype `dt` in every release: int32 literals, else tl.full."""
    if dt == "int32" and abs(v) < 2**31 and g.ch.coin(0.6):
        return S.const(v, "int32")
    return S.full(list(shape), v, dt)


def wrapped(op: str, a: TV, b: TV, dt: str) -> TV:
    """a op b as a wrap node, with the exact range when nothing wraps, else the full range."""
    if op == "+":
        ps = [a.lo + b.lo, a.hi + b.hi]
    elif op == "-":
        ps = [a.lo - b.hi, a.hi - b.lo]
    elif op == "*":
        ps = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    else:  # shift amounts are small constants
        ps = [a.lo * 2.0**b.lo, a.hi * 2.0**b.hi, a.lo * 2.0**b.hi, a.hi * 2.0**b.lo]
    lo, hi = min(ps), max(ps)
    flo, fhi = full_range(dt)
    if lo < flo or hi > fhi:
        lo, hi = flo, fhi
    return TV({"e": "wrap", "op": op, "a": a.e, "b": b.e}, dt, a.shape or b.shape, lo, hi)


def narrow(g: Any, x: TV, dt: str) -> TV | None:
    """Bring a wide-ranged integer back to a small range and into dtype `dt` (or None)."""
    shape = x.shape
    want = limit(dt) if dt in INT_LIMIT or dt in S.FLOAT_DTYPES else UMAX[dt]
    if dt in S.FLOAT_DTYPES:
        want = min(want, 2.0**10)  # exact in every float dtype
    bits = BITS.get(x.dt, 32)
    k = g.ch.weighted({"mask": 2.0, "mod": 1.5, "shift": 1.0})
    if k == "mask":
        # & of any value (negative ones too: two's complement) with a positive mask is in [0, m]
        m = 2 ** g.ch.integer(1, max(1, min(bits - 1, int(np.log2(max(want, 2))) - 1))) - 1
        v = TV(S.bin_("&", x.e, typed_const(g, m, x.dt, shape)), x.dt, shape, 0.0, float(m))
    elif k == "mod":
        m = g.ch.integer(2, int(min(want, 1000, UMAX.get(x.dt) or SMAX[x.dt])))
        lo = 0.0 if x.lo >= 0 else float(-(m - 1))
        v = TV(S.bin_("%", x.e, typed_const(g, m, x.dt, shape)), x.dt, shape, lo, float(m - 1))
    else:
        need = int(np.ceil(np.log2(max(x.mag, 1.0) + 1)))  # bits the value occupies
        keep = int(np.log2(max(want, 2))) - 1
        s = min(bits - 1, max(0, need - keep))
        lo, hi = float(np.floor(x.lo / 2.0**s)), float(np.floor(x.hi / 2.0**s))
        if max(abs(lo), abs(hi)) >= want:
            return None
        v = TV(S.bin_(">>", x.e, typed_const(g, s, x.dt, shape)), x.dt, shape, lo, hi)
    if v.dt == dt:
        return v
    if v.mag >= want:
        return None
    return TV(S.cast(v.e, dt), dt, shape, v.lo, v.hi, 1.0)


def signed_leaves(leaves: list[TV]) -> list[TV]:
    """Leaves for the other productions, which know signed types only: small unsigned leaves
    become int64 values, full-range ones are left out."""
    out = []
    for x in leaves:
        if x.dt not in S.UINT_DTYPES:
            out.append(x)
        elif x.hi < INT_LIMIT["int64"]:
            out.append(TV(S.cast(x.e, "int64"), "int64", x.shape, x.lo, x.hi, 1.0))
    return out


def int_source(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV:
    """A signed integer sub-expression (existing productions, no-overflow ranges)."""
    src = dt if dt in S.INT_DTYPES else g.ch.pick(["int32", "int32", "int16", "int64", "int8"])
    return g.sub(signed_leaves(leaves), src, shape, depth)


def as_type(x: TV, dt: str) -> TV:
    """x.to(dt) for integers, wrapping (modulo 2^bits) where the range does not fit."""
    if x.dt == dt:
        return x
    flo, fhi = full_range(dt)
    lo, hi = (x.lo, x.hi) if x.lo >= flo and x.hi <= fhi else (flo, fhi)
    return TV(S.cast(x.e, dt), dt, x.shape, lo, hi, 1.0)


# ---- generation ----
def _hash(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """Signed hash mixing: h = x * C1 + C2 (wrapping), optional xor-shift, then narrowed."""
    h_dt = g.ch.pick(["int32", "int32", "int64", "int16", "int8"])
    h = as_type(int_source(g, leaves, dt, shape, depth), h_dt)
    for _ in range(g.ch.integer(1, 2)):
        c = g.ch.pick(MUL[h_dt])
        h = wrapped("*", h, TV(typed_const(g, c, h_dt, shape), h_dt, shape, c, c), h_dt)
        d = g.ch.pick(ADD[h_dt])
        h = wrapped(g.ch.pick(["+", "+", "-"]), h, TV(typed_const(g, d, h_dt, shape), h_dt, shape, d, d), h_dt)
        if h_dt in ("int32", "int64") and g.on("umulhi", 0.35):  # Philox-style: mix in the high half
            c = g.ch.pick(MUL[h_dt])
            hi = {"e": "umulhi", "a": h.e, "b": typed_const(g, c, h_dt, shape)}
            h = TV(S.bin_("^", h.e, hi), h_dt, shape, *full_range(h_dt))
        if g.ch.coin(0.4):
            s = g.ch.integer(3, BITS[h_dt] - 2)
            sh = TV(S.bin_(">>", h.e, typed_const(g, s, h_dt, shape)), h_dt, shape, *full_range(h_dt))
            h = TV(S.bin_("^", h.e, sh.e), h_dt, shape, *full_range(h_dt))
    return narrow(g, h, dt)


def uint_expr(g: Any, leaves: list[TV], u: str, shape: tuple[int, ...], depth: int) -> TV:
    """An unsigned expression of dtype `u` with its exact (or full) range."""
    umax = UMAX[u]
    kinds = {"cast": 2.0, "hash": 1.2, "div": 1.0, "shift": 1.0, "bits": 1.0, "minmax": 0.6, "select": 0.5}
    if u in ("uint32", "uint64"):
        kinds["umulhi"] = 1.6 * g.weight("umulhi")
    k = "cast" if depth <= 1 else g.ch.weighted(kinds)
    if k == "cast":
        near = [x for x in leaves if x.shape == shape and x.dt in S.UINT_DTYPES]
        if near and g.ch.coin(0.7):  # an unsigned input: as is, or zero-extended / truncated
            same = [x for x in near if x.dt == u]
            return same[0] if same and g.ch.coin(0.6) else as_type(g.ch.pick(near), u)
        return as_type(int_source(g, leaves, "", shape, depth), u)
    a = uint_expr(g, leaves, u, shape, depth - 1)
    if k == "hash":
        c = g.ch.pick(MUL[u])
        h = wrapped("*", a, TV(typed_const(g, c, u, shape), u, shape, c, c), u)
        d = g.ch.pick(ADD[u])
        return wrapped(g.ch.pick(["+", "-"]), h, TV(typed_const(g, d, u, shape), u, shape, d, d), u)
    if k == "div":
        d = g.ch.pick([x for x in (1, 3, 7, 10, 255, 1000) if x <= umax])  # a constant of type u
        op = g.ch.pick(["//", "%"])
        if g.ch.coin(0.3):  # a runtime divisor >= 1: maximum(b, 1), unsigned
            b = uint_expr(g, leaves, u, shape, depth - 1)
            den = S.call("maximum", b.e, typed_const(g, 1, u, shape))
            dlo, dhi = max(1.0, b.lo), max(1.0, b.hi)
        else:
            den, dlo, dhi = typed_const(g, d, u, shape), float(d), float(d)
        if op == "//":
            return TV(S.bin_("//", a.e, den), u, shape, float(np.floor(a.lo / dhi)), float(np.floor(a.hi / dlo)))
        return TV(S.bin_("%", a.e, den), u, shape, 0.0, min(a.hi, dhi - 1))
    if k == "shift":
        s = g.ch.integer(0, BITS[u] - 1)
        amt = TV(typed_const(g, s, u, shape), u, shape, s, s)
        if g.ch.coin(0.5):
            lo, hi = float(np.floor(a.lo / 2.0**s)), float(np.floor(a.hi / 2.0**s))
            return TV(S.bin_(">>", a.e, amt.e), u, shape, lo, hi)
        return wrapped("<<", a, amt, u)
    b = uint_expr(g, leaves, u, shape, depth - 1)
    if k == "bits":
        op = g.ch.pick(["&", "|", "^"])
        top = float(2 ** int(max(a.hi, b.hi)).bit_length() - 1)
        return TV(S.bin_(op, a.e, b.e), u, shape, 0.0, min(a.hi, b.hi) if op == "&" else min(top, umax))
    if k == "minmax":
        fn = g.ch.pick(["maximum", "minimum"])
        f = max if fn == "maximum" else min
        return TV(S.call(fn, a.e, b.e), u, shape, f(a.lo, b.lo), f(a.hi, b.hi))
    if k == "select":  # an unsigned comparison choosing between the two
        c = S.bin_(g.ch.pick(list(S.CMP_OPS)), a.e, b.e)
        return TV(S.where(c, a.e, b.e), u, shape, min(a.lo, b.lo), max(a.hi, b.hi))
    c = g.ch.pick(MUL[u])  # umulhi: the high half of a * C
    n = BITS[u]
    return TV({"e": "umulhi", "a": a.e, "b": typed_const(g, c, u, shape)}, u, shape, 0.0,
              float((int(a.hi) * c) >> n))


def _unsigned(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """A computation in an unsigned type, brought back to `dt`."""
    u = g.ch.pick(list(S.UINT_DTYPES) + ["uint32", "uint32"])
    x = uint_expr(g, leaves, u, shape, max(2, depth))
    if g.ch.coin(0.25):  # an unsigned comparison as the result
        y = uint_expr(g, leaves, u, shape, 1)
        c = S.bin_(g.ch.pick(list(S.CMP_OPS)), x.e, y.e)
        return TV(S.cast(c, dt), dt, shape, 0.0, 1.0, 1.0)
    return narrow(g, x, dt)


def bool_expr(g: Any, leaves: list[TV], shape: tuple[int, ...], depth: int) -> S.Expr:
    """An int1 tile: comparisons and int1 casts combined by int1 arithmetic and logic."""
    if depth <= 0 or g.ch.coin(0.3):
        if g.ch.coin(0.3) or not signed_leaves(leaves):  # x.to(tl.int1) of an integer: x != 0
            x = int_source(g, leaves, "int32", shape, 1)
            return S.cast(S.bin_("&", x.e, typed_const(g, g.ch.pick([1, 2, 3]), x.dt, shape)), "int1")
        return g.condition(signed_leaves(leaves), shape, 1)
    a, b = bool_expr(g, leaves, shape, depth - 1), bool_expr(g, leaves, shape, depth - 1)
    op = g.ch.weighted({"+": 1.0, "-": 0.5, "*": 0.8, "^": 1.0, "==": 0.8, "!=": 0.6, "&": 0.4, "|": 0.4})
    if op in ("+", "-", "*"):
        return {"e": "wrap", "op": op, "a": a, "b": b}
    return S.bin_(op, a, b)


def _i1(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """int1 arithmetic (xor/and through + - *) and comparisons of masks, used as a value or a select."""
    a, b = bool_expr(g, leaves, shape, max(1, depth - 1)), bool_expr(g, leaves, shape, max(1, depth - 1))
    m = {"e": "wrap", "op": g.ch.pick(["+", "-", "*"]), "a": a, "b": b}
    if g.ch.coin(0.5):
        return TV(S.cast(m, dt), dt, shape, 0.0, 1.0, 1.0)
    sl = signed_leaves(leaves)
    x, y = g.sub(sl, dt, shape, depth), g.sub(sl, dt, shape, depth)
    return TV(S.where(m, x.e, y.e), dt, shape, min(x.lo, y.lo), max(x.hi, y.hi), both_q(x, y, max))


@register
class Wrap(Construct):
    name = "wrap"
    node = "wrap"
    fields = {"op": enum_f(OPS), "a": expr_f(), "b": expr_f()}
    features = ("int_wrap", "i1_arith")
    knobs = ("int_wrap", "i1_arith", "dtype_uint")
    computes = True
    productions = (
        ExprProduction("wrap_hash", 0.5, _hash, knob="int_wrap", floats=False, min_rank=1, exotic=True),
        ExprProduction("unsigned", 0.5, _unsigned, knob="dtype_uint", min_rank=1, exotic=True),
        ExprProduction("i1_arith", 0.5, _i1, knob="i1_arith", min_rank=1, exotic=True),
    )

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a, b = tc.ty(n["a"]), tc.ty(n["b"])
        if n["op"] not in OPS:
            raise S.SpecError(f"unknown wrapping operator {n['op']!r}")
        if a.ptr or b.ptr or not (a.is_int or a.dtype == "int1") or not (b.is_int or b.dtype == "int1"):
            raise S.SpecError("wrapping arithmetic is on integers")
        dt = S.promote(a.dtype, b.dtype)
        if dt is None:
            raise S.SpecError(f"operand dtypes differ: {a.dtype} {n['op']} {b.dtype}")
        if dt == "int1" and n["op"] == "<<":
            raise S.SpecError("<< on int1")
        return S.Ty(dt, S.broadcast_shapes(a.shape, b.shape))

    def render(self, n: Node, r: Any) -> str:
        return f"({r.e(n['a'])} {n['op']} {r.e(n['b'])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        x, y = p.expr(n["a"]), p.expr(n["b"])
        dt = x.dt if x.dt == y.dt else "int64"  # int32 meets int64: int64 wins
        return wrap_arith(n["op"], x, y, dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("i1_arith" if fw.ty(n).dtype == "int1" else "int_wrap")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["a"], "operand"
        yield n["b"], "operand"
        if n["op"] != "+":
            yield {**n, "op": "+"}, "plain wrapping add"

    def example(self) -> Any:
        h = {"e": "wrap", "op": "*", "a": S.cast(S.var("x"), "int32"), "b": S.const(1103515245, "int32")}
        h = {"e": "wrap", "op": "+", "a": h, "b": S.const(12345, "int32")}
        return unary_case(S.bin_("&", S.bin_(">>", h, S.const(16, "int32")), S.const(32767, "int32")),
                          out_dt="int32")
