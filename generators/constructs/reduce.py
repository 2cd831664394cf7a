"""tl.sum / tl.max / tl.min / tl.argmax / tl.argmin / tl.xor_sum along one axis, keep_dims optional.

Float sums are exact when every partial sum is (inputs on a 2^-8 grid, magnitudes within the
significand), else they carry a reassociation bound of (n+1) roundings; argmax/argmin of floats is UB
for the reference when the runner-up is within the error bound (ties would be a coin flip); on
exact ties both return the smallest index (tie_break_left, every release's default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, bool_f, enum_f, expr_f, int_f, register
from generators.constructs.examples import make_case
from generators.numerics import TINY, UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val, exact_sum, fl, int_val, overflow_guard

FNS = S.REDUCE_FNS + ("argmin", "xor_sum")


@register
class Reduce(Construct):
    name = "reduce"
    node = "reduce"
    fields = {"fn": enum_f(FNS), "x": expr_f(), "axis": int_f(0, 2), "keep_dims": bool_f()}
    features = ("reduce_sum", "reduce_max", "reduce_min", "argmax", "argmin", "xor_sum", "keep_dims", "reduce_size1")
    computes = True

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if n["fn"] not in FNS:
            raise S.SpecError(f"unknown reduction {n['fn']!r}")
        if not 0 <= n["axis"] < len(x.shape):
            raise S.SpecError("reduce axis out of range")
        if n["fn"] == "xor_sum":
            if x.is_float or x.ptr or x.dtype == "int1":
                raise S.SpecError("xor_sum of a non-integer tensor")
        elif x.dtype not in ("fp32", "int32") or x.ptr:
            raise S.SpecError("reductions are generated on fp32/int32 only (xor_sum: any integer width)")
        shape = x.shape[:n["axis"]] + ((1,) if n.get("keep_dims") else ()) + x.shape[n["axis"] + 1:]
        return S.Ty("int32" if n["fn"] in ("argmax", "argmin") else x.dtype, shape)

    def render(self, n: Node, r: Any) -> str:
        kd = ", keep_dims=True" if n.get("keep_dims") else ""
        return f"tl.{n['fn']}({r.e(n['x'])}, axis={n['axis']}{kd})"

    def evaluate(self, n: Node, p: Any) -> Val:
        v = self._reduce(n, p)
        if not n.get("keep_dims"):
            return v
        ax = n["axis"]
        return Val(np.expand_dims(v.a, ax), v.dt, None if v.err is None else np.expand_dims(v.err, ax))

    def _reduce(self, n: Node, p: Any) -> Val:
        x = p.expr(n["x"])
        ax, fn = n["axis"], n["fn"]
        cnt = x.a.shape[ax]
        if fn in ("argmax", "argmin"):
            idx = np.argmax(x.a, axis=ax) if fn == "argmax" else np.argmin(x.a, axis=ax)
            if x.is_float:
                top = np.take_along_axis(x.a, np.expand_dims(idx, ax), ax)
                etop = np.take_along_axis(x.err, np.expand_dims(idx, ax), ax)
                pos = np.arange(cnt).reshape([-1 if i == ax else 1 for i in range(x.a.ndim)])
                tol = x.err + etop
                if np.any((pos != np.expand_dims(idx, ax)) & (tol > 0) & (np.abs(x.a - top) <= tol)):
                    raise UndefinedBehaviour(f"ambiguous {fn}", "runner-up within error bound")
            return Val(idx.astype(np.int64), "int32")
        if fn in ("max", "min"):
            f = np.max if fn == "max" else np.min
            if x.is_float:
                return Val(f(x.a, axis=ax), x.dt, np.max(x.err, axis=ax))
            return Val(f(x.a, axis=ax), x.dt)
        if fn == "xor_sum":
            return Val(np.bitwise_xor.reduce(x.a, axis=ax), x.dt)
        if not x.is_float:
            overflow_guard("int64", np.sum(np.abs(x.a).astype(np.float64), axis=ax), "sum")
            int_val(x.dt, np.sum(np.abs(x.a), axis=ax), "sum of magnitudes")  # no partial overflow
            return int_val(x.dt, np.sum(x.a, axis=ax), "sum")
        s64 = np.sum(x.a, axis=ax)
        mag = np.sum(np.abs(x.a) + x.err, axis=ax)
        prop = np.sum(x.err, axis=ax)
        exact = exact_sum(x.a, ax, x.dt) & (prop == 0)
        slack = np.where(exact, 0.0, (cnt + 1) * UNIT_ROUNDOFF[x.dt] * mag + TINY[x.dt])
        return fl(x.dt, s64, prop + slack)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fn = n["fn"]
        fw.found.add(fn if fn in ("argmax", "argmin", "xor_sum") else f"reduce_{fn}")
        if n.get("keep_dims"):
            fw.found.add("keep_dims")
        if fw.ty(n["x"]).shape[n["axis"]] == 1:
            fw.found.add("reduce_size1")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n["fn"] != "sum":
            yield {**n, "fn": "sum"}, "plain sum"

    def example(self) -> Any:
        body = [S.let("offs", S.arange(16)),
                S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")))),
                S.store(S.arg("o_ptr"), S.reduce_("sum", S.var("x"), 0))]
        return make_case(body, {"x_ptr": ("fp32", [float(i % 5) for i in range(16)])}, {"o_ptr": ("fp32", 1)})
