"""tl.dot(a, b[, acc]) of 2-D tiles: fp16/bf16/fp32 (fp32 accumulate) and int8 (int32 accumulate).

The bound of a float dot is exact when every product and partial sum is (inputs on a 2^-8 grid,
magnitudes within fp32's significand), else (K+2) roundings: tensor cores reassociate freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, enum_f, expr_f, register
from generators.constructs.examples import make_case
from generators.numerics import TINY, UNIT_ROUNDOFF
from generators.semantics import Val, exact_dot, fl, int_val, overflow_guard


@register
class Dot(Construct):
    name = "dot"
    node = "dot"
    fields = {"a": expr_f(), "b": expr_f(), "acc": expr_f(optional=True),
              "prec": enum_f(("ieee", "tf32", "tf32x3"), optional=True)}
    features = ("dot_fp16", "dot_bf16", "dot_fp32", "dot_int8")
    knobs = ("dot_fp16", "dot_bf16", "dot_fp32", "dot_int8")
    computes = True

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a, b = tc.ty(n["a"]), tc.ty(n["b"])
        if (len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0] or a.dtype != b.dtype
                or a.ptr or b.ptr or a.dtype not in ("fp16", "bf16", "fp32", "int8")):
            raise S.SpecError("dot needs (M,K)x(K,N) of one dtype")
        if min(a.shape[0], a.shape[1], b.shape[1]) < 16:
            raise S.SpecError("dot shapes must be >= 16")
        out = "int32" if a.dtype == "int8" else "fp32"
        if n.get("acc") is not None:
            acc = tc.ty(n["acc"])
            if acc.dtype != out or acc.shape != (a.shape[0], b.shape[1]):
                raise S.SpecError("dot accumulator type mismatch")
        return S.Ty(out, (a.shape[0], b.shape[1]))

    def render(self, n: Node, r: Any) -> str:
        args = [r.e(n["a"]), r.e(n["b"])]
        if n.get("acc") is not None:
            args.append(r.e(n["acc"]))
        if n.get("prec"):
            args.append(f"input_precision={n['prec']!r}")
        if r.ty(n["a"]).dtype == "int8":
            args.append("out_dtype=tl.int32")
        return f"tl.dot({', '.join(args)})"

    def evaluate(self, n: Node, p: Any) -> Val:
        a, b = p.expr(n["a"]), p.expr(n["b"])
        acc = p.expr(n["acc"]) if n.get("acc") is not None else None
        if a.dt == "int8":
            overflow_guard("int64", np.abs(a.a).astype(np.float64) @ np.abs(b.a).astype(np.float64), "dot")
            r = a.a @ b.a
            if acc is not None:
                r = r + acc.a
            bound = np.abs(a.a) @ np.abs(b.a) + (np.abs(acc.a) if acc is not None else 0)
            int_val("int32", bound, "int8 dot")
            return int_val("int32", r, "int8 dot")
        k = a.a.shape[1]
        mag = np.abs(a.a) @ np.abs(b.a)
        r64 = a.a @ b.a
        prop = a.err @ (np.abs(b.a) + b.err) + np.abs(a.a) @ b.err
        terms = [a.a, b.a]
        if acc is not None:
            r64 = r64 + acc.a
            mag = mag + np.abs(acc.a)
            prop = prop + acc.err
            terms.append(acc.a)
        exact = (prop == 0) & exact_dot(terms, mag)
        slack = np.where(exact, 0.0, (k + 2) * UNIT_ROUNDOFF["fp32"] * (mag + prop) + TINY["fp32"])
        return fl("fp32", r64, prop + slack)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        dt = fw.ty(n["a"]).dtype
        fw.found.add(f"dot_{dt}")
        if dt == "bf16":
            fw.found.add("bf16_compute")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("acc") is not None:
            yield {**n, "acc": None}, "drop accumulator"

    def example(self) -> Any:
        r = S.arange(16)
        off = S.bin_("+", S.bin_("*", S.expand(r, 1), S.const(16, "int32")), S.expand(r, 0))
        body = [S.let("off", off),
                S.let("a", S.load(S.bin_("+", S.arg("a_ptr"), S.var("off")))),
                S.let("b", S.load(S.bin_("+", S.arg("b_ptr"), S.var("off")))),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("off")), S.dot(S.var("a"), S.var("b")))]
        vals = [float((i * 7) % 5 - 2) for i in range(256)]
        return make_case(body, {"a_ptr": ("fp16", vals), "b_ptr": ("fp16", vals[::-1])}, {"o_ptr": ("fp32", 256)})
