"""tl.assume(cond): a scalar fact the optimiser may use (llvm.assume); generated only where it is true.

A false assumption is undefined behaviour, so the reference refuses one. `tl.assume` first shipped
in triton 3.2.0 (all triton-ascend releases are 3.2-based); the interpreter checks it with an
`assert`, so only scalar conditions are generated.

Generation (statement production `assume`): facts about the launch values of runtime int
arguments (`n > 0`, `stride >= 1`, ...) and about program ids, stated at the top of the kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.cxlet import static_value
from generators.constructs.examples import unary_case
from generators.semantics import UndefinedBehaviour
from generators.statements import stmt_production, true_compare


def assume(c: S.Expr) -> S.Stmt:
    return {"s": "assume", "c": c}


@register
class Assume(Construct):
    name = "assume"
    node = "assume"
    kind = "stmt"
    fields = {"c": expr_f()}
    features = ("assume",)
    since = {"triton": "3.2.0"}

    def check(self, s: Node, tc: Any) -> None:
        if tc.ty(s["c"]) != S.Ty("int1"):
            raise S.SpecError("tl.assume takes a scalar int1")
        if static_value(s["c"], tc.params) is not None:
            raise S.SpecError("tl.assume of a compile-time constant")

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        r.lines.append(f"{'    ' * indent}tl.assume({r.e(s['c'])})")

    def run(self, s: Node, p: Any, path: str) -> None:
        from generators.constructs.if_stmt import truth

        if not truth(p.expr(s["c"])):
            raise UndefinedBehaviour("false assumption", "tl.assume of a false condition")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("assume")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # dropping it is the statement pass's move

    def example(self) -> Any:
        return unary_case(S.var("x"), pre=[assume(S.bin_(">", S.arg("n"), S.const(0, "int32"))),
                                           assume(S.bin_(">=", S.pid(0), S.const(0, "int32")))],
                          scalars={"n": ("int32", 16)})


# ---- generation ----
@stmt_production("assume", order=45)
def assume_facts(g: Any) -> None:
    """State one to three true facts about runtime int arguments or program ids."""
    if not g.on("assume", 0.08):
        return
    ints = [p for p in g.params if p["kind"] == "scalar" and p["dtype"] == "int32"]
    facts = []
    for _ in range(g.ch.integer(1, 3)):
        if ints and g.ch.coin(0.75):
            p = g.ch.pick(ints)
            facts.append(assume(true_compare(g, S.arg(p["name"]), int(p["value"]))))
        else:
            ax = g.ch.integer(0, 2)
            op, c = g.ch.pick([(">=", 0), ("<", g.grid[ax]), ("<", 4096)])
            facts.append(assume(S.bin_(op, S.pid(ax), S.const(c, "int32"))))
    g.body[0:0] = facts
