"""Which language features a kernel uses, read off its spec.

Features are derived from the spec itself rather than recorded while generating, so they stay
true after the reducer edits a kernel and can be recomputed for any corpus file. They drive
coverage statistics, campaign weights, and triage ("every Ascend crash uses mask_causal").
"""

from __future__ import annotations

from typing import Any

from generators import spec as S

# Every feature the generator can produce; `tritondiff stats --generate N` reports each one.
FEATURES = [
    "tile_1d", "tile_2d", "tile_3d", "expand_dims", "implicit_broadcast", "broadcast_to", "reshape",
    "trans", "pid_offset", "ptr_runtime_stride", "ptr_constexpr_stride", "offs_int32", "offs_int64",
    "offs_floordiv", "offs_mod", "gather", "ptr_loop_increment", "mask_tail_1d", "mask_2d_broadcast",
    "mask_causal", "mask_and", "mask_or", "mask_not", "mask_multirange", "load_other", "masked_store",
    "where", "splat_runtime_scalar", "splat_constexpr", "float_literal", "full", "scalar_scale_acc",
    "int_arith", "float_arith", "compare", "bitwise", "shift", "int_divmod", "minmax", "cast",
    "math_fn", "reduce_sum", "reduce_max", "reduce_min", "argmax", "dot_fp16", "dot_bf16", "dot_fp32",
    "dot_int8", "loop_runtime", "loop_constexpr", "static_range", "loop_carried", "grid_1d", "grid_2d",
    "grid_3d", "tail_block", "bf16_compute", "pid", "int_literal",
    "dtype_fp32", "dtype_fp16", "dtype_bf16", "dtype_int8", "dtype_int16", "dtype_int32", "dtype_int64",
]


