"""tl.dot beyond the 2-D K loop: 3-D batched dots, fp8 and fp64 operands, `out_dtype=tl.float16`,
and the operand shapes of real kernels (transposed operands, tl.zeros/tl.full operands, dots
chained through one accumulator: `acc = tl.dot(a, b, acc); acc2 = tl.dot(acc.to(tl.float16), c)`).

Type rule (Triton's semantic.dot): both operands 2-D or both 3-D with one batch size, (.., M, K) x
(.., K, N), one dtype among fp16/bf16/fp32/int8/fp64 or any two fp8 types; the result is int32
for int8, fp64 for fp64, else `out_dtype` (fp32 by default, fp16 allowed for fp16 and fp8
operands); an accumulator must have the result's dtype and shape. M, N, K >= 16 (K >= 32 for
8-bit operands), what every supported release and target accepts.

Reference: numpy matmul in float64 (int64 for int8). The result is exact when every product and
partial sum is: all terms on a common 2^-j grid and the sum of magnitudes within the
accumulator's significand (fp32: 24 bits; fp16: 11; fp64: 53; fp8 products on Hopper accumulate
in a reduced-precision register: 12 bits assumed); else (K+2) roundings of the accumulator, since
tensor cores reassociate freely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, dtype_f, enum_f, expr_f, register
from generators.constructs.examples import make_case
from generators.numerics import TINY
from generators.semantics import Val, fl, int_val, overflow_guard

IN_DTYPES = ("fp16", "bf16", "fp32", "int8", "fp64") + S.FP8_DTYPES
# Accumulator significand bits and the unit roundoff of its partial sums.
ACC_BITS = {"fp32": 24, "fp16": 11, "fp64": 53, "fp8": 12}


def result_dtype(a: str, out: str | None) -> str:
    if a == "int8":
        return "int32"
    if a == "fp64":
        return "fp64"
    return out or "fp32"


def grid_exact(terms: list[np.ndarray], mag: np.ndarray, bits: int) -> np.ndarray:
    """True where a dot over `terms` (operands and accumulator) is exact in any order: every
    term on a 2^-j grid (j <= 8), so products sit on 2^-2j, and mag / 2^-2j < 2^bits."""
    for j in range(9):
        q = 2.0**j
        if all(np.all(t * q == np.round(t * q)) for t in terms):
            return mag * q * q < 2.0**bits
    return np.zeros(mag.shape, dtype=bool)


def operand_kind(e: Node, fw: Any, seen: frozenset[str] = frozenset(), acc: bool = False) -> set[str]:
    """What a dot operand is made of: 'trans', 'const' (tl.zeros/tl.full; for an accumulator,
    a nonzero tl.full only: tl.zeros is every K loop's start), 'dot' (a chain)."""
    out: set[str] = set()
    for n in S.walk(e):
        tag = n.get("e")
        if tag == "trans":
            out.add("trans")
        elif tag == "full" and not (acc and n["v"] == 0) and (
                n is e or e.get("e") in ("cast", "fpcast") and e["x"] is n):  # tl.full, maybe converted
            out.add("const")
        elif tag in ("dot", "dotx"):
            out.add("dot")
        elif tag == "var" and n["name"] not in seen:
            defs = fw.defs.get(n["name"], [])
            keep = {"dot", "const", "trans"} if len(defs) == 1 else {"dot"}  # a re-bound name is no constant
            for d in defs:
                out |= operand_kind(d, fw, seen | {n["name"]}, acc) & keep
    return out


@register
class DotX(Construct):
    name = "dotx"
    node = "dotx"
    fields = {"a": expr_f(), "b": expr_f(), "acc": expr_f(optional=True),
              "prec": enum_f(("ieee",), optional=True), "out": dtype_f(("fp16", "fp32"), optional=True)}
    features = ("dot_3d", "dot_fp8", "dot_fp64", "dot_out_fp16", "dot_chain", "dot_trans", "dot_const_operand",
                "dot_fp16", "dot_bf16", "dot_fp32", "dot_int8")
    knobs = ("dot_3d", "dot_fp8", "dot_fp64", "dot_out_fp16", "dot_chain", "dot_trans", "dot_const_operand")
    computes = True
    # 3.4's semantic.dot still refuses float64; hip 3.5.1 and 3.6.0 fail in their pass pipeline
    # (3.9.0 compiles it for gfx942; 3.7 and 3.8 not checked)
    feature_since = {"dot_fp64": {"triton": "3.5.0", "hip": "3.9.0"}}
    feature_lacks = {
        "dot_fp64": {"triton-ascend": "triton-ascend is triton-3.2-based: its tl.dot refuses float64"},
        # Triton refuses fp8e4nv below sm_89 ("type fp8e4nv not supported in this architecture").
        "dot_fp8": {"cuda:sm_80": "fp8e4nv needs sm_89 or later",
                    "triton-ascend": "the NPU backend has no fp8 types (see fp8_cast)",
                    # measured on 3.9.0: the interpreter multiplies fp8's uint8 storage bits (a kernel
                    # whose reference gives 35 gives 16800), as it does for bf16
                    "interpreter": "the Triton interpreter computes fp8 dots on their uint8 storage"},
    }

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        a, b = tc.ty(n["a"]), tc.ty(n["b"])
        fp8 = a.dtype in S.FP8_DTYPES and b.dtype in S.FP8_DTYPES
        if a.ptr or b.ptr or not (fp8 or a.dtype == b.dtype) or a.dtype not in IN_DTYPES:
            raise S.SpecError("dot operands: one dtype among fp16/bf16/fp32/int8/fp64, or two fp8 types")
        if len(a.shape) != len(b.shape) or len(a.shape) not in (2, 3) or a.shape[-1] != b.shape[-2] \
                or a.shape[:-2] != b.shape[:-2]:
            raise S.SpecError("dot needs (..,M,K) x (..,K,N) of one rank (2 or 3) and batch")
        kmin = 32 if fp8 or a.dtype == "int8" else 16
        if min(a.shape[-2], b.shape[-1]) < 16 or a.shape[-1] < kmin:
            raise S.SpecError(f"dot shapes must be M, N >= 16 and K >= {kmin}")
        out = n.get("out")
        if out == "fp16" and not (fp8 or a.dtype == "fp16"):
            raise S.SpecError("out_dtype=fp16 is for fp16 and fp8 operands")
        if out is not None and a.dtype in ("int8", "fp64"):
            raise S.SpecError("int8 and fp64 dots have a fixed result dtype")
        rt = result_dtype(a.dtype, out)
        shape = a.shape[:-1] + (b.shape[-1],)
        if n.get("acc") is not None:
            acc = tc.ty(n["acc"])
            if acc.dtype != rt or acc.shape != shape:
                raise S.SpecError("dot accumulator type mismatch")
        if n.get("prec") and a.dtype != "fp32":
            raise S.SpecError("input_precision is for fp32 operands")
        return S.Ty(rt, shape)

    def render(self, n: Node, r: Any) -> str:
        args = [r.e(n["a"]), r.e(n["b"])]
        if n.get("acc") is not None:
            args.append(r.e(n["acc"]))
        if n.get("prec"):
            args.append(f"input_precision={n['prec']!r}")
        dt = r.ty(n["a"]).dtype
        if dt == "int8":
            args.append("out_dtype=tl.int32")
        elif dt == "fp64":  # 3.5/3.6 default out_dtype to fp32 even with an fp64 accumulator
            args.append("out_dtype=tl.float64")
        elif n.get("out"):
            args.append(f"out_dtype={r.tl_dtype(n['out'])}")
        return f"tl.dot({', '.join(args)})"

    def evaluate(self, n: Node, p: Any) -> Val:
        a, b = p.expr(n["a"]), p.expr(n["b"])
        acc = p.expr(n["acc"]) if n.get("acc") is not None else None
        if a.dt == "int8":
            ia, ib = a.a.astype(np.int64), b.a.astype(np.int64)
            overflow_guard("int64", np.matmul(np.abs(ia), np.abs(ib)).astype(np.float64), "dot")
            r = np.matmul(ia, ib) + (acc.a if acc is not None else 0)
            bound = np.matmul(np.abs(ia), np.abs(ib)) + (np.abs(acc.a) if acc is not None else 0)
            int_val("int32", bound, "int8 dot")  # no partial sum leaves int32 either
            return int_val("int32", r, "int8 dot")
        rt = result_dtype(a.dt, n.get("out"))
        k = a.a.shape[-1]
        mag = np.matmul(np.abs(a.a), np.abs(b.a))
        r64 = np.matmul(a.a, b.a)
        prop = np.matmul(a.err, np.abs(b.a) + b.err) + np.matmul(np.abs(a.a), b.err)
        terms = [a.a, b.a]
        if acc is not None:
            r64, mag, prop = r64 + acc.a, mag + np.abs(acc.a), prop + acc.err
            terms.append(acc.a)
        bits = ACC_BITS["fp8" if a.dt in S.FP8_DTYPES and rt == "fp32" else rt]
        exact = (prop == 0) & grid_exact(terms, mag, bits)
        u = 2.0 ** -bits
        slack = np.where(exact, 0.0, (k + 2) * u * (mag + prop) + TINY[rt])
        return fl(rt, r64, prop + slack)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        f = fw.found
        a = fw.ty(n["a"])
        if len(a.shape) == 3:
            f.add("dot_3d")
        f.add("dot_fp8" if a.dtype in S.FP8_DTYPES else f"dot_{a.dtype}")
        if a.dtype == "bf16":
            f.add("bf16_compute")
        if n.get("out") == "fp16":
            f.add("dot_out_fp16")
        kinds = operand_kind(n["a"], fw) | operand_kind(n["b"], fw)
        if n.get("acc") is not None:
            kinds |= operand_kind(n["acc"], fw, acc=True) & {"const"}
        for k, feat in (("trans", "dot_trans"), ("const", "dot_const_operand"), ("dot", "dot_chain")):
            if k in kinds:
                f.add(feat)

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("acc") is not None:
            yield {**n, "acc": None}, "drop accumulator"
        if n.get("out"):
            yield {**n, "out": None}, "default out_dtype"

    def example(self) -> Any:
        """A batched (2, 16, 16) x (2, 16, 16) fp16 dot with fp16 accumulation."""
        b, r = S.arange(2), S.arange(16)
        off = S.bin_("+", S.bin_("*", S.expand(S.expand(b, 1), 2), S.const(256, "int32")),
                     S.bin_("+", S.bin_("*", S.expand(S.expand(r, 0), 2), S.const(16, "int32")),
                            S.expand(S.expand(r, 0), 1)))
        dot = {"e": "dotx", "a": S.var("a"), "b": S.var("b"), "acc": None, "prec": None, "out": "fp16"}
        body = [S.let("off", off),
                S.let("a", S.load(S.bin_("+", S.arg("a_ptr"), S.var("off")))),
                S.let("b", S.load(S.bin_("+", S.arg("b_ptr"), S.var("off")))),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("off")), dot)]
        vals = [float((i * 7) % 5 - 2) for i in range(512)]
        return make_case(body, {"a_ptr": ("fp16", vals), "b_ptr": ("fp16", vals[::-1])}, {"o_ptr": ("fp16", 512)})
