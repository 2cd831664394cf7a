"""Statement productions: rewrites of the kernel body a family built (wrap, nest, outline, hint).

Why rewrites rather than more families: control flow, helper functions, hints and folded
constants are shapes *around* code. Applied after any family they reach every kernel shape
(elementwise, reductions, dot K-loops, gathers) without a family of their own, and without
diluting the families' own features. A production belongs to the construct module whose node
it writes and registers here with an `order` (a persistent loop is built before early returns
are placed outside it; helpers are outlined after the control flow around them exists).

Every rewrite keeps the kernel UB-free by construction: a wrapped branch is either taken on the
launch values (and computes what the family built) or dead (never evaluated by the reference),
a loop visits what the family visited, a helper computes the expression it replaced. The helpers
below walk statement blocks and expressions through the construct registry, so they see every
construct's fields without knowing them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from generators import spec as S
from generators.constructs import expr_construct, stmt_construct


@dataclass(frozen=True)
class StmtProduction:
    """A rewrite of the generator's body; `apply(g)` edits g.body (and params, grid) in place."""

    name: str
    order: int
    apply: Callable[[Any], None]


STMT_PRODUCTIONS: dict[str, StmtProduction] = {}


def stmt_production(name: str, order: int) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register `apply(g)` as the statement production `name`, run in ascending `order`."""
    def deco(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        if name in STMT_PRODUCTIONS:
            raise ValueError(f"statement production {name!r} registered twice")
        STMT_PRODUCTIONS[name] = StmtProduction(name, order, fn)
        return fn
    return deco


_STATE = ("body", "params", "args", "buffers", "grid", "tags", "names")


def apply_stmt_productions(g: Any) -> None:
    """Run every statement production on the body the family built, in order.

    A rewrite that leaves the kernel ill-typed (it met a construct whose rules it does not know,
    e.g. a literal a tensor descriptor needs) is undone: productions compose with every family,
    including ones written after them, so the type checker is the last word."""
    def well_typed() -> bool:
        try:
            S.check({"schema": S.SPEC_SCHEMA, "name": "kernel", "params": g.params, "grid": list(g.grid),
                     "body": g.body})
            return True
        except S.SpecError:
            return False

    if not well_typed():  # the family's own defect: case_from_spec reports it as a generator error
        return
    for p in sorted(STMT_PRODUCTIONS.values(), key=lambda p: (p.order, p.name)):
        saved = {k: copy.deepcopy(getattr(g, k)) for k in _STATE if hasattr(g, k)}
        p.apply(g)
        if not well_typed():
            for k, v in saved.items():
                setattr(g, k, v)


# ---- walking bodies ----
def blocks_of(body: list[S.Stmt]) -> Iterator[list[S.Stmt]]:
    """Every statement list in `body`, itself first, then nested blocks (loops, branches)."""
    yield body
    for s in body:
        for _, blk in stmt_construct(s["s"]).blocks(s):
            yield from blocks_of(blk)


def loops_of(body: list[S.Stmt], in_loop: bool = False) -> Iterator[tuple[list[S.Stmt], int]]:
    """(block, index) of every `for` statement, outermost first."""
    for i, s in enumerate(body):
        if s["s"] == "for":
            yield body, i
        for _, blk in stmt_construct(s["s"]).blocks(s):
            yield from loops_of(blk, in_loop or s["s"] in ("for", "while"))


def expr_slots(body: list[S.Stmt]) -> Iterator[tuple[dict[str, Any], Any, S.Stmt]]:
    """(container, key, owning statement) of every expression slot under `body`, pre-order.

    Helper bodies (jitcall) are not entered: they are another scope."""
    for s in body:
        c = stmt_construct(s["s"])
        for key, _ in list(c.children(s)):
            yield from _expr_slots_in(s, key, s)
        for _, blk in c.blocks(s):
            yield from expr_slots(blk)


def _expr_slots_in(parent: Any, key: tuple[Any, ...], stmt: S.Stmt) -> Iterator[tuple[Any, Any, S.Stmt]]:
    holder = parent
    for k in key[:-1]:
        holder = holder[k]
    e = holder[key[-1]]
    yield holder, key[-1], stmt
    for sub, _ in list(expr_construct(e["e"]).children(e)):
        yield from _expr_slots_in(e, sub, stmt)


def ctx_for(g: Any) -> S.TypeCtx:
    """A type context holding the generator's parameters and no variables."""
    return S.TypeCtx({}, S.params_by_name({"params": g.params}))


def uses_var(node: Any, name: str) -> bool:
    return any(n.get("e") == "var" and n.get("name") == name for n in S.walk(node))


def subst_var(node: Any, name: str, value: S.Expr) -> Any:
    """A copy of `node` with every read of variable `name` replaced by `value`."""
    if isinstance(node, list):
        return [subst_var(x, name, value) for x in node]
    if isinstance(node, dict):
        if node.get("e") == "var" and node.get("name") == name:
            return copy.deepcopy(value)
        return {k: subst_var(v, name, value) for k, v in node.items()}
    return node


def hoist_cxlets(stmts: list[S.Stmt]) -> tuple[list[S.Stmt], list[S.Stmt]]:
    """Split top-level constexpr locals (which depend on constexprs only) from the rest, so a
    rewrite can wrap the rest in a loop or branch (a constexpr local is bound once, at top level)."""
    cx = [s for s in stmts if s["s"] == "cxlet"]
    return cx, [s for s in stmts if s["s"] != "cxlet"]


