"""`for v in range(lo, hi)` / `tl.static_range(lo, hi)`; bounds are int32 scalars.

Loop-carried variables keep their type across iterations (scf.for's rule), and the loop
variable is scoped to the body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, block_f, enum_f, expr_f, ident_f, register
from generators.constructs.examples import unary_case
from generators.semantics import MAX_LOOP_TRIPS, UndefinedBehaviour, Val
from generators.statements import forbid_in


@register
class ForLoop(Construct):
    name = "for"
    node = "for"
    kind = "stmt"
    fields = {"var": ident_f(), "lo": expr_f(), "hi": expr_f(), "kind": enum_f(("range", "static_range")),
              "body": block_f()}
    features = ("loop_runtime", "loop_constexpr", "static_range", "loop_nested")
    binds = "var"

    def check(self, s: Node, tc: Any) -> None:
        for b in ("lo", "hi"):
            t = tc.ty(s[b])
            if t.shape or t.dtype != "int32" or t.ptr:
                raise S.SpecError("loop bounds are int32 scalars")
        if s["kind"] not in ("range", "static_range"):
            raise S.SpecError(f"unknown loop kind {s['kind']!r}")
        if s["kind"] == "static_range" and any(x["e"] not in ("const", "arg") or x["e"] == "arg" and
                                               tc.params[x["name"]]["kind"] != "constexpr"
                                               for x in (s["lo"], s["hi"])):
            raise S.SpecError("tl.static_range bounds are compile-time constants")
        forbid_in(s["body"], ("ret", "cxlet"), "a loop")
        inner = tc.nested()
        inner.env[s["var"]] = S.Ty("int32")
        inner.block(s["body"])
        for name, t in inner.env.items():
            if name in tc.env and tc.env[name] != t:
                raise S.SpecError(f"loop-carried {name} changes type")

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        pad = "    " * indent
        it = "tl.static_range" if s["kind"] == "static_range" else "range"
        r.lines.append(f"{pad}for {s['var']} in {it}({r.e(s['lo'])}, {r.e(s['hi'])}):")
        saved = dict(r.env)
        r.env[s["var"]] = S.Ty("int32")
        r.block(s["body"], indent + 1)
        r.env = {k: v for k, v in r.env.items() if k in saved}

    def run(self, s: Node, p: Any, path: str) -> None:
        lo = int(p.expr(s["lo"]).a)
        hi = int(p.expr(s["hi"]).a)
        if hi - lo > MAX_LOOP_TRIPS:
            raise UndefinedBehaviour("loop too long", f"{hi - lo} trips")
        outer = set(p.env)
        for it in range(lo, hi):
            p.env[s["var"]] = Val(np.asarray(it, dtype=np.int64), "int32")
            p.run(s["body"], f"{path}.")
        for name in list(p.env):
            if name not in outer:
                del p.env[name]

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        hi = n["hi"]
        if n["kind"] == "static_range":
            fw.found.add("static_range")
        elif hi["e"] == "arg" and fw.params[hi["name"]]["kind"] == "scalar":
            fw.found.add("loop_runtime")
        else:
            fw.found.add("loop_constexpr")
        if fw.outer is not None:
            fw.found.add("loop_nested")
        fw.loop_body(n["var"], n["body"])

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the reducer's loop pass unrolls and shortens loops

    def example(self) -> Any:
        acc = S.var("acc")
        loop = S.for_("i", S.const(0, "int32"), S.arg("n_iter"), [S.let("acc", S.bin_("+", acc, S.var("x")))])
        return unary_case(acc, pre=[S.let("acc", S.full([16], 0.0, "fp32")), loop], scalars={"n_iter": ("int32", 3)})