class _Walker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.params = S.params_by_name(spec)
        self.env: dict[str, S.Ty] = {}
        self.found: set[str] = set()

    def ty(self, e: S.Expr) -> S.Ty:
        return S.typeof(e, self.env, self.params)

    def scalar_kind(self, e: S.Expr) -> str | None:
        if e["e"] == "arg" and self.params[e["name"]]["kind"] in ("scalar", "constexpr"):
            return self.params[e["name"]]["kind"]
        if e["e"] == "const":
            return "const"
        return None

    def expr(self, e: S.Expr, in_offset: bool = False) -> None:
        k = e["e"]
        f = self.found
        t = self.ty(e)
        if not t.ptr and t.dtype in S.FLOAT_DTYPES + S.INT_DTYPES:
            f.add(f"dtype_{t.dtype}")
        if k in ("bin", "call", "reduce", "dot", "where", "un") and t.dtype == "bf16" or (
                k == "bin" and e["op"] in S.CMP_OPS and self.ty(e["a"]).dtype == "bf16") or (
                k == "cast" and "bf16" in (t.dtype, self.ty(e["x"]).dtype)
                and {t.dtype, self.ty(e["x"]).dtype} - {"bf16", "fp32", "fp16"}) or (
                k == "dot" and self.ty(e["a"]).dtype == "bf16"):
            f.add("bf16_compute")  # beyond load/store and float casts: the interpreter lacks it
        if k == "bin":
            a, b = self.ty(e["a"]), self.ty(e["b"])
            op = e["op"]
            if a.ptr:
                f.add("offs_int64" if b.dtype == "int64" else "offs_int32")
                self.offset(e["b"])
            elif op in S.CMP_OPS:
                f.add("compare")
                if len(a.shape) == 2 and len(b.shape) == 2 and a.shape != b.shape:
                    f.add("mask_causal" if op in ("<", "<=", ">", ">=") else "mask_2d_broadcast")
            elif a.dtype == "int1":
                f.add({"&": "mask_and", "|": "mask_or", "^": "mask_and"}[op])
                if len(t.shape) >= 2 and a.shape != b.shape:
                    f.add("mask_2d_broadcast")
                if op == "|" and all(x["e"] == "bin" and x["op"] == "&" for x in (e["a"], e["b"])):
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
            for side, other in ((e["a"], b), (e["b"], a)):
                sk = self.scalar_kind(side)
                if sk and other.shape:
                    f.add({"scalar": "splat_runtime_scalar", "constexpr": "splat_constexpr",
                           "const": "float_literal" if t.is_float else "int_literal"}[sk])
                    if op == "*" and t.is_float and sk in ("scalar", "constexpr") and not in_offset:
                        f.add("scalar_scale_acc")
        elif k == "un" and e["op"] == "~" and t.dtype == "int1":
            f.add("mask_not")
        elif k == "call":
            f.add("minmax" if e["fn"] in ("maximum", "minimum") else "math_fn")
        elif k == "where":
            f.add("where")
        elif k == "cast":
            f.add("cast")
        elif k == "expand":
            f.add("expand_dims")
        elif k == "bcast":
            f.add("broadcast_to")
        elif k in ("reshape", "trans"):
            f.add(k)
        elif k == "full":
            f.add("full")
        elif k == "pid":
            f.add("pid_offset" if in_offset else "pid")
        elif k == "reduce":
            f.add("argmax" if e["fn"] == "argmax" else f"reduce_{e['fn']}")
        elif k == "dot":
            f.add(f"dot_{self.ty(e['a']).dtype}")
        elif k == "load":
            p = self.ty(e["ptr"])
            if len(p.shape) in (1, 2, 3):
                f.add(f"tile_{len(p.shape)}d")
            if e.get("mask") is not None:
                m = self.ty(e["mask"])
                f.add("mask_tail_1d" if len(m.shape) <= 1 else "mask_2d_broadcast")
            if e.get("other") is not None:
                f.add("load_other")
        for key in ("a", "b", "x", "c", "acc", "ptr", "mask", "other"):
            sub = e.get(key)
            if isinstance(sub, dict):
                self.expr(sub, in_offset)
        for sub in e.get("args", []):
            self.expr(sub, in_offset)

    def offset(self, off: S.Expr) -> None:
        """Features of a pointer offset expression (strides, //, %, gathers, program ids)."""
        for n in S.walk(off):
            if n.get("e") == "bin" and n["op"] == "//":
                self.found.add("offs_floordiv")
            if n.get("e") == "bin" and n["op"] == "%":
                self.found.add("offs_mod")
            if n.get("e") == "load":
                self.found.add("gather")
            if n.get("e") == "pid":
                self.found.add("pid_offset")
            if n.get("e") == "bin" and n["op"] == "*":
                for side in (n["a"], n["b"]):
                    sk = self.scalar_kind(side)
                    if sk == "scalar":
                        self.found.add("ptr_runtime_stride")
                    elif sk == "constexpr":
                        self.found.add("ptr_constexpr_stride")
        self.expr(off, in_offset=True)

    def block(self, body: list[S.Stmt], outer: set[str] | None = None) -> None:
        for s in body:
            k = s["s"]
            if k == "let":
                self.expr(s["e"])
                t = self.ty(s["e"])
                if outer is not None and s["name"] in outer:
                    self.found.add("loop_carried")
                    if t.ptr:
                        self.found.add("ptr_loop_increment")
                self.env[s["name"]] = t
            elif k == "store":
                self.expr(s["ptr"])
                self.expr(s["val"])
                p = self.ty(s["ptr"])
                if len(p.shape) in (1, 2, 3):
                    self.found.add(f"tile_{len(p.shape)}d")
                if s.get("mask") is not None:
                    self.expr(s["mask"])
                    self.found.add("masked_store")
            elif k == "for":
                hi = s["hi"]
                if s["kind"] == "static_range":
                    self.found.add("static_range")
                elif hi["e"] == "arg" and self.params[hi["name"]]["kind"] == "scalar":
                    self.found.add("loop_runtime")
                else:
                    self.found.add("loop_constexpr")
                saved = dict(self.env)
                self.env[s["var"]] = S.Ty("int32")
                self.block(s["body"], set(saved))
                self.env = {n: t for n, t in self.env.items() if n in saved}


def features_of(spec: dict[str, Any]) -> list[str]:
    """Sorted features used by `spec` (see FEATURES), plus generator tags such as tail_block."""
    w = _Walker(spec)
    w.block(spec["body"])
    _pointer_vars(spec, w.found)
    used = sum(1 for g in spec["grid"] if g > 1)
    w.found.add(f"grid_{max(1, used)}d")
    for tag in spec.get("tags", []):
        if tag in FEATURES:
            w.found.add(tag)
    return sorted(w.found)


def _pointer_vars(spec: dict[str, Any], found: set[str]) -> None:
    """Offsets often reach pointers through let-bound variables: follow them one level."""
    lets = {s["name"]: s["e"] for s in S.walk(spec["body"]) if s.get("s") == "let"}
    for n in S.walk(spec["body"]):
        if n.get("e") == "bin" and n["op"] == "+" and n["a"].get("e") == "arg":
            for v in S.walk(n["b"]):
                if v.get("e") == "var" and v["name"] in lets:
                    for m in S.walk(lets[v["name"]]):
                        if m.get("e") == "bin" and m["op"] == "//":
                            found.add("offs_floordiv")
                        if m.get("e") == "bin" and m["op"] == "%":
                            found.add("offs_mod")
                        if m.get("e") == "load":
                            found.add("gather")
                        if m.get("e") == "pid":
                            found.add("pid_offset")