def store_dtype(g: Any, st: S.Stmt) -> str | None:
    """Element dtype of the buffer a store writes (its pointer's base parameter)."""
    params = S.params_by_name({"params": g.params})
    for n in S.walk(st["ptr"]):
        if n.get("e") == "arg" and params.get(n["name"], {}).get("kind") == "ptr":
            return params[n["name"]]["dtype"]
    return None


def map_stores(stmts: list[S.Stmt], fn: Callable[[S.Stmt], S.Stmt]) -> list[S.Stmt]:
    """A deep copy of `stmts` with every store (at any depth) replaced by fn(store)."""
    out = []
    for s in copy.deepcopy(stmts):
        if s["s"] == "store":
            out.append(fn(s))
            continue
        for key, blk in list(stmt_construct(s["s"]).blocks(s)):
            s[key] = map_stores(blk, fn)
        out.append(s)
    return out


def has_store(stmts: list[S.Stmt]) -> bool:
    return any(n.get("s") == "store" for n in S.walk(stmts))


def pid_let(body: list[S.Stmt], axis: int) -> int | None:
    """Index of the top-level `pid_a = tl.program_id(axis)` if it is the only program id of that
    axis in the kernel (so a rewrite may re-bind it)."""
    idx = [i for i, s in enumerate(body) if s["s"] == "let" and s["e"] == S.pid(axis)]
    uses = sum(1 for n in S.walk(body) if n.get("e") == "pid" and n.get("axis") == axis)
    return idx[0] if len(idx) == 1 and uses == 1 else None


def forbid_in(body: list[S.Stmt], tags: tuple[str, ...], where: str) -> None:
    """Refuse statements of kinds `tags` anywhere in `body` (helper bodies are another scope).

    Triton rejects `return` inside `for`/`while`, and binds a constexpr local once per scope."""
    for blk in blocks_of(body):
        for s in blk:
            if isinstance(s, dict) and s.get("s") in tags:
                raise S.SpecError(f"{s['s']} is not allowed inside {where}")


def true_compare(g: Any, x: S.Expr, v: int, want: bool = True) -> S.Expr:
    """`x <op> c` that is `want` when x == v (an int scalar), with a random operator and constant."""
    flip = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
    op = g.ch.pick(list(flip))
    c = v + (g.ch.integer(-3, 3) if op not in ("==", "!=") else g.ch.pick([0, 0, 1, -2]))
    truth = {"<": v < c, "<=": v <= c, ">": v > c, ">=": v >= c, "==": v == c, "!=": v != c}[op]
    if truth != want:
        op = flip[op]
    return S.bin_(op, x, S.const(c, "int32"))


def runtime_int(g: Any, prefix: str, lo: int, hi: int) -> tuple[S.Expr, int]:
    """An int32 runtime scalar: an existing argument of the kernel (half the time) or a new one."""
    have = [p for p in g.params if p["kind"] == "scalar" and p["dtype"] == "int32"]
    if have and g.ch.coin(0.5):
        p = g.ch.pick(have)
        return S.arg(p["name"]), int(p["value"])
    v = g.ch.integer(lo, hi)
    return g.scalar_param(prefix, v, "int32"), v


def top_types(g: Any) -> dict[str, S.Ty]:
    """Types of the top-level variables of the body built so far (type-checks it)."""
    return S.check({"schema": S.SPEC_SCHEMA, "params": g.params, "body": g.body})


class _Found(Exception):
    def __init__(self, env: dict[str, S.Ty]) -> None:
        super().__init__("found")
        self.env = env


def env_before(g: Any, target: S.Stmt) -> dict[str, S.Ty] | None:
    """Types of the variables in scope just before statement `target` (found by identity)."""
    def visit(block: list[S.Stmt], tc: S.TypeCtx) -> None:
        for s in block:
            if s is target:
                raise _Found(dict(tc.env))
            c = stmt_construct(s["s"])
            for _, blk in c.blocks(s):
                inner = tc.nested()
                if c.binds:
                    inner.env[s[c.binds]] = S.Ty("int32")
                visit(blk, inner)
            c.check(s, tc)
    try:
        visit(g.body, ctx_for(g))
    except _Found as f:
        return f.env
    return None


def replace_children(node: S.Expr, fn: Callable[[S.Expr], S.Expr]) -> S.Expr:
    """A shallow copy of expression `node` with each sub-expression replaced by fn(sub)."""
    out = dict(node)
    for key, sub in expr_construct(node["e"]).children(node):
        if len(key) == 1:
            out[key[0]] = fn(sub)
        else:
            if out[key[0]] is node[key[0]]:
                out[key[0]] = list(node[key[0]])
            out[key[0]][key[1]] = fn(sub)
    return out


def expr_nodes(e: S.Expr, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], S.Expr]]:
    """(path, node) of `e` and its sub-expressions (not into helper bodies), pre-order."""
    yield path, e
    for key, sub in expr_construct(e["e"]).children(e):
        yield from expr_nodes(sub, path + key)


def at_path(e: S.Expr, path: tuple[Any, ...], value: S.Expr) -> S.Expr:
    """A copy of `e` with the node at `path` replaced by `value`."""
    if not path:
        return value
    out = dict(e)
    head = path[0]
    if isinstance(e[head], list):
        out[head] = list(e[head])
        out[head][path[1]] = at_path(e[head][path[1]], path[2:], value)
    else:
        out[head] = at_path(e[head], path[1:], value)
    return out
