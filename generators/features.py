"""Which language features a kernel uses, read off its spec.

Features are derived from the spec itself rather than recorded while generating, so they stay
true after the reducer edits a kernel and can be recomputed for any corpus file. They drive
coverage statistics, campaign weights, and triage ("every Ascend crash uses mask_causal").
"""

from __future__ import annotations

from typing import Any

from generators import spec as S
from generators.constructs import ALL, expr_construct, stmt_construct

# Features that belong to no single construct: tile geometry, grid, dtypes, generator tags.
CORE_FEATURES = ["grid_1d", "grid_2d", "grid_3d", "tail_block", "bf16_compute",
                 "dtype_fp32", "dtype_fp16", "dtype_bf16", "dtype_int8", "dtype_int16", "dtype_int32", "dtype_int64",
                 "dtype_uint", "dtype_fp64", "maxnreg", "num_stages"]
# Who cannot run a core feature, with the evidence (constructs carry their own `lacks`).
CORE_LACKS = {
    "bf16_compute": {"interpreter": "the Triton interpreter computes bf16 on its uint16 storage "
                                    "(documented limitation)"},
}


def all_features() -> list[str]:
    """Every feature the generator can produce: the core ones and each construct's."""
    out = list(CORE_FEATURES)
    for c in ALL.values():
        out.extend(f for f in c.features if f not in out)
    return out


class FeatureWalker:
    """Walks a spec; each construct adds its features (find_features), the walker recurses."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.params = S.params_by_name(spec)
        self.env: dict[str, S.Ty] = {}
        self.found: set[str] = set()
        self.outer: set[str] | None = None  # names bound outside the innermost loop
        self.defs: dict[str, list[S.Expr]] = {}  # every expression a name was bound to (dataflow)

    def ty(self, e: S.Expr) -> S.Ty:
        return S.typeof(e, self.env, self.params)

    def scalar_kind(self, e: S.Expr) -> str | None:
        p = self.params.get(e["name"]) if e["e"] == "arg" else None  # None: a helper's own name
        if p is not None and p["kind"] in ("scalar", "constexpr"):
            return p["kind"]
        if e["e"] == "const":
            return "const"
        return None

    def expr(self, e: S.Expr, in_offset: bool = False) -> None:
        c = expr_construct(e["e"])
        t = self.ty(e)
        if not t.ptr and t.dtype in S.FLOAT_DTYPES + S.INT_DTYPES:
            self.found.add(f"dtype_{t.dtype}")
        elif not t.ptr and t.dtype in S.UINT_DTYPES:  # one feature for every unsigned width
            self.found.add("dtype_uint")
        if c.computes and t.dtype == "bf16":
            self.found.add("bf16_compute")  # beyond load/store and float casts: the interpreter lacks it
        c.find_features(e, self, in_offset)
        for _, sub in c.children(e):
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

    def block(self, body: list[S.Stmt]) -> None:
        for s in body:
            c = stmt_construct(s["s"])
            if s["s"] == "let":
                self.defs.setdefault(s["name"], []).append(s["e"])
            for _, sub in c.children(s):
                self.expr(sub)
            c.find_features(s, self, False)

    def loop_body(self, var: str, body: list[S.Stmt]) -> None:
        """Walk a loop body with `var` bound; names bound before the loop are loop-carried."""
        saved, saved_outer = dict(self.env), self.outer
        self.env[var] = S.Ty("int32")
        self.outer = set(saved)
        self.block(body)
        self.env = {n: t for n, t in self.env.items() if n in saved}
        self.outer = saved_outer


def features_of(spec: dict[str, Any]) -> list[str]:
    """Sorted features used by `spec` (see FEATURES), plus generator tags such as tail_block."""
    w = FeatureWalker(spec)
    w.block(spec["body"])
    _pointer_vars(spec, w.found)
    used = sum(1 for g in spec["grid"] if g > 1)
    w.found.add(f"grid_{max(1, used)}d")
    known = set(FEATURES)
    for tag in spec.get("tags", []):
        if tag in known:
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


FEATURES = all_features()
