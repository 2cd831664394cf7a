"""`name = expr`: binds (or, inside a loop, re-binds with the same type) a variable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, ident_f, register
from generators.constructs.examples import unary_case


@register
class Let(Construct):
    name = "let"
    node = "let"
    kind = "stmt"
    fields = {"name": ident_f(), "e": expr_f()}
    features = ("loop_carried", "ptr_loop_increment")

    def check(self, s: Node, tc: Any) -> None:
        t = tc.ty(s["e"])
        old = tc.env.get(s["name"])
        if s["name"] in tc.params:
            raise S.SpecError(f"{s['name']} shadows a parameter")
        if old is not None and old != t:
            raise S.SpecError(f"{s['name']} changes type {old} -> {t}")
        tc.env[s["name"]] = t

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        r.lines.append(f"{'    ' * indent}{s['name']} = {r.e(s['e'])}")
        r.env[s["name"]] = r.ty(s["e"])

    def run(self, s: Node, p: Any, path: str) -> None:
        p.env[s["name"]] = p.expr(s["e"])

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        t = fw.ty(n["e"])
        if fw.outer is not None and n["name"] in fw.outer:
            fw.found.add("loop_carried")
            if t.ptr:
                fw.found.add("ptr_loop_increment")
        fw.env[n["name"]] = t

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the reducer's inline pass substitutes lets

    def example(self) -> Any:
        return unary_case(S.var("y"), pre=[S.let("y", S.bin_("+", S.var("x"), S.var("x")))])
