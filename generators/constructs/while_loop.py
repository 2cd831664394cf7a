"""`while c:` with a runtime trip count: Triton's scf.while (condition region, then body region).

Triton's rules, which the type rule keeps: the condition is a scalar int1 computed from values
before or carried by the loop (a compile-time condition would not lower); names bound before the
loop and re-bound in the body are loop-carried and keep their type; names first bound in the
body are not visible after it; no `return` inside. The reference re-evaluates the condition
before every trip and refuses a loop that runs more than MAX_LOOP_TRIPS times.

Generation (statement productions): `for_to_while` turns a `for` into a counted `while`;
`persistent` turns the program-id axis 0 into a grid-stride loop over tiles
(`while tile < n_tiles: ...; tile += tl.num_programs(0)`) launched on fewer programs;
`strip_mine` nests a loop (`for io: for ii: i = lo + io * B + ii; if i < hi: body`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, block_f, expr_f, register
from generators.constructs.cxlet import static_value
from generators.constructs.examples import unary_case
from generators.semantics import MAX_LOOP_TRIPS, UndefinedBehaviour
from generators.statements import forbid_in, hoist_cxlets, loops_of, pid_let, stmt_production, subst_var


def while_(c: S.Expr, body: list[S.Stmt]) -> S.Stmt:
    return {"s": "while", "c": c, "body": body}


def walk_loop_body(fw: Any, body: list[S.Stmt]) -> None:
    """Feature-walk a loop body: names bound before it are loop-carried, its own names end with it."""
    saved, saved_outer = dict(fw.env), fw.outer
    fw.outer = set(saved)
    fw.block(body)
    fw.env = {n: t for n, t in fw.env.items() if n in saved}
    fw.outer = saved_outer


@register
class WhileLoop(Construct):
    name = "while"
    node = "while"
    kind = "stmt"
    fields = {"c": expr_f(), "body": block_f()}
    features = ("while_loop", "loop_nested")
    knobs = ("for_to_while", "persistent", "strip_mine")

    def check(self, s: Node, tc: Any) -> None:
        c = tc.ty(s["c"])
        if c != S.Ty("int1"):
            raise S.SpecError("a while condition is a scalar int1")
        if static_value(s["c"], tc.params) is not None:
            raise S.SpecError("a while condition must not be a compile-time constant")
        forbid_in(s["body"], ("ret", "cxlet"), "a loop")
        inner = tc.nested()
        inner.block(s["body"])
        for name, t in inner.env.items():
            if name in tc.env and tc.env[name] != t:
                raise S.SpecError(f"loop-carried {name} changes type")

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        r.lines.append(f"{'    ' * indent}while {r.e(s['c'])}:")
        saved = dict(r.env)
        r.block(s["body"], indent + 1)
        r.env = {k: v for k, v in r.env.items() if k in saved}

    def run(self, s: Node, p: Any, path: str) -> None:
        from generators.constructs.if_stmt import truth

        outer = set(p.env)
        trips = 0
        while truth(p.expr(s["c"])):
            trips += 1
            if trips > MAX_LOOP_TRIPS:
                raise UndefinedBehaviour("loop too long", f"more than {MAX_LOOP_TRIPS} trips")
            p.run(s["body"], f"{path}.")
        for name in list(p.env):
            if name not in outer:
                del p.env[name]

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("while_loop")
        if fw.outer is not None:
            fw.found.add("loop_nested")
        walk_loop_body(fw, n["body"])

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["body"], "one trip"

    def example(self) -> Any:
        acc, i = S.var("acc"), S.var("i")
        loop = while_(S.bin_("<", i, S.arg("n_iter")),
                      [S.let("acc", S.bin_("+", acc, S.var("x"))), S.let("i", S.bin_("+", i, S.const(1, "int32")))])
        return unary_case(acc, pre=[S.let("acc", S.full([16], 0.0, "fp32")), S.let("i", S.const(0, "int32")), loop],
                          scalars={"n_iter": ("int32", 3)})


# ---- generation ----
def _counted(s: S.Stmt) -> bool:
    return s["s"] == "for" and s["kind"] == "range"


@stmt_production("strip_mine", order=20)
def strip_mine(g: Any) -> None:
    """`for i in range(lo, hi)` -> `for io in range(A): for ii in range(B): i = lo + io*B + ii;
    if i < hi: body` (A*B >= trips): nested loops with a guard inside the inner one."""
    params = S.params_by_name({"params": g.params})
    for blk, idx in reversed(list(loops_of(g.body))):  # later loops first: indices stay valid
        loop = blk[idx]
        lo, hi = static_value(loop["lo"], params, True), static_value(loop["hi"], params, True)
        if not _counted(loop) or lo is None or hi is None or hi - lo < 2 or not g.on("strip_mine", 0.28):
            continue
        from generators.constructs.if_stmt import if_

        trips = hi - lo
        b = g.ch.integer(1, min(3, trips))
        a = -(-trips // b)
        io, ii = g.fresh("io"), g.fresh("ii")
        outer_hi = g.int_scalar("n_outer", a, "loop_runtime", "loop_constexpr", 1.0)
        i = S.bin_("+", S.bin_("+", loop["lo"], S.bin_("*", S.var(io), S.const(b, "int32"))), S.var(ii))
        inner_body = [S.let(loop["var"], i), if_(S.bin_("<", S.var(loop["var"]), loop["hi"]), loop["body"])]
        inner = S.for_(ii, S.const(0, "int32"), S.const(b, "int32"), inner_body)
        blk[idx] = S.for_(io, S.const(0, "int32"), outer_hi, [inner])


@stmt_production("for_to_while", order=25)
def for_to_while(g: Any) -> None:
    """`for i in range(lo, hi): body` -> `w = lo; while w < hi: body[i:=w]; w = w + 1`."""
    for blk, idx in reversed(list(loops_of(g.body))):  # later loops first: indices stay valid
        loop = blk[idx]
        if not _counted(loop) or not g.on("for_to_while", 0.15):
            continue
        w = g.fresh("w")
        body = subst_var(loop["body"], loop["var"], S.var(w))
        step = S.let(w, S.bin_("+", S.var(w), S.const(1, "int32")))
        cond = S.bin_("<", S.var(w), loop["hi"]) if g.ch.coin(0.7) else S.bin_(">", loop["hi"], S.var(w))
        blk[idx:idx + 1] = [S.let(w, loop["lo"]), while_(cond, body + [step])]


@stmt_production("persistent", order=30)
def persistent(g: Any) -> None:
    """Grid-stride loop over the tiles of axis 0, launched on fewer programs than tiles."""
    nblk = g.grid[0]
    idx = pid_let(g.body, 0)
    if nblk < 2 or idx is None or not g.on("persistent", 0.1):
        return
    others = sum(1 for a in (1, 2) if g.grid[a] > 1)
    if others and nblk < 3:
        return  # keep the grid's rank (grid_2d / grid_3d stay what the family drew)
    g.grid[0] = g.ch.integer(2 if others else 1, nblk - 1)
    tile = g.body[idx]["name"]
    n_tiles = g.int_value("n_tiles", nblk)
    from generators.constructs.nprog import nprog

    step = nprog(0) if g.on("num_programs", 0.9) else g.int_value("n_prog", g.grid[0])
    cx, rest = hoist_cxlets(g.body[idx + 1:])
    loop = while_(S.bin_("<", S.var(tile), n_tiles), rest + [S.let(tile, S.bin_("+", S.var(tile), step))])
    g.body[idx + 1:] = cx + [loop]
