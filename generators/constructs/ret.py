"""`return` (a kernel's early exit) and `return value` (a helper function's result).

Triton compiles an `if` that contains a `return` outside any loop into unstructured control flow
(blocks and branches, `visit_if_top_level`) instead of an scf.if, and refuses a `return` inside a
`for` or `while`; the type rule keeps both rules (loops refuse a nested return) and requires
every return of a helper to have one type. In the reference a return ends the program (or the
helper call) it runs in: the outputs that program had not yet written keep their contents.

Generation (statement production `early_return`): `if <cond>: return` right after a program id
is read, with a condition that is never true, true for the last program only, false on the
launch values, or read from data per program.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.semantics import EarlyReturn
from generators.statements import runtime_int, stmt_production, true_compare

HELPER_KEY = "__helper__"  # in a helper's scope: {"ret": Ty | None}, the type its returns agree on


def ret(e: S.Expr | None = None) -> S.Stmt:
    return {"s": "ret", "e": e}


@register
class Return(Construct):
    name = "ret"
    node = "ret"
    kind = "stmt"
    fields = {"e": expr_f(optional=True)}
    features = ("early_return",)

    def check(self, s: Node, tc: Any) -> None:
        helper = tc.params.get(HELPER_KEY)
        if helper is None:
            if s.get("e") is not None:
                raise S.SpecError("a kernel returns no value")
            return
        if s.get("e") is None:
            raise S.SpecError("a helper returns a value")
        t = tc.ty(s["e"])
        if helper["ret"] is None:
            helper["ret"] = t
        elif helper["ret"] != t:
            raise S.SpecError(f"inconsistent return types {helper['ret']} and {t}")

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        pad = "    " * indent
        r.lines.append(f"{pad}return {r.e(s['e'])}" if s.get("e") is not None else f"{pad}return")

    def run(self, s: Node, p: Any, path: str) -> None:
        raise EarlyReturn(p.expr(s["e"]) if s.get("e") is not None else None)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        if getattr(fw, "if_depth", 0) > 0:
            fw.found.add("early_return")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # dropping it is the statement pass's move

    def example(self) -> Any:
        from generators.constructs.if_stmt import if_

        exit_ = if_(S.bin_(">=", S.pid(0), S.arg("n_prog")), [ret()])
        return unary_case(S.var("x"), pre=[exit_], scalars={"n_prog": ("int32", 1)})


# ---- generation ----
@stmt_production("early_return", order=60)
def early_return(g: Any) -> None:
    """`if <cond>: return` after a program id is read (top level only: never inside a loop)."""
    if not g.on("early_return", 0.07):
        return
    from generators.constructs.if_stmt import if_

    body = g.body
    axes = [a for a in range(3) if any(s["s"] == "let" and s["e"] == S.pid(a) for s in body)]
    ax = g.ch.pick(axes) if axes else 0
    pos = next((i + 1 for i, s in enumerate(body) if s["s"] == "let" and s["e"] == S.pid(ax)), 0)
    pid = S.var(body[pos - 1]["name"]) if pos else S.pid(ax)
    n = g.grid[ax]
    kind = g.ch.weighted({"never": 1.0, "last": 1.0 if n > 1 else 0.0, "runtime": 1.0, "loaded": 0.6})
    if kind == "never":
        cond = S.bin_(">=", pid, g.int_value("n_prog", n + g.ch.integer(0, 2)))
    elif kind == "last":
        cond = S.bin_("==", pid, g.int_value("last", n - 1))
    elif kind == "runtime":
        x, v = runtime_int(g, "n_ret", -2, 6)
        cond = true_compare(g, x, v, want=False)
    else:
        flags = np.array([g.ch.pick([0, 0, 1, -1]) for _ in range(n)], dtype=np.int32)
        fp = g.buffer("skip_ptr", "int32", flags, "in")
        cond = S.bin_("<", S.load(S.bin_("+", fp, S.pid(ax))), S.const(0, "int32"))
    body.insert(pos, if_(cond, [ret()]))
