"""Binary operators: arithmetic, bitwise, shifts, comparisons, mask logic and pointer offsets.

Semantics (checked against Triton's frontend): int `//` truncates toward zero (arith.divsi), `%`
takes the dividend's sign (arith.remsi), `>>` on signed ints is arithmetic, int32 meeting int64
promotes to int64; `ptr + int` offsets a pointer. Signed overflow, division by zero and
out-of-range shifts are UB for the reference (the generator's value ranges avoid them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, ExprProduction, Node, enum_f, expr_f, register
from generators.constructs.examples import unary_case
from generators.numerics import TINY, UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val, fl, int_val, overflow_guard
from generators.values import TV, both_q, exact_q, limit, mul_range
from generators.wrapping import uint_bin

OPS = S.ARITH_OPS + S.BIT_OPS + S.CMP_OPS
_CMP = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
        "==": np.equal, "!=": np.not_equal}


# ---- generation ----
def _arith(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
    op = g.ch.pick(["+", "-", "*"])
    if op == "*":
        lo, hi = mul_range(a, b)
    elif op == "+":
        lo, hi = a.lo + b.lo, a.hi + b.hi
    else:
        lo, hi = a.lo - b.hi, a.hi - b.lo
    if max(abs(lo), abs(hi)) >= limit(dt):
        return None
    q = both_q(a, b, lambda x, y: x * y if op == "*" else max(x, y))
    return TV(S.bin_(op, a.e, b.e), dt, shape, lo, hi, exact_q(dt, q, max(abs(lo), abs(hi))))


def _scalar(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    """A tensor meeting a splatted scalar: runtime argument, constexpr or literal."""
    s = g.scalar_operand(dt)
    if s is None:
        return None
    a = g.sub(leaves, dt, shape, depth)
    op = g.ch.pick(["*", "+"] if dt in S.FLOAT_DTYPES else ["*", "+", "-"])
    lo, hi = mul_range(a, s) if op == "*" else (a.lo + s.lo, a.hi + s.hi) if op == "+" else (
        a.lo - s.hi, a.hi - s.lo)
    if max(abs(lo), abs(hi)) >= limit(dt):
        return None
    pair = (a.e, s.e) if g.ch.coin(0.7) or op == "-" else (s.e, a.e)
    q = both_q(a, s, lambda x, y: x * y if op == "*" else max(x, y))
    return TV(S.bin_(op, *pair), dt, shape, lo, hi, exact_q(dt, q, max(abs(lo), abs(hi))))


def _div(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
    one = g.const_tile(1.0, dt, shape)
    den = S.bin_("+", S.call("abs", b.e), one)
    return TV(S.bin_("/", a.e, den), dt, shape, -a.mag, a.mag)


def _divmod(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
    op = g.ch.pick(["//", "%"])
    if g.ch.coin(0.5):
        d = g.ch.integer(1, 7)
        den = g.const_tile(d, dt, shape)
        dmax = float(d)
    else:
        one = g.const_tile(1, dt, shape)
        den = S.call("maximum", b.e, one)
        dmax = max(1.0, b.hi)
    if op == "//":
        return TV(S.bin_(op, a.e, den), dt, shape, -a.mag, a.mag)
    m = min(a.mag, dmax - 1)
    return TV(S.bin_(op, a.e, den), dt, shape, -m, m)


def _bitwise(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a, b = g.sub(leaves, dt, shape, depth), g.sub(leaves, dt, shape, depth)
    op = g.ch.pick(["&", "|", "^"])
    bits = int(max(a.mag, b.mag)).bit_length() + 1
    m = float(2**bits)
    if m >= limit(dt):
        return None
    return TV(S.bin_(op, a.e, b.e), dt, shape, -m, m)


def _shift(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
    a = g.sub(leaves, dt, shape, depth)
    k = g.ch.integer(0, 3)
    amt = g.const_tile(k, dt, shape)
    if g.ch.coin(0.5):
        if a.mag * 2**k >= limit(dt):
            return None
        return TV(S.bin_("<<", a.e, amt), dt, shape, a.lo * 2**k, a.hi * 2**k)
    return TV(S.bin_(">>", a.e, amt), dt, shape, float(np.floor(a.lo / 2**k)), float(np.floor(a.hi / 2**k)))


@register
class BinOp(Construct):
    name = "bin"
    node = "bin"
    fields = {"op": enum_f(OPS), "a": expr_f(), "b": expr_f()}
    features = ("int_arith", "float_arith", "compare", "bitwise", "shift", "int_divmod", "mask_and",
                "mask_or", "mask_causal", "mask_2d_broadcast", "mask_multirange", "implicit_broadcast",
                "splat_runtime_scalar", "splat_constexpr", "float_literal", "int_literal", "scalar_scale_acc",
                "offs_int32", "offs_int64", "offs_floordiv", "offs_mod", "gather", "ptr_runtime_stride",
                "ptr_constexpr_stride")
    computes = True
    productions = (
        ExprProduction("arith", 4.0, _arith),
        ExprProduction("scalar", 1.5, _scalar),
        ExprProduction("div", 0.6, _div, floats=True),
        ExprProduction("divmod", 1.0, _divmod, knob="int_divmod", floats=False),
        ExprProduction("bitwise", 1.5, _bitwise, knob="bitwise", floats=False),
        ExprProduction("shift", 0.8, _shift, knob="shift", floats=False),
    )

    # ---- type rule ----
    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a, b = tc.ty(n["a"]), tc.ty(n["b"])
        shape = S.broadcast_shapes(a.shape, b.shape)
        op = n["op"]
        if op not in OPS:
            raise S.SpecError(f"unknown operator {op!r}")
        if a.ptr or b.ptr:
            if a.handle or b.handle:
                raise S.SpecError(f"arithmetic on a {a.handle or b.handle}")
            if op != "+" or b.ptr or not b.is_int:
                raise S.SpecError("pointer arithmetic is ptr + int offsets only")
            return S.Ty(a.dtype, shape, True)
        dt = S.promote(a.dtype, b.dtype)
        if dt is None:
            raise S.SpecError(f"operand dtypes differ: {a.dtype} {op} {b.dtype}")
        if op in S.CMP_OPS:
            return S.Ty("int1", shape)
        a = S.Ty(dt, a.shape)
        if op in S.BIT_OPS and a.is_float:
            raise S.SpecError("bitwise op on floats")
        if op in ("//", "%") and a.is_float:
            raise S.SpecError("// and % are generated on integers only")
        if op == "/" and not a.is_float:
            raise S.SpecError("/ is generated on floats only")
        if a.dtype == "int1" and op not in ("&", "|", "^"):
            raise S.SpecError(f"{op} on int1")
        return S.Ty(dt, shape)

    def render(self, n: Node, r: Any) -> str:
        return f"({r.e(n['a'])} {n['op']} {r.e(n['b'])})"

    # ---- reference semantics ----
    def evaluate(self, n: Node, p: Any) -> Val:
        x, y = p.expr(n["a"]), p.expr(n["b"])
        op = n["op"]
        if x.buf is not None:
            overflow_guard("int64", x.a + np.abs(y.a).astype(np.float64), "pointer offset")
            return Val(x.a + y.a, x.dt, buf=x.buf)
        if x.dt in S.UINT_DTYPES:  # unsigned: wrapping arithmetic, unsigned div/shift/compare
            return uint_bin(op, x, y)
        if op in _CMP:
            return compare(op, x, y)
        if x.is_float:
            return float_bin(op, x, y)
        if x.dt != y.dt:  # int32 meets int64: int64 wins
            x, y = Val(x.a, "int64"), Val(y.a, "int64")
        if x.dt == "int1":
            f = {"&": np.logical_and, "|": np.logical_or, "^": np.logical_xor}[op]
            return Val(f(x.a, y.a), "int1")
        return int_bin(op, x, y)

    # ---- features ----
    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        f = fw.found
        t = fw.ty(n)
        a, b = fw.ty(n["a"]), fw.ty(n["b"])
        op = n["op"]
        if op in S.CMP_OPS and a.dtype == "bf16":
            f.add("bf16_compute")
        if a.ptr:
            f.add("offs_int64" if b.dtype == "int64" else "offs_int32")
            fw.offset(n["b"])
        elif op in S.CMP_OPS:
            f.add("compare")
            if len(a.shape) == 2 and len(b.shape) == 2 and a.shape != b.shape:
                f.add("mask_causal" if op in ("<", "<=", ">", ">=") else "mask_2d_broadcast")
        elif a.dtype == "int1":
            f.add({"&": "mask_and", "|": "mask_or", "^": "mask_and"}[op])
            if len(t.shape) >= 2 and a.shape != b.shape:
                f.add("mask_2d_broadcast")
            if op == "|" and all(x["e"] == "bin" and x["op"] == "&" for x in (n["a"], n["b"])):
                f.add("mask_multirange")
        elif op in ("&", "|", "^"):
            f.add("bitwise")
        elif op in ("<<", ">>"):
            f.add("shift")
        elif op in ("//", "%"):
            f.add("int_divmod")
        else:
            f.add("float_arith" if t.is_float else "int_arith")
        if a.shape and b.shape and a.shape != b.shape:
            f.add("implicit_broadcast")
        for side, other in ((n["a"], b), (n["b"], a)):
            sk = fw.scalar_kind(side)
            if sk and other.shape:
                f.add({"scalar": "splat_runtime_scalar", "constexpr": "splat_constexpr",
                       "const": "float_literal" if t.is_float else "int_literal"}[sk])
                if op == "*" and t.is_float and sk in ("scalar", "constexpr") and not in_offset:
                    f.add("scalar_scale_acc")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["a"], "operand"
        yield n["b"], "operand"

    def example(self) -> Any:
        return unary_case(S.bin_("-", S.bin_("*", S.var("x"), S.var("x")), S.const(1.0, "fp32")))


def compare(op: str, x: Val, y: Val) -> Val:
    if x.is_float:
        tol = x.err + y.err
        if np.any((tol > 0) & (np.abs(x.a - y.a) <= tol)):
            raise UndefinedBehaviour("ambiguous float comparison", "operands closer than their error bound")
    return Val(_CMP[op](x.a, y.a), "int1")


def float_bin(op: str, x: Val, y: Val) -> Val:
    a, b, ea, eb = x.a, y.a, x.err, y.err
    with np.errstate(all="ignore"):
        if op == "+":
            return fl(x.dt, a + b, ea + eb)
        if op == "-":
            return fl(x.dt, a - b, ea + eb)
        if op == "*":
            return fl(x.dt, a * b, np.abs(a) * eb + np.abs(b) * ea + ea * eb)
        if op == "/":
            if np.any(np.abs(b) <= eb) or np.any(b == 0):
                raise UndefinedBehaviour("division by zero", "float divisor may be zero")
            r = a / b
            prop = (ea + np.abs(r) * eb) / (np.abs(b) - eb)
            # Division may be approximate on GPUs (2 ulp): always allow two roundings.
            return fl(x.dt, r, prop, 2 * UNIT_ROUNDOFF[x.dt] * np.abs(r) + TINY[x.dt])
    raise ValueError(f"float op {op}")


def int_bin(op: str, x: Val, y: Val) -> Val:
    a, b, dt = x.a, y.a, x.dt
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    if op in ("+", "-"):
        overflow_guard(dt, np.abs(fa) + np.abs(fb), op)
        return int_val(dt, a + b if op == "+" else a - b, op)
    if op == "*":
        overflow_guard(dt, fa * fb, op)
        return int_val(dt, a * b, op)
    if op in ("//", "%"):
        if np.any(b == 0):
            raise UndefinedBehaviour("division by zero", f"integer {op}")
        q = np.abs(a) // np.abs(b) * np.sign(a) * np.sign(b)
        if op == "//":
            return int_val(dt, q, op)
        return int_val(dt, a - b * q, op)
    if op in ("&", "|", "^"):
        f = {"&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor}[op]
        return Val(f(a, b), dt)
    if op in ("<<", ">>"):
        bits = int(dt[3:])
        if np.any(b < 0) or np.any(b >= bits):
            raise UndefinedBehaviour("shift out of range", f"{op} by {b.min()}..{b.max()}")
        if op == ">>":
            return Val(a >> b, dt)
        overflow_guard(dt, fa * np.exp2(fb), op)
        return int_val(dt, a * (np.int64(1) << b), op)
    raise ValueError(f"int op {op}")
