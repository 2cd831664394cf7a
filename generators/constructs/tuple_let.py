"""`a, b = b, a + t`: simultaneous assignment, every right-hand side read before any name is bound.

In a loop this is the lost-copy / swap problem of leaving SSA: the loop-carried values are
permuted on every trip, and a lowering that copies them one after the other computes the wrong
thing. Triton's frontend binds the tuple element-wise after evaluating it; each name keeps its
type (a loop-carried one included).

Generation (statement production `tuple_acc`): a loop's accumulation `acc = acc + t` (or
`acc = tl.dot(a, b, acc)`) becomes two or three accumulators rotated by one tuple assignment,
summed after the loop — the same total, split across loop-carried values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, exprs_f, idents_f, register, valid_ident
from generators.constructs.examples import unary_case
from generators.statements import loops_of, stmt_production, top_types


def tlet(names: list[str], es: list[S.Expr]) -> S.Stmt:
    return {"s": "tlet", "names": list(names), "es": list(es)}


def _names(s: Node) -> list[str]:
    names = s.get("names")
    if (not isinstance(names, list) or not 2 <= len(names) <= 4 or len(set(names)) != len(names)
            or not all(valid_ident(n) for n in names)):
        raise S.SpecError("a tuple assignment binds 2-4 distinct names")
    if not isinstance(s.get("es"), list) or len(s["es"]) != len(names):
        raise S.SpecError("a tuple assignment has one value per name")
    return names


@register
class TupleLet(Construct):
    name = "tlet"
    node = "tlet"
    kind = "stmt"
    fields = {"names": idents_f(2, 4), "es": exprs_f(2, 4)}
    features = ("tuple_assign", "loop_carried_tuple")
    knobs = ("tuple_acc",)

    def check(self, s: Node, tc: Any) -> None:
        names = _names(s)
        tys = [tc.ty(e) for e in s["es"]]
        for n, t in zip(names, tys):
            if n in tc.params:
                raise S.SpecError(f"{n} shadows a parameter")
            old = tc.env.get(n)
            if old is not None and old != t:
                raise S.SpecError(f"{n} changes type {old} -> {t}")
        tc.env.update(zip(names, tys))

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        tys = [r.ty(e) for e in s["es"]]
        r.lines.append(f"{'    ' * indent}{', '.join(s['names'])} = {', '.join(r.e(e) for e in s['es'])}")
        r.env.update(zip(s["names"], tys))

    def run(self, s: Node, p: Any, path: str) -> None:
        vals = [p.expr(e) for e in s["es"]]
        p.env.update(zip(s["names"], vals))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("tuple_assign")
        if fw.outer is not None and any(x in fw.outer for x in n["names"]):
            fw.found.add("loop_carried_tuple")
            fw.found.add("loop_carried")
        fw.env.update(zip(n["names"], [fw.ty(e) for e in n["es"]]))

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield [S.let(x, e) for x, e in zip(n["names"], n["es"])], "one assignment at a time"

    def example(self) -> Any:
        a, b = S.var("a"), S.var("b")
        loop = S.for_("i", S.const(0, "int32"), S.const(4, "int32"), [tlet(["a", "b"], [b, S.bin_("+", a, b)])])
        return unary_case(a, pre=[S.let("a", S.var("x")), S.let("b", S.full([16], 1.0, "fp32")), loop])


# ---- generation ----
@stmt_production("tuple_acc", order=10)
def tuple_acc(g: Any) -> None:
    """Split a loop's accumulator over 2-3 loop-carried values rotated by a tuple assignment."""
    types = top_types(g)
    for blk, idx in reversed(list(loops_of(g.body))):  # later loops first: indices stay valid
        loop = blk[idx]
        if not g.on("tuple_acc", 0.15):
            continue
        for j, s in enumerate(loop["body"]):
            if s["s"] != "let":
                continue
            acc, e = S.var(s["name"]), s["e"]
            additive = e["e"] == "bin" and e["op"] == "+" and e["a"] == acc or e["e"] == "dot" and e.get("acc") == acc
            t = types.get(s["name"])
            if not additive or t is None or t.ptr or not t.shape:
                continue
            k = g.ch.pick([2, 2, 3])
            extra = [g.fresh(f"{s['name']}_b") for _ in range(k - 1)]
            zero = S.full(list(t.shape), 0, t.dtype)
            names = [s["name"], *extra]
            # a, b[, c] = b[, c], a + t : the new term always lands on the first name's old value
            loop["body"][j] = tlet(names, [S.var(x) for x in names[1:]] + [e])
            blk[idx:idx + 1] = [S.let(x, zero) for x in extra] + [loop] + [
                S.let(s["name"], S.bin_("+", acc, S.var(x))) for x in extra]
            break
