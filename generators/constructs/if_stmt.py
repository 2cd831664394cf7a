"""`if c:` / `elif` / `else` on a scalar condition: a runtime scf.if or a branch folded at compile time.

Triton's rules, which the type rule keeps: the condition is a scalar (an int1, or an int taken as
`!= 0`). A runtime condition compiles both branches into one scf.if (or, when a branch returns,
into blocks and branches) whose results are the names defined before it that a branch re-binds,
plus the names both branches define, with one type in each; a name first defined in only one
branch is not visible after the `if`. A condition made only of literals and constexprs is folded
by the frontend, which then compiles the taken branch alone; our type rule still checks the dead
one. The reference runs only the taken branch, so a division by zero in a branch that is never
taken (`if d != 0: y = x // d`) is not undefined behaviour: a compiler that speculates it is wrong.
An `else` block holding exactly one `if` renders as `elif`.

Generation (statement productions): `guard` wraps the tail of any kernel (the store and what
feeds it) in an `if` that is true on the launch values, depends on the program id or on loaded
data, or is a constexpr switch, with `else`/`elif` branches that are dead (dividing by a zero
argument) or compute a negated variant; `loop_if` puts part of a loop's accumulation under an
`if` on the loop variable, with `acc - term` in the `else`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, block_f, expr_f, register
from generators.constructs.cxlet import static_value
from generators.constructs.examples import make_case
from generators.statements import (
    forbid_in,
    has_store,
    hoist_cxlets,
    loops_of,
    map_stores,
    runtime_int,
    stmt_production,
    store_dtype,
    top_types,
    true_compare,
    uses_var,
)

COND_DTYPES = ("int1",) + S.INT_DTYPES
DIV_OPS = ("//", "%", "/")


def if_(c: S.Expr, then: list[S.Stmt], els: list[S.Stmt] | None = None) -> S.Stmt:
    return {"s": "if", "c": c, "then": then, "else": els or []}


def truth(v: Any) -> bool:
    a = np.asarray(v.a)
    if a.size != 1:
        raise S.SpecError("a branch condition is a scalar")
    return bool(a.reshape(()).item() != 0)


def known_truth(c: S.Expr, params: dict[str, dict[str, Any]]) -> Any:
    """The condition's value when the launch values decide it (constexprs, scalar arguments), or
    when value ranges do (`program_id < 0`, `num_programs < 1` never hold); else None."""
    v = static_value(c, params, runtime=True)
    if v is not None:
        return v
    if c.get("e") == "bin" and c["op"] == "<" and c["b"].get("e") == "const":
        lo = {"pid": 0, "nprog": 1}.get(c["a"].get("e"))
        if lo is not None and c["b"]["v"] <= lo:
            return False
    return None


def check_cond(c: S.Ty, what: str) -> None:
    if c.ptr or c.shape or c.dtype not in COND_DTYPES:
        raise S.SpecError(f"{what} condition must be an int1 or int scalar, not {c}")


@register
class IfStmt(Construct):
    name = "if"
    node = "if"
    kind = "stmt"
    fields = {"c": expr_f(), "then": block_f(), "else": block_f()}
    features = ("if_runtime", "if_constexpr", "if_else", "elif", "if_in_loop", "if_divergent", "if_dead_div")
    knobs = ("guard_if", "loop_if")

    def check(self, s: Node, tc: Any) -> None:
        check_cond(tc.ty(s["c"]), "an if")
        for key in ("then", "else"):
            forbid_in(s[key], ("cxlet",), "a branch")
        t, e = tc.nested(), tc.nested()
        t.block(s["then"])
        e.block(s["else"])
        for name in sorted(t.env.keys() & e.env.keys() - tc.env.keys()):
            if t.env[name] != e.env[name]:
                raise S.SpecError(f"{name} is {t.env[name]} in one branch and {e.env[name]} in the other")
            tc.env[name] = t.env[name]

    def render_stmt(self, s: Node, r: Any, indent: int, keyword: str = "if") -> None:
        pad = "    " * indent
        r.lines.append(f"{pad}{keyword} {r.e(s['c'])}:")
        saved = dict(r.env)
        r.block(s["then"], indent + 1)
        t_env, r.env = r.env, dict(saved)
        els = s["else"]
        if len(els) == 1 and els[0]["s"] == "if":
            self.render_stmt(els[0], r, indent, "elif")
        elif els:
            r.lines.append(f"{pad}else:")
            r.block(els, indent + 1)
        e_env = r.env
        r.env = {**saved, **{n: t_env[n] for n in t_env.keys() & e_env.keys() - saved.keys()}}

    def run(self, s: Node, p: Any, path: str) -> None:
        if truth(p.expr(s["c"])):
            p.run(s["then"], f"{path}t")
        else:
            p.run(s["else"], f"{path}e")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        f = fw.found
        compile_time = static_value(n["c"], fw.params) is not None
        f.add("if_constexpr" if compile_time else "if_runtime")
        if n["else"]:
            f.add("elif" if len(n["else"]) == 1 and n["else"][0]["s"] == "if" else "if_else")
        if fw.outer is not None:
            f.add("if_in_loop")
        if any(x.get("e") in ("pid", "load") for x in S.walk(n["c"])):
            f.add("if_divergent")
        known = known_truth(n["c"], fw.params)
        if known is not None:
            dead = n["else"] if known else n["then"]
            if any(x.get("e") == "bin" and x.get("op") in DIV_OPS for x in S.walk(dead)):
                f.add("if_dead_div")
        saved = dict(fw.env)
        depth = getattr(fw, "if_depth", 0)
        fw.if_depth = depth + 1
        fw.block(n["then"])
        t_env, fw.env = fw.env, dict(saved)
        fw.block(n["else"])
        e_env = fw.env
        fw.env = {**saved, **{k: t_env[k] for k in t_env.keys() & e_env.keys() - saved.keys()}}
        fw.if_depth = depth

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["then"], "then branch only"
        if n["else"]:
            yield n["else"], "else branch only"
            yield {**n, "else": []}, "drop else"

    def example(self) -> Any:
        out = S.bin_("+", S.arg("o_ptr"), S.var("offs"))
        guard = if_(S.bin_("!=", S.arg("d"), S.const(0, "int32")), [S.store(out, S.bin_("//", S.var("x"), S.arg("d")))],
                    [if_(S.bin_(">", S.arg("MODE"), S.const(0, "int32")), [S.store(out, S.var("x"))],
                         [S.store(out, S.un("-", S.var("x")))])])
        body = [S.let("offs", S.arange(16)), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")))), guard]
        return make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)},
                         scalars={"d": ("int32", 0)}, constexprs={"MODE": 1})


# ---- generation ----
def negated(g: Any, stmts: list[S.Stmt]) -> list[S.Stmt]:
    """The statements with every stored value negated (exact, and in range: the generator keeps
    values well inside their dtype); bf16 stores stay as they are (negation would compute bf16)."""
    def neg(st: S.Stmt) -> S.Stmt:
        return st if store_dtype(g, st) == "bf16" else {**st, "val": S.un("-", st["val"])}
    return map_stores(stmts, neg)


def dead_division(g: Any, stmts: list[S.Stmt], zero: S.Expr) -> list[S.Stmt]:
    """The statements with every stored value divided by `zero` (an int32 that is 0): a branch that
    must never run, and that a compiler must not speculate."""
    def div(st: S.Stmt) -> S.Stmt:
        dt = store_dtype(g, st) or "int32"
        if dt in ("int32", "int64"):
            return {**st, "val": S.bin_("//", st["val"], zero)}
        if dt in S.FP8_DTYPES:  # fp8 converts to and from floats only
            q = S.bin_("//", S.cast(S.cast(st["val"], "fp32"), "int32"), zero)
            return {**st, "val": S.cast(S.cast(q, "fp32"), dt)}
        return {**st, "val": S.cast(S.bin_("//", S.cast(st["val"], "int32"), zero), dt)}
    return map_stores(stmts, div)


def zero_of(g: Any, compile_time: bool) -> S.Expr:
    if compile_time:
        return g.constexpr("ZERO", 0) if g.ch.coin(0.6) else S.const(0, "int32")
    return g.scalar_param("zero", 0, "int32")


def _program_cond(g: Any) -> tuple[S.Expr, int, int]:
    """A condition on the program id of an axis (or on data loaded per program): (expr, m, axis)."""
    axes = [a for a in range(3) if g.grid[a] > 1] or [0]
    ax = g.ch.pick(axes)
    if g.ch.coin(0.3):
        n = g.grid[ax]
        flags = np.array([g.ch.pick([-1, 0, 1, 2]) for _ in range(n)], dtype=np.int32)
        fp = g.buffer("flag_ptr", "int32", flags, "in")
        idx = S.pid(ax) if n > 1 or g.ch.coin(0.5) else None
        ld = S.load(S.bin_("+", fp, idx) if idx is not None else fp)
        return S.bin_(">", ld, S.const(0, "int32")), 2, ax
    m = g.ch.integer(2, 3)
    return S.bin_("==", S.bin_("%", S.pid(ax), S.const(m, "int32")), S.const(0, "int32")), m, ax


def build_guard(g: Any, kind: str, tail: list[S.Stmt]) -> S.Stmt:
    """An `if` around `tail` (statements that store), of the given kind."""
    if kind == "runtime":  # true on the launch values; else/elif branches dead
        x, v = runtime_int(g, "flag", -3, 6)
        cond = true_compare(g, x, v)
        shape = g.ch.weighted({"bare": 1.0, "dead": 1.2 * g.weight("if_dead_div"), "elif": 0.6 * g.weight("elif")})
        if shape == "bare":
            return if_(cond, tail)
        zero = zero_of(g, False)
        if shape == "dead":
            return if_(cond, tail, dead_division(g, tail, zero))
        y, w = runtime_int(g, "sel", -3, 6)
        return if_(cond, tail, [if_(true_compare(g, y, w), dead_division(g, tail, zero), negated(g, tail))])
    if kind == "guarded_div":  # `if d != 0: x // d else: x` with d == 0, or a condition only ranges decide
        form = g.ch.pick(["arg", "arg", "pid", "nprog"])
        if form == "arg":
            zero = zero_of(g, False)
            cond = S.bin_(g.ch.pick(["!=", ">", "<"]), zero, S.const(0, "int32"))
        else:
            from generators.constructs.nprog import nprog

            zero = zero_of(g, g.ch.coin(0.5))
            ax = g.ch.integer(0, 2)
            cond = (S.bin_("<", S.pid(ax), S.const(0, "int32")) if form == "pid"
                    else S.bin_("<", nprog(ax), S.const(1, "int32")))
        return if_(cond, dead_division(g, tail, zero), tail)
    if kind == "divergent":  # programs take different branches
        cond, m, ax = _program_cond(g)
        if m == 3 and cond["e"] == "bin" and cond["a"]["e"] == "bin" and g.on("elif", 0.7):
            second = S.bin_("==", S.bin_("%", S.pid(ax), S.const(3, "int32")), S.const(1, "int32"))
            return if_(cond, tail, [if_(second, negated(g, tail), tail)])
        return if_(cond, tail, negated(g, tail) if g.ch.coin(0.8) else [])
    # constexpr switch: exactly one branch is compiled; the others divide by a constexpr zero
    mode = g.ch.integer(0, 2)
    m = g.constexpr("MODE", mode)
    zero = zero_of(g, True)
    live = tail if g.ch.coin(0.6) else negated(g, tail)
    if g.ch.coin(0.5):
        arms = [live if k == mode else dead_division(g, tail, zero) for k in range(3)]
        return if_(S.bin_("==", m, S.const(0, "int32")), arms[0],
                   [if_(S.bin_("==", m, S.const(1, "int32")), arms[1], arms[2])])
    taken = g.ch.coin(0.5)
    cond = true_compare(g, m, mode, want=taken)
    dead = dead_division(g, tail, zero)
    return if_(cond, live, dead) if taken else if_(cond, dead, live)


@stmt_production("guard", order=50)
def guard(g: Any) -> None:
    """Wrap the tail of the kernel (its last store and a few statements before it) in an `if`."""
    if not g.on("guard_if", 0.3):
        return
    for _ in range(2 if g.ch.coin(0.2) else 1):  # sometimes a second, nested guard
        body = g.body
        while True:
            stores = [i for i, s in enumerate(body) if has_store([s])]
            if not stores:
                return
            last = stores[-1]
            # inside a loop (a persistent while, a K loop) half of the time: an if in the loop body
            if body[last]["s"] not in ("for", "while") or not g.ch.coin(0.5):
                break
            body = body[last]["body"]
        start = max(0, last - g.ch.pick([0, 0, 1, 2, 3]))
        kinds = {"runtime": 1.0 * g.weight("if_runtime"), "guarded_div": 0.6 * g.weight("if_dead_div"),
                 "divergent": 1.0 * g.weight("if_divergent"), "constexpr": 1.0 * g.weight("if_constexpr")}
        if not any(kinds.values()):
            return
        # wrap up to the last store: what follows it in a loop body (the loop's own increments)
        # runs on every trip, and must not read a name the branch binds
        bound = {n for s in body[start:last + 1] for n in ([s["name"]] if s["s"] == "let" else s.get("names", []))}
        if any(uses_var(body[last + 1:], n) for n in bound):
            return
        kind = g.ch.weighted(kinds)
        cx, tail = hoist_cxlets(body[start:last + 1])
        body[start:last + 1] = cx + [build_guard(g, kind, tail)]


def _accumulation(s: S.Stmt, local: set[str]) -> S.Expr | None:
    """For `acc = acc + T` or `acc = tl.dot(a, b, acc)` on a loop-carried acc: what undoes it."""
    if s["s"] != "let" or s["name"] in local:
        return None
    e, acc = s["e"], S.var(s["name"])
    if e["e"] == "bin" and e["op"] == "+" and e["a"] == acc:
        return S.bin_("-", acc, e["b"])
    if e["e"] == "dot" and e.get("acc") == acc:
        return S.bin_("-", acc, S.dot(e["a"], e["b"], None, e.get("prec")))
    return None


@stmt_production("loop_if", order=15)
def loop_if(g: Any) -> None:
    """Put a loop's accumulation step under an `if` on the loop variable (else: subtract)."""
    types = top_types(g)
    for blk, i in list(loops_of(g.body)):
        loop = blk[i]
        if not g.on("loop_if", 0.25):
            continue
        local: set[str] = set()  # names first bound in this body (not loop-carried)
        for j, s in enumerate(loop["body"]):
            undo = _accumulation(s, local)
            t = types.get(s.get("name", ""))
            if undo is None or t is None or t.ptr:
                if s["s"] == "let":
                    local.add(s["name"])
                continue
            var = S.var(loop["var"])
            how = g.ch.pick(["mod", "mod", "lt", "runtime"])
            if how == "mod":
                m = g.ch.integer(2, 3)
                cond = S.bin_("==", S.bin_("%", var, S.const(m, "int32")), S.const(g.ch.integer(0, m - 1), "int32"))
            elif how == "lt":
                cond = S.bin_(g.ch.pick(["<", ">=", "!="]), var, S.const(g.ch.integer(0, 3), "int32"))
            else:
                x, v = runtime_int(g, "flag", -3, 6)
                cond = true_compare(g, x, v, want=g.ch.coin(0.7))
            els = [S.let(s["name"], undo)] if g.ch.coin(0.7) else []
            loop["body"][j] = if_(cond, [s], els)
            break
